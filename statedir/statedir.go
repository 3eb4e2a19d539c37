// Package statedir is the layout of a Meridian state directory
// ($MERIDIAN_HOME, default ~/.meridian): where the database, the secrets,
// the CLI's client file, the datasets' documents and keys, the audit anchor
// and the server's certificate live. Everything secret in it is 0600.
//
// Several servers (replicas on one PostgreSQL) share one state directory on
// shared storage: the secrets here (audit.key, agent.key, the anchor key,
// the TLS pair) are created once, by whichever starts first, and read by the
// others (atomicfile.CreateFile), and the run keys, tenants' keyrings, the
// attempts' logs and the sites' local roots under it are read and written by
// all of them.
package statedir

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/internal/flock"
	"meridian.dev/meridian/internal/plainfile"
)

// Env names the state directory.
const Env = "MERIDIAN_HOME"

// File and directory names in a state directory.
const (
	Database   = "meridian.db"
	AuditKey   = "audit.key"
	AgentKey   = "agent.key"
	AnchorDir  = "anchor"
	ClientFile = "client.json"
	ServeLock  = "serve.lock"
	// SharedStore marks a state directory whose servers keep their state
	// (the audit log and the ledger among it) in PostgreSQL, not in
	// Database: the CLI's commands that write a log of their own refuse it.
	SharedStore = "store.shared"
	AuditLock   = "audit.lock"
	TLSDir      = "tls"
	DatasetsDir = "datasets"
	KeyringDir  = "keyring"
	HomeStore   = "store"
	Screening   = "screening"
)

// Dir is a state directory.
type Dir struct{ Path string }

// Default is $MERIDIAN_HOME, else ~/.meridian.
func Default() (Dir, error) {
	if d := os.Getenv(Env); d != "" {
		return Dir{Path: d}, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return Dir{}, fmt.Errorf("state directory: set %s (%w)", Env, err)
	}
	return Dir{Path: filepath.Join(home, ".meridian")}, nil
}

// Canonical is the directory at path as every process names it: absolute,
// with its symlinks resolved. The directory must exist. Names built from a
// state directory's path are keys other processes must find equal: a site
// without spec.store has its store under the directory, and the staging
// lease the servers and the CLI take for that store is named after its URL.
// Spelled "./state" by one and "/srv/state" (or through a symlink) by the
// other, they took different leases, and a CLI staging ran beside a
// server's into the same store.
func Canonical(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("state directory %s: %w", path, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("state directory %s: %w", path, err)
	}
	return real, nil
}

// Join is a path inside the directory.
func (d Dir) Join(elem ...string) string { return filepath.Join(append([]string{d.Path}, elem...)...) }

// Database is the SQLite database.
func (d Dir) Database() string { return d.Join(Database) }

// Anchor is the default audit anchor directory.
func (d Dir) Anchor() string { return d.Join(AnchorDir) }

// TLS is where a self-signed server certificate is kept.
func (d Dir) TLS() string { return d.Join(TLSDir) }

// Datasets holds the Dataset documents `meridian dataset add` registers.
func (d Dir) Datasets() string { return d.Join(DatasetsDir) }

// DatasetFile is one dataset's document.
func (d Dir) DatasetFile(name string) string { return filepath.Join(d.Datasets(), name+".yaml") }

// Keyring is the CLI owner's keyring of dataset keys.
func (d Dir) Keyring() string { return d.Join(KeyringDir) }

// HomeStore is the default home store of added datasets, as a URL.
func (d Dir) HomeStore() string { return "file://" + d.Join(HomeStore) }

// ScreeningDir holds imported restricted-party lists.
func (d Dir) ScreeningDir() string { return d.Join(Screening) }

// maxSmallFile bounds client.json and a secret's file. Every client
// command reads client.json from the directory $MERIDIAN_HOME names: a
// FIFO there hung each of them in its open, and a link to /dev/zero read
// until memory ran out.
const maxSmallFile = 1 << 20

// Secret reads a hex secret of at least 16 bytes from name, creating a
// random 32-byte one (0600) on first use; one that others may read, or
// that another user (not root) owns, is refused. Servers starting together on a shared directory get one secret:
// the first to create the file wins and the others read it.
func (d Dir) Secret(name string) ([]byte, error) {
	d.RemoveStaleTemps()
	path := d.Join(name)
	b, fi, err := plainfile.ReadStat(path, maxSmallFile)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		// The directory made durable too: until its parent is synced a
		// power loss can take it, and the secret with it, after the
		// secret was used; the next start would make another.
		if err := atomicfile.MkdirAll(d.Path, 0o700); err != nil {
			return nil, err
		}
		created, cerr := atomicfile.CreateFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600)
		if cerr != nil {
			return nil, fmt.Errorf("%s: %w", name, cerr)
		}
		if created {
			return key, nil
		}
		b, fi, err = plainfile.ReadStat(path, maxSmallFile)
	}
	if err != nil {
		return nil, err
	}
	if testHookSecretRead != nil {
		testHookSecretRead()
	}
	// The mode checked is the file read's: a check on the name again saw
	// whatever was put there after the read (a 0600 file renamed over a
	// key others had read), and let that key in.
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %v lets others read it; want 0600", path, fi.Mode().Perm())
	}
	if bad := foreignOwner(fi); bad != "" {
		return nil, fmt.Errorf("%s: %s; refused: whoever owns it chose the key, and may know it", path, bad)
	}
	key, err := hex.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("%s: want at least 16 hex-encoded bytes", path)
	}
	// Made durable before it is used: its creator (a replica, this
	// server before a restart) may have been killed between its link and
	// its sync of the directory, and a power loss would take a secret
	// already used (agent.key: the tokens handed to agents).
	if err := atomicfile.SyncEntry(path); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return key, nil
}

