package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/internal/flock"
	"meridian.dev/meridian/internal/plainfile"
	"meridian.dev/meridian/seal"
)

// Keyring keeps the owner's dataset keys, one 0600 file per dataset in a
// 0700 directory of the owner's state dir. It is never written to a store.
//
// With AgeIdentity set (the text of an age identity file), new keys are
// stored wrapped for that identity (NAME.key.age) and read back with it, so
// the keyring directory alone does not reveal them.
//
// With Witness set, every key read is confirmed against the audit log's
// record of Tenant's key for its dataset (KeyWitness.CheckKey), and a key
// GetOrCreate makes is recorded before it is stored.
type Keyring struct {
	Dir         string
	AgeIdentity string
	Tenant      string
	Witness     *KeyWitness
}

// ErrNoKey means the keyring holds no key for a dataset.
var ErrNoKey = errors.New("no key in the keyring")

func (k Keyring) path(name string) string { return filepath.Join(k.Dir, name+".key") }

// RemoveStaleTemps removes the temporary files that writers of the
// keyring's key files (NAME.key, NAME.key.age), killed before their
// rename, left in its directory, once atomicfile.StaleTempAge old, and
// reports how many it removed. No lock serialises those writers (CLI
// commands, servers sharing the directory), so a fresher one may be being
// filled and stays. Before, each stayed for good. Only regular files named
// as a temporary file of a key file go, never what a link points to, and
// at most atomicfile.MaxTempScan entries are read.
func (k Keyring) RemoveStaleTemps() int {
	return atomicfile.RemoveStaleTemps(k.Dir, isKeyFile, atomicfile.StaleTempAge)
}

// isKeyFile reports whether name is a key file's: NAME.key or
// NAME.key.age of a valid dataset name.
func isKeyFile(name string) bool {
	base, ok := strings.CutSuffix(strings.TrimSuffix(name, ".age"), ".key")
	return ok && CheckName(base) == nil
}

// swept holds when this process last removed each keyring directory's
// stale temporary files (open): at a keyring's first use, and again once
// StaleTempAge has passed, so that a server's every key read does not
// read the directory. At most maxSwept directories are remembered; past
// that, each use removes them, at a bounded cost still.
var swept struct {
	sync.Mutex
	at map[string]time.Time
}

const maxSwept = 4096

// open removes the keyring's stale temporary files, when this process has
// not done so within StaleTempAge.
func (k Keyring) open() {
	now := time.Now()
	swept.Lock()
	last, ok := swept.at[k.Dir]
	due := !ok || now.Sub(last) >= atomicfile.StaleTempAge
	if due {
		if swept.at == nil {
			swept.at = map[string]time.Time{}
		}
		if ok || len(swept.at) < maxSwept {
			swept.at[k.Dir] = now
		}
	}
	swept.Unlock()
	if due {
		k.RemoveStaleTemps()
	}
}

// Get returns the dataset's key, refusing a key file that others can read
// and, with a Witness, a key the audit log does not record as the
// dataset's.
func (k Keyring) Get(name string) (seal.Key, error) {
	return k.GetContext(context.Background(), name)
}

// GetContext is Get, reading the audit log with ctx.
func (k Keyring) GetContext(ctx context.Context, name string) (seal.Key, error) {
	key, err := k.read(name)
	if err != nil || k.Witness == nil {
		return key, err
	}
	if err := k.Witness.CheckKey(ctx, k.Tenant, name, key); err != nil {
		return seal.Key{}, err
	}
	return key, nil
}

// Adopt records in the audit log the key the keyring holds for name, when
// no record names a key of that dataset: the owner's acceptance, once, of
// a key kept from before keys were recorded. A key a record names already
// is returned as Get returns it; one that differs from its record is
// refused, as Get refuses it.
func (k Keyring) Adopt(ctx context.Context, name, by string) (seal.Key, error) {
	key, _, err := k.AdoptRecorded(ctx, name, by)
	return key, err
}

// AdoptRecorded is Adopt, saying too whether it recorded the key (false:
// a record named it already). It holds the keyring's lock (Lock) over
// the read and the record, as a key's creation does.
func (k Keyring) AdoptRecorded(ctx context.Context, name, by string) (seal.Key, bool, error) {
	if k.Witness == nil {
		return seal.Key{}, false, errors.New("no audit log to record the key in")
	}
	if _, err := k.read(name); err != nil {
		return seal.Key{}, false, err
	}
	unlock, err := k.Lock(ctx)
	if err != nil {
		return seal.Key{}, false, err
	}
	defer unlock()
	key, err := k.read(name)
	if err != nil {
		return seal.Key{}, false, err
	}
	_, _, ok, err := k.Witness.Recorded(ctx, k.Tenant, name)
	if err != nil {
		return seal.Key{}, false, fmt.Errorf("dataset %s: read the key records of the audit log: %w", name, err)
	}
	if !ok {
		if err := k.Witness.Record(ctx, k.Tenant, name, key, by); err != nil {
			return seal.Key{}, false, err
		}
	}
	key, err = k.GetContext(ctx, name)
	return key, err == nil && !ok, err
}

// MaxKeyringEntries bounds the entries Names reads of a keyring's
// directory.
const MaxKeyringEntries = 1 << 16

// Names returns the names of the datasets whose keys the keyring holds
// (a NAME.key or NAME.key.age file), sorted, each once. Only regular
// files named as a valid dataset's key count: what a link names is not
// listed. A directory of more than MaxKeyringEntries entries is refused,
// and a keyring with no directory holds no keys.
//
// The directory is opened as one (atomicfile.OpenDir, O_DIRECTORY), by its
// clean path: a FIFO put in its place fails at once, naming it, where it held the listing
// (`dataset list`, a server listing a tenant's keys) for good. A link to
// a directory is followed, as GetOrCreate, Lock and the key files' paths
// follow it: refused here alone, it broke `dataset list` of a keyring
// kept elsewhere while sealing with it went on.
func (k Keyring) Names() ([]string, error) {
	d, err := atomicfile.OpenDir(filepath.Clean(k.Dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	defer d.Close()
	seen := map[string]bool{}
	read := 0
	for {
		entries, err := d.ReadDir(256)
		read += len(entries)
		if read > MaxKeyringEntries {
			return nil, fmt.Errorf("keyring %s: more than %d entries; name the datasets one at a time", d.Name(), MaxKeyringEntries)
		}
		for _, e := range entries {
			if !e.Type().IsRegular() || !isKeyFile(e.Name()) {
				continue
			}
			seen[strings.TrimSuffix(strings.TrimSuffix(e.Name(), ".age"), ".key")] = true
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// recipients returns the recipients of the keyring's age identity, or an
// error that names it as the CLI and the server take it
// (MERIDIAN_AGE_IDENTITY), so that a bad identity is not taken for a bad
// key file.
func (k Keyring) recipients() ([]string, error) {
	r, err := seal.RecipientsOf(k.AgeIdentity)
	if err != nil {
		return nil, fmt.Errorf("MERIDIAN_AGE_IDENTITY: %w", err)
	}
	return r, nil
}

// read is Get without the audit log's confirmation.
func (k Keyring) read(name string) (seal.Key, error) {
	if err := CheckName(name); err != nil {
		return seal.Key{}, err
	}
	k.open()
	if wrapped := k.path(name) + ".age"; fileExists(wrapped) {
		if k.AgeIdentity == "" {
			return seal.Key{}, fmt.Errorf("key file %s is wrapped with age: give the identity (MERIDIAN_AGE_IDENTITY)", wrapped)
		}
		// The identity first, under its own name: UnwrapKey's reason
		// for an identity that does not parse went out under the key
		// file's, and the operator looked for the fault in a sound file.
		if _, err := k.recipients(); err != nil {
			return seal.Key{}, err
		}
		data, err := readPrivate(wrapped)
		if err != nil {
			return seal.Key{}, err
		}
		key, err := seal.UnwrapKey(data, k.AgeIdentity)
		if err != nil {
			return seal.Key{}, fmt.Errorf("key file %s: %w", wrapped, err)
		}
		return key, nil
	}
	p := k.path(name)
	data, err := readPrivate(p)
	if errors.Is(err, fs.ErrNotExist) {
		return seal.Key{}, fmt.Errorf("dataset %s: %w (%s)", name, ErrNoKey, p)
	}
	if err != nil {
		return seal.Key{}, err
	}
	key, err := seal.ParseKey(string(data))
	if err != nil {
		return seal.Key{}, fmt.Errorf("key file %s: %w", p, err)
	}
	return key, nil
}

// GetOrCreate returns the dataset's key, creating and storing a new one the
// first time.
//
// With a Witness, the new key is recorded in the audit log before it is
// stored: no stop in between leaves a key the log never named.
func (k Keyring) GetOrCreate(name string) (seal.Key, error) {
	return k.GetOrCreateContext(context.Background(), name, "owner")
}

// GetOrCreateContext is GetOrCreate, by naming who makes a new key in its
// record.
//
// Creators of one keyring's keys (two `dataset add` of one new name, a
// server beside them on the same directory) take its lock (Lock) from
// before the key is made until it is stored, and look again for a key
// once they hold it. Before, both made a key and recorded it, one key
// file was written, and the latest record could name the other: the
// dataset's key was refused from then on.
func (k Keyring) GetOrCreateContext(ctx context.Context, name, by string) (seal.Key, error) {
	key, err := k.GetContext(ctx, name)
	if !errors.Is(err, ErrNoKey) {
		return k.durable(name, key, err)
	}
	unlock, err := k.Lock(ctx)
	if err != nil {
		return seal.Key{}, err
	}
	defer unlock()
	// Another creator may have stored and recorded a key while this one
	// waited: that key is the dataset's.
	key, err = k.GetContext(ctx, name)
	if !errors.Is(err, ErrNoKey) {
		return k.durable(name, key, err)
	}
	key, err = seal.NewKey()
	if err != nil {
		return seal.Key{}, err
	}
	if k.Witness != nil {
		if err := k.Witness.Record(ctx, k.Tenant, name, key, by); err != nil {
			return seal.Key{}, err
		}
	}
	if k.AgeIdentity != "" {
		recips, err := k.recipients()
		if err != nil {
			return seal.Key{}, err
		}
		wrapped, err := seal.WrapKey(key, recips...)
		if err != nil {
			return seal.Key{}, err
		}
		created, err := atomicfile.CreateFile(k.path(name)+".age", wrapped, 0o600)
		if err != nil || !created {
			return k.existing(ctx, name, err)
		}
		return key, nil
	}
	// Two creators at once (two requests, or two servers sharing the
	// directory): one key is written, and both return it.
	created, err := atomicfile.CreateFile(k.path(name), []byte(key.String()+"\n"), 0o600)
	if err != nil || !created {
		return k.existing(ctx, name, err)
	}
	return key, nil
}

// KeyLockFile is the file in a keyring's directory that Lock locks. It is
// no key file: nothing reads it, and it is never removed.
const KeyLockFile = ".keyring.lock"

// KeyLockWait bounds how long Lock waits for another holder: a key's
// creation holds it for one audit record and one file write.
var KeyLockWait = time.Minute

// Lock takes the keyring's lock (an advisory lock on KeyLockFile in its
// directory, which it makes, 0700 and durable, when missing), waiting at
// most KeyLockWait; the function returned releases it. Whoever records
// and then stores a key holds it over both, so that the key stored is the
// one the latest record names. The kernel drops it when its holder dies.
func (k Keyring) Lock(ctx context.Context) (unlock func(), err error) {
	// Made durable: a key is written to a directory created here
	// (tenants/NAME/keyring on a tenant's first dataset), and data sealed
	// with it leaves for a store; a power loss that took the new
	// directory's entry took the key too, and left that data unreadable.
	if err := atomicfile.MkdirAll(k.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(k.Dir, 0o700); err != nil {
		return nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, KeyLockWait)
	defer cancel()
	unlock, err = flock.Lock(lctx, filepath.Join(k.Dir, KeyLockFile))
	if err != nil {
		dir := filepath.Clean(k.Dir)
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("keyring %s: another command held its lock (%s) for %v while changing a key; try again", dir, KeyLockFile, KeyLockWait)
		}
		return nil, fmt.Errorf("keyring %s: lock: %w", dir, err)
	}
	return unlock, nil
}

// durable returns key, found in the keyring for name (err nil), once its
// file's entry is durable. GetOrCreate's caller seals data with it (or
// hands a run's key to its agent), and the data leaves for a store: a
// creator killed between its link and its sync of the directory left a
// key in memory only, which a power loss took after the data sealed with
// it had left. The directory is synced once per process per key file
// (atomicfile.SyncEntry).
func (k Keyring) durable(name string, key seal.Key, err error) (seal.Key, error) {
	if err != nil {
		return key, err
	}
	p := k.path(name)
	if fileExists(p + ".age") {
		p += ".age" // the file read (read)
	}
	if err := atomicfile.SyncEntry(p); err != nil {
		return seal.Key{}, fmt.Errorf("dataset %s: key file: %w", name, err)
	}
	return key, nil
}

// existing returns the key another creator wrote first.
func (k Keyring) existing(ctx context.Context, name string, err error) (seal.Key, error) {
	if err != nil {
		return seal.Key{}, err
	}
	return k.GetContext(ctx, name)
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// maxKeyFile bounds a key file's size: a plain key is 65 bytes, one
// wrapped with age a few hundred.
const maxKeyFile = 64 << 10

// readPrivate reads a key file, refusing one that others may read, and
// anything but a regular file of at most maxKeyFile bytes: a FIFO put in
// the key's place would hang every staging that reads it, and a link to
// /dev/zero read it until memory ran out. The mode judged is the opened
// file's, not what the name held a moment before.
func readPrivate(p string) ([]byte, error) {
	data, fi, err := plainfile.ReadStat(p, maxKeyFile)
	if err != nil {
		if errors.Is(err, plainfile.ErrNotRegular) || errors.Is(err, plainfile.ErrTooLarge) {
			return nil, fmt.Errorf("key file %w", err)
		}
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s: mode %o lets others read it; chmod 600", p, fi.Mode().Perm())
	}
	// Checked on the file read, not on the name again.
	if bad := plainfile.ForeignOwner(fi, geteuid()); bad != "" {
		return nil, fmt.Errorf("key file %s: %s; refused: whoever owns it chose the key, and may know it", p, bad)
	}
	return data, nil
}

// geteuid is os.Geteuid; tests stand in another user.
var geteuid = os.Geteuid

// DefaultTenant is the tenant of a state directory's own keyring: the one
// `meridian dataset add` fills, and the first token's tenant.
const DefaultTenant = catalog.DefaultTenant

// TenantKeyrings keeps one keyring per tenant under a state directory: the
// default tenant's in keyring/, every other tenant's in
// tenants/NAME/keyring/. A key is found by tenant and name, never by name
// alone, so one tenant's dataset name cannot reach another's key.
//
// With Witness set, every keyring's keys are confirmed against the audit
// log (Keyring.Witness).
type TenantKeyrings struct {
	Root        string
	AgeIdentity string
	Witness     *KeyWitness
}

// For returns tenant's keyring.
func (t TenantKeyrings) For(tenant string) (Keyring, error) {
	if tenant == "" || tenant == DefaultTenant {
		return Keyring{Dir: filepath.Join(t.Root, "keyring"), AgeIdentity: t.AgeIdentity, Tenant: DefaultTenant, Witness: t.Witness}, nil
	}
	if err := CheckName(tenant); err != nil {
		return Keyring{}, fmt.Errorf("tenant: %w", err)
	}
	return Keyring{Dir: filepath.Join(t.Root, "tenants", tenant, "keyring"), AgeIdentity: t.AgeIdentity, Tenant: tenant, Witness: t.Witness}, nil
}

// Get returns tenant's key for dataset name.
func (t TenantKeyrings) Get(tenant, name string) (seal.Key, error) {
	k, err := t.For(tenant)
	if err != nil {
		return seal.Key{}, err
	}
	return k.Get(name)
}

// Remove removes the dataset's key, plain or wrapped; a key that is not
// there is no error. The removal is made durable before Remove returns:
// it undoes a key change the audit log could not record, and a power loss
// that brought the key back left a key the log does not know standing.
func (k Keyring) Remove(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	k.open()
	for _, p := range []string{k.path(name), k.path(name) + ".age"} {
		if err := removeOld(p); err != nil {
			return err
		}
	}
	return nil
}

// Put stores key as tenant's key for name (replacing any), in a 0600 file.
func (k Keyring) Put(name string, key seal.Key) error {
	if err := CheckName(name); err != nil {
		return err
	}
	k.open()
	if err := atomicfile.MkdirAll(k.Dir, 0o700); err != nil { // durable, as in GetOrCreate
		return err
	}
	if err := os.Chmod(k.Dir, 0o700); err != nil {
		return err
	}
	if k.AgeIdentity != "" {
		recips, err := k.recipients()
		if err != nil {
			return err
		}
		wrapped, err := seal.WrapKey(key, recips...)
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(k.path(name)+".age", wrapped, 0o600); err != nil {
			return err
		}
		return removeOld(k.path(name))
	}
	if err := atomicfile.WriteFile(k.path(name), []byte(key.String()+"\n"), 0o600); err != nil {
		return err
	}
	return removeOld(k.path(name) + ".age")
}

// removeOld removes the key file p durably (a file not there is no
// error): for Remove, and for Put, the file that a key just put in the
// other form replaces. Left there, a wrapped key would still be the one Get reads
// (the wrapped form comes first), and a plain one would stay on disk
// unwrapped. It is removed only once the new key is durable, so a crash
// between the two never leaves the dataset without a key (which
// GetOrCreate would fill with a new one).
func removeOld(p string) error {
	err := os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	// Made durable, or a crash could bring the old key back.
	return atomicfile.SyncDir(filepath.Dir(p))
}