// geteuid is os.Geteuid; tests stand in another user.
var geteuid = os.Geteuid

// foreignOwner is plainfile.ForeignOwner for this process's effective
// user (geteuid).
func foreignOwner(fi os.FileInfo) string { return plainfile.ForeignOwner(fi, geteuid()) }

// testHookSecretRead, when set, runs after Secret has read its file.
var testHookSecretRead func()

// Client is what client.json holds: where the CLI on this machine finds
// the server, its token and, for a self-signed certificate, its
// fingerprint.
type Client struct {
	Server      string `json:"server"`
	Token       string `json:"token"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

// ErrExposed is the error of a client.json that users other than its
// owner may read or write, or that another user (not root) owns.
var ErrExposed = errors.New("others may read or write it")

// ReadClient reads client.json. One that others may read or write (a
// mode with group or other bits) is refused (ErrExposed), naming the file
// and the chmod that fixes it, as ssh refuses a private key others can
// read: it holds an admin token, which whoever read it holds too, and
// whoever may write it names the server the CLI sends its token to and
// the certificate it trusts there. Read anyway, the token went on being
// used and the exposure unnoticed. One owned by another user (not root)
// is refused too (ErrExposed): its owner chose the server and the
// certificate. The mode and owner checked are the file read's, not the
// name's again.
func (d Dir) ReadClient() (Client, error) {
	return d.readClient(true)
}

// ReadExposedClient reads client.json whatever its mode, for the server's
// start only: the token of a file that others may read is revoked, not
// used (ReadClient refuses it).
func (d Dir) ReadExposedClient() (Client, error) {
	return d.readClient(false)
}

func (d Dir) readClient(strict bool) (Client, error) {
	var c Client
	path := d.Join(ClientFile)
	b, fi, err := plainfile.ReadStat(path, maxSmallFile)
	if err != nil {
		return c, err
	}
	if perm := fi.Mode().Perm(); strict && perm&0o077 != 0 {
		return c, fmt.Errorf("%s: %w (mode %04o), and it holds an API token; refused: run `chmod 600 %s`, and if others may have read the token, revoke it (meridian tenant revoke)",
			path, ErrExposed, perm, path)
	}
	if bad := foreignOwner(fi); strict && bad != "" {
		return c, fmt.Errorf("%s: %w (%s), and it names the server the CLI sends its token to; refused: remove it, or run `chown %d %s` if its content is yours",
			path, ErrExposed, bad, geteuid(), path)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// tempTargets are the files of the directory itself that are written
// through atomicfile, by this package and by the CLI's commands.
var tempTargets = map[string]bool{AuditKey: true, AgentKey: true, ClientFile: true, SharedStore: true}

// RemoveStaleTemps removes the temporary files that writers of the
// directory's own files (tempTargets), killed before their rename, left
// there, once atomicfile.StaleTempAge old: nothing serialises those
// writers (servers and CLI commands alike), so a fresher one may be being
// filled. Before, each stayed for good, and a crash loop filled the disk.
// It reports how many it removed; Secret (a server's start) and
// WriteClient call it.
func (d Dir) RemoveStaleTemps() int {
	return atomicfile.RemoveStaleTemps(d.Path, func(name string) bool { return tempTargets[name] }, atomicfile.StaleTempAge)
}

// WriteClient writes client.json (0600, atomically).
func (d Dir) WriteClient(c Client) error {
	d.RemoveStaleTemps()
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.MkdirAll(d.Path, 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(d.Join(ClientFile), append(b, '\n'), 0o600)
}

// LockAudit takes the state directory's audit lock (an exclusive flock on
// audit.lock, waiting for it) and returns its release. Whoever may anchor
// the log for the first time and record its anchor key (a server's start,
// a CLI command that writes the log) holds it from reading the log to
// recording the key: two that both found no key would otherwise both
// anchor the log, perhaps in different anchor directories. The kernel
// drops the lock when its holder dies.
func (d Dir) LockAudit() (func(), error) {
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return nil, fmt.Errorf("audit lock: %w", err)
	}
	unlock, err := flock.Lock(context.Background(), d.Join(AuditLock))
	if err != nil {
		return nil, fmt.Errorf("audit lock %s: %w", d.Join(AuditLock), err)
	}
	return unlock, nil
}
