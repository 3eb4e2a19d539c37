package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/internal/plainfile"
	"meridian.dev/meridian/seal"
)

// keyFlags say where a site-side command gets the dataset key.
type keyFlags struct {
	keyFile     string
	keepKeyFile bool
	keyStdin    bool
	ageIdentity string
	// fingerprint, when set, is the fingerprint the key must have
	// (--key-fingerprint): its full hex SHA-256, or the audit log's 16
	// digits.
	fingerprint string
}

func (k *keyFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&k.keyFile, "key-file", "", "`FILE` holding the dataset key: age-wrapped, or in clear with mode 0600; removed after reading unless --keep-key-file (named through a link, both the file it leads to and the link are removed)")
	cmd.Flags().BoolVar(&k.keepKeyFile, "keep-key-file", false, "do not remove --key-file after reading it")
	cmd.Flags().BoolVar(&k.keyStdin, "key-stdin", false, "read the dataset key from standard input")
	cmd.Flags().StringVar(&k.ageIdentity, "age-identity", "", "age identity `FILE` that unwraps an age-wrapped key (made by: dataset key --age-recipient)")
	cmd.Flags().StringVar(&k.fingerprint, "key-fingerprint", "", "`HEX` fingerprint the dataset key must have, as dataset key NAME --fingerprint prints it (64 hex digits; the 16 the audit log records are taken too): another key is refused before the store is read")
}

// external names where a key from outside the owner's keyring comes
// from (the flag or variable), or "" for the keyring.
func (k *keyFlags) external() string {
	switch {
	case k.keyFile != "":
		return "--key-file"
	case k.keyStdin:
		return "--key-stdin"
	case os.Getenv("MERIDIAN_DATASET_KEY") != "":
		return "$MERIDIAN_DATASET_KEY"
	}
	return ""
}

// warnUnvouched says on w that nothing ties a key delivered from outside
// the keyring to the dataset when neither a manifest pin nor a key
// fingerprint is given: age proves nothing about who wrapped a key, so
// whoever could write the key and the store could make the job read data
// of their choosing, and every check would pass.
func (k *keyFlags) warnUnvouched(w io.Writer, name, pin string) {
	src := k.external()
	if src == "" || pin != "" || k.fingerprint != "" {
		return
	}
	fmt.Fprintf(w, "warning: dataset %s: the key comes from %s and neither --key-fingerprint nor --manifest-sha256 is given, so nothing shows it is the dataset's own: whoever could write both the key and the store could have this read data of their choosing as genuine; pass --key-fingerprint (dataset key %s --fingerprint prints it) or --manifest-sha256 (dataset stage prints it)\n", name, src, name)
}

// keyDigest is the full fingerprint of a key: the hex SHA-256 of its text
// form, of which seal.Key.Fingerprint (as the audit log records a key) is
// the first 16 digits.
func keyDigest(k seal.Key) string {
	sum := sha256.Sum256([]byte(k.String()))
	return hex.EncodeToString(sum[:])
}

// validFingerprint reports whether s is a key fingerprint --key-fingerprint
// takes: 64 lowercase hex digits, or the audit log's first 16.
func validFingerprint(s string) bool {
	if len(s) != 64 && len(s) != 16 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// errKeyFingerprint means the key delivered is not the one
// --key-fingerprint names.
var errKeyFingerprint = errors.New("the key given is not the dataset's (a key file or variable replaced at the site, or another dataset's key)")

// checkFingerprint refuses key unless --key-fingerprint is empty or names it.
func (k *keyFlags) checkFingerprint(key seal.Key) error {
	if k.fingerprint == "" {
		return nil
	}
	got := keyDigest(key)[:len(k.fingerprint)]
	if subtle.ConstantTimeCompare([]byte(got), []byte(k.fingerprint)) != 1 {
		return fmt.Errorf("--key-fingerprint %s: the key from %s has fingerprint %s: %w", k.fingerprint, orKeyring(k.external()), got, errKeyFingerprint)
	}
	return nil
}

func orKeyring(src string) string {
	if src == "" {
		return "the keyring"
	}
	return src
}

// maxKeyBytes bounds a file that holds one secret (a dataset key, a
// token), as --key-stdin bounds standard input; maxAgeIdentityBytes an
// age identity file, which may hold several identities and comments.
const (
	maxKeyBytes         = 64 << 10
	maxAgeIdentityBytes = 1 << 20
)

// parse reads a delivered key: plain text, or age-wrapped when it is armored.
func (k *keyFlags) parse(data []byte) (seal.Key, error) {
	if seal.IsWrapped(data) {
		if k.ageIdentity == "" {
			return seal.Key{}, badInput(errors.New("the key is wrapped with age: give --age-identity FILE"))
		}
		// The identity may come through a pipe, never written to disk:
		// --age-identity <(op read …).
		id, err := plainfile.ReadNamed(k.ageIdentity, maxAgeIdentityBytes)
		if err != nil {
			return seal.Key{}, badInput(fmt.Errorf("--age-identity: %w", err))
		}
		key, err := seal.UnwrapKey(data, string(id))
		return key, badInput(err)
	}
	key, err := seal.ParseKey(string(data))
	return key, badInput(err)
}

// get returns the key from --key-file, --key-stdin, $MERIDIAN_DATASET_KEY or
// the owner's keyring, in that order, refusing it when --key-fingerprint
// names another: checked as soon as the key is read (and unwrapped), before
// any store is opened.
func (k *keyFlags) get(cmd *cobra.Command, st state, name string) (seal.Key, error) {
	if k.fingerprint != "" && !validFingerprint(k.fingerprint) {
		return seal.Key{}, badInput(fmt.Errorf("--key-fingerprint %q: want 64 lowercase hex digits (or the 16 the audit log records)", k.fingerprint))
	}
	key, err := k.read(cmd, st, name)
	if err != nil {
		return seal.Key{}, err
	}
	if err := k.checkFingerprint(key); err != nil {
		return seal.Key{}, err
	}
	return key, nil
}

// read is get without the fingerprint check.
func (k *keyFlags) read(cmd *cobra.Command, st state, name string) (seal.Key, error) {
	switch {
	case k.keyFile != "":
		// The read itself refuses what is not a regular file, opened, so
		// that a FIFO put there does not hang it; the mode and owner
		// judged are the file's it read, not the name's again. A pipe is
		// refused here, unlike --age-identity: the file is removed once
		// read, which a pipe cannot be, and --key-stdin reads one.
		kf, err := readOwnedDir(k.keyFile, maxKeyBytes)
		defer kf.close()
		if err != nil {
			return seal.Key{}, badInput(fmt.Errorf("--key-file: %w", err))
		}
		if bad := kf.problem; bad != "" {
			return seal.Key{}, badInput(fmt.Errorf("--key-file %s: %s; refused, and left in place: its owner chose the key (age says nothing of who wrapped one) and may know it; deliver the key in a file and directory that this user (uid %d) or root owns", k.keyFile, bad, geteuid()))
		}
		// A key in clear must not be readable by others; an age-wrapped
		// one is ciphertext for the identity's holder, as a shell's
		// "dataset key … > key.age" writes it (0644 under umask 022).
		if kf.fi.Mode().Perm()&0o077 != 0 && !seal.IsWrapped(kf.data) {
			return seal.Key{}, badInput(fmt.Errorf("--key-file %s: mode %o lets others read a key in clear; want 0600 (or wrap it: dataset key --age-recipient)", k.keyFile, kf.fi.Mode().Perm()))
		}
		if !k.keepKeyFile {
			if err := removeKeyFile(k.keyFile, kf); err != nil {
				return seal.Key{}, err
			}
		}
		return k.parse(kf.data)
	case k.keyStdin:
		data, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10))
		if err != nil {
			return seal.Key{}, err
		}
		return k.parse(data)
	case os.Getenv("MERIDIAN_DATASET_KEY") != "":
		return k.parse([]byte(os.Getenv("MERIDIAN_DATASET_KEY")))
	default:
		return keyringKey(cmd, st, name)
	}
}

// keyringKey is the owner's key for dataset name from the keyring,
// confirmed against the audit log's record of it: a key written into the
// keyring outside Meridian (by whoever may write the state directory, or a
// backup restored over it) is refused, never staged, unsealed with or
// handed out.
func keyringKey(cmd *cobra.Command, st state, name string) (seal.Key, error) {
	w, done, err := st.keyWitness(cmd.Context())
	if err != nil {
		return seal.Key{}, err
	}
	defer done()
	return st.keyring(w).GetContext(cmd.Context(), name)
}

// ownedFile is a file readOwned read.
type ownedFile struct {
	data []byte
	// fi is what the file read is (its mode, owner and size as opened);
	// nil where problem was found before it was opened.
	fi os.FileInfo
	// problem says why the file is not to be trusted ("" when it is).
	problem string
	// path is the file read, its links resolved.
	path string
	// dir is the directory the file was read from, held open by
	// readOwnedDir (nil otherwise) so that the file read, and no other
	// renamed onto its name since, is removed from it (removeRead);
	// close releases it.
	dir *os.File
}

// close releases the directory readOwnedDir held open.
func (o ownedFile) close() {
	if o.dir != nil {
		o.dir.Close()
	}
}

// readOwned reads the regular file at path and says why it is not to be
// trusted by this user (ownedFile.problem, "" when it is): a link on the
// way to it (path itself, or any directory of it) owned by, or lying in a
// directory owned by, a user other than this one and root (linkedOwned),
// or the file or the directory it lies in so owned (keyFileOwnerProblem).
// Links are followed here, one by one, and never by an open: a link
// another user put in a sticky directory (/tmp) may be read by anyone,
// but the kernel refuses to follow it (fs.protected_symlinks), and a path
// resolved first (filepath.EvalSymlinks) and opened then bypassed that,
// as it passed a link in another user's directory to any of this user's
// files: a name that user chose led to a token or key of this user's,
// sent where the name was meant for. The directory judged is opened
// following no link on the whole of its path (openDirNoLinks), so a part
// of it swapped for a link after the walk is refused, not followed; the
// file is opened relative to it (openat, O_NOFOLLOW, O_NONBLOCK: a FIFO
// put there does not hang it), and both are judged as opened, not by the
// names again.
func readOwned(path string, max int64) (ownedFile, error) {
	o, err := readOwnedDir(path, max)
	o.close()
	o.dir = nil
	return o, err
}

// readOwnedDir is readOwned, holding the directory read from open in
// ownedFile.dir where it returns no error; the caller closes it.
func readOwnedDir(path string, max int64) (ownedFile, error) {
	uid := geteuid()
	real, bad, err := linkedOwned(path, uid)
	if err != nil || bad != "" {
		return ownedFile{problem: bad}, err
	}
	walked(real)
	dirPath, base := filepath.Dir(real), filepath.Base(real)
	dirf, err := openDirNoLinks(dirPath)
	if err != nil {
		return ownedFile{}, err
	}
	ok := false
	defer func() {
		if !ok {
			dirf.Close()
		}
	}()
	dir, err := dirf.Stat()
	if err != nil {
		return ownedFile{}, err
	}
	fd, err := unix.Openat(int(dirf.Fd()), base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return ownedFile{}, fmt.Errorf("%s: a link was put there as it was read; refused", real)
	}
	if err != nil {
		return ownedFile{}, &os.PathError{Op: "open", Path: real, Err: err}
	}
	f := os.NewFile(uintptr(fd), real)
	defer f.Close()
	data, fi, err := plainfile.ReadStatFile(f, real, max)
	if err != nil {
		return ownedFile{}, err
	}
	ok = true
	// The file and its own directory as opened first, then the
	// directories above it (by name: each was reached with no link).
	bad = keyFileOwnerProblem(real, fi, dir, uid)
	if bad == "" {
		bad = ancestorsProblem(real, uid)
	}
	return ownedFile{data: data, fi: fi, problem: bad, path: real, dir: dirf}, nil
}

// walked is called with the path linkedOwned found, before it is opened;
// a test replaces it to change the path in between, as another user could.
var walked = func(string) {}

// openat2 is unix.Openat2, replaced by a test to take the fallback of a
// kernel without it (before 5.6).
var openat2 = unix.Openat2

// openDirNoLinks opens the directory at the absolute, clean path dirPath
// (linkedOwned's, with no link on it) following no link anywhere on it:
// O_NOFOLLOW covers only the last part of a path, and an open of dirPath
// walked it again, so a directory on it that another user may write had a
// part of it swapped for a link between linkedOwned's walk and the open,
// and the file was read where that link led. openat2 with
// RESOLVE_NO_SYMLINKS refuses a link anywhere (ELOOP); where the kernel
// has no openat2 (ENOSYS, or EPERM from a seccomp filter that predates
// it), each part is opened relative to the last with
// openat(O_NOFOLLOW|O_DIRECTORY). A link found either way is refused,
// saying the path changed.
func openDirNoLinks(dirPath string) (*os.File, error) {
	changed := func() error {
		return fmt.Errorf("%s: a part of the path was replaced by a link after its links were judged; refused", dirPath)
	}
	fd, err := openat2(unix.AT_FDCWD, dirPath, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS,
	})
	switch {
	case err == nil:
		return os.NewFile(uintptr(fd), dirPath), nil
	case errors.Is(err, unix.ELOOP):
		return nil, changed()
	case !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM):
		// EPERM: a seccomp filter that predates openat2 (some container
		// runtimes) refuses it so; the fallback follows no link either.
		return nil, &os.PathError{Op: "open", Path: dirPath, Err: err}
	}
	fd, err = unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/", Err: err}
	}
	for _, part := range strings.Split(strings.TrimPrefix(dirPath, "/"), "/") {
		if part == "" {
			continue
		}
		if part == "." || part == ".." {
			unix.Close(fd)
			return nil, fmt.Errorf("%s: not a clean path; refused", dirPath)
		}
		next, err := unix.Openat(fd, part, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return nil, changed()
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: dirPath, Err: err}
		}
		fd = next
	}
	return os.NewFile(uintptr(fd), dirPath), nil
}

// linkedOwned resolves path's links one by one (os.Lstat, os.Readlink: a
// relative path from the working directory, as the kernel has it) and
// returns it with none, or says why a link on the way is not to be
// trusted by the user uid: it is owned by, or lies in a directory owned
// by, a user other than uid and root, who chose where it leads (and may
// change it at will). Over maxLinkHops links is an error, as a loop of
// them is; so is a part that is not a directory with more of the path
// after it (key/, file/..), as the kernel has it (ENOTDIR).
//
// The working directory is the kernel's (unix.Getwd), not $PWD, which
// names it through the links it was entered by, and the relative path is
// joined to it as text, not cleaned: ".." is its parent as the walk finds
// it. Cleaned as text, ../key from a directory entered through a link
// named a file beside the link, not the one the kernel reads (and that
// file was then removed).
func linkedOwned(path string, uid int) (string, string, error) {
	if !filepath.IsAbs(path) {
		wd, err := unix.Getwd()
		if err != nil {
			return "", "", err
		}
		path = wd + "/" + path
	}
	resolved, rest, hops := "/", path, 0
	for rest != "" {
		var comp string
		var more bool
		comp, rest, more = strings.Cut(strings.TrimLeft(rest, "/"), "/")
		switch comp {
		case "", ".":
			continue
		case "..":
			// resolved holds no link and is a directory: its parent is
			// its name's.
			resolved = filepath.Dir(resolved)
			continue
		}
		next := filepath.Join(resolved, comp)
		fi, err := os.Lstat(next)
		if err != nil {
			return "", "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if more && !fi.IsDir() {
				return "", "", fmt.Errorf("%s: %s is not a directory, and the path goes on after it; refused (%w)", path, next, unix.ENOTDIR)
			}
			resolved = next
			continue
		}
		if hops++; hops > maxLinkHops {
			return "", "", fmt.Errorf("%s: over %d links on the way to the file (a loop?); refused", path, maxLinkHops)
		}
		if bad := plainfile.ForeignOwner(fi, uid); bad != "" {
			return "", "the link " + next + " on the way to it is " + bad, nil
		}
		dir, err := os.Lstat(resolved)
		if err != nil {
			return "", "", err
		}
		if bad := plainfile.ForeignOwner(dir, uid); bad != "" {
			return "", "the link " + next + " on the way to it lies in " + resolved + ", " + bad, nil
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", "", err
		}
		if filepath.IsAbs(target) {
			resolved = "/"
		}
		if more {
			rest = target + "/" + rest
		} else {
			rest = target
		}
	}
	return resolved, "", nil
}

// removeLink removes a --key-file's link; a test replaces it to make the
// removal fail as root, whom a directory's mode does not stop.
var removeLink = os.Remove

// removeKeyFile removes the --key-file named name once read (kf, read by
// readOwnedDir): name first where it is a link, then the file read, which
// holds the key. Removing name alone removed only a link, and left the key
// in clear where it lay. The link goes first: where it cannot be removed
// (/dev/stdin, or a link in a directory this user may not write) the
// command fails with the key still in place, to be read again, not gone
// with the command failed. The file read is removed from the directory it
// was read from (unlinkat), and only while the name there is still that
// file (its device and inode): another renamed onto it since is left.
func removeKeyFile(name string, kf ownedFile) error {
	if fi, err := os.Lstat(name); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if err := removeLink(name); err != nil {
			return fmt.Errorf("remove --key-file's link: %w (the key it leads to, %s, is left in place)", err, kf.path)
		}
	}
	read, ok := kf.fi.Sys().(*syscall.Stat_t)
	if kf.dir == nil || !ok {
		return fmt.Errorf("remove --key-file %s: the directory it was read from is not held; left in place", kf.path)
	}
	base := filepath.Base(kf.path)
	var now unix.Stat_t
	if err := unix.Fstatat(int(kf.dir.Fd()), base, &now, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("remove --key-file: %w", &os.PathError{Op: "stat", Path: kf.path, Err: err})
	}
	if uint64(now.Dev) != uint64(read.Dev) || uint64(now.Ino) != uint64(read.Ino) {
		return fmt.Errorf("remove --key-file %s: another file was put in its place since it was read; left in place, remove the key by hand", kf.path)
	}
	if err := unix.Unlinkat(int(kf.dir.Fd()), base, 0); err != nil {
		return fmt.Errorf("remove --key-file: %w", &os.PathError{Op: "unlinkat", Path: kf.path, Err: err})
	}
	return nil
}

// ancestorsProblem says why a directory above real, an absolute path with
// no link on it (linkedOwned's), lets a user other than uid and root put
// another file in real's place ("" when none does): one that user owns,
// or one that others (group or world) may write and that is not sticky.
// Either may rename real's directory, or any between it and that one,
// away and put their own in its place, with a token or key file naming
// a server or a dataset of theirs; the checks of the file and of its own
// directory then judged the other user's copy as opened. As ssh judges
// authorized_keys (StrictModes), every directory up to / is judged; a
// sticky one (/tmp) lets no one rename what another owns.
func ancestorsProblem(real string, uid int) string {
	for dir := filepath.Dir(real); ; dir = filepath.Dir(dir) {
		fi, err := os.Lstat(dir)
		if err != nil {
			return "the directory " + dir + " above it cannot be judged: " + err.Error()
		}
		if bad := plainfile.ForeignOwner(fi, uid); bad != "" {
			return "the directory " + dir + " above it is " + bad + ", who may put another file in its place"
		}
		if m := fi.Mode(); m&0o022 != 0 && m&fs.ModeSticky == 0 && !(m&0o002 == 0 && privateGroupOf(fi, uid)) {
			return fmt.Sprintf("the directory %s above it lets others write in it (mode %o) and is not sticky, so they may put another file in its place (chmod go-w %s)", dir, m.Perm(), dir)
		}
		if dir == "/" || dir == "." {
			return ""
		}
	}
}

// privateGroupOf says whether fi's group is uid's own private group: its
// primary group, named as the user is (the user private groups of Red
// Hat, Fedora and Debian, where umask 002 makes ~/.config 0775). Its
// write grants no other user anything where the group holds the user
// alone, as that convention has it (Debian's ssh judges it so too).
func privateGroupOf(fi fs.FileInfo, uid int) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil || u.Gid != strconv.FormatUint(uint64(st.Gid), 10) {
		return false
	}
	g, err := user.LookupGroupId(u.Gid)
	return err == nil && g.Name == u.Username
}

// keyFileOwnerProblem says why a --key-file at path is not to be trusted
// by the user uid, fi describing the file read and dir its directory
// ("" when it is to be): either is owned by a user other than uid and root
// (plainfile.ForeignOwner). Its mode says nothing of that: a user who may
// write the directory the key is delivered to puts a 0600 key of their own
// there, and the owner of the directory may rename one in at will.
func keyFileOwnerProblem(path string, fi, dir os.FileInfo, uid int) string {
	if bad := plainfile.ForeignOwner(fi, uid); bad != "" {
		return "the file is " + bad
	}
	if bad := plainfile.ForeignOwner(dir, uid); bad != "" {
		return "its directory " + filepath.Dir(path) + " is " + bad
	}
	return ""
}

func newDatasetKeyCmd() *cobra.Command {
	var recipients []string
	var plain, fingerprint, record, all bool
	var outFile string
	cmd := &cobra.Command{
		Use: "key NAME (--age-recipient age1… | --plain | --fingerprint | --record) | key --record --all",
		Example: `  meridian dataset key chat-logs --age-recipient "$(cat job-recipient.txt)" --out key.age
  meridian dataset key chat-logs --plain --out key   # mode 0600
  meridian dataset key chat-logs --fingerprint       # for dataset unseal --key-fingerprint
  meridian dataset key --record --all                # once, after an upgrade`,
		Short: "Print a dataset's key for delivery to a job, wrapped with age or in clear",
		Long: `Key prints the dataset key from the owner's keyring so that the backend can
deliver it to a job at start. With --age-recipient it is wrapped for the
holder of that age identity (the job's, generated for the run); --plain prints
it in clear for delivery over a channel that is already private. Whoever holds
the key can read the dataset: see docs/threat-model.md.

With --fingerprint it prints the key's fingerprint instead (the SHA-256 of
its text form, which reveals nothing of it), to give dataset unseal as
--key-fingerprint alongside the key: a key replaced on its way to the job
(age does not say who wrapped a key) is then refused.

A key is used only as the audit log records it (dataset add records each
key it makes): one written into the keyring outside Meridian is refused.
With --record, a key kept from before keys were recorded, which no record
names, is recorded as the dataset's, once; a key that differs from its
record is refused all the same. With --record --all (and no NAME), every
key of the keyring is: each that no record names is recorded (one audit
entry each), and each is listed with its fingerprint and what was done.
Recorded here, in the state directory's own audit log: servers that keep
theirs in PostgreSQL need the key sent (dataset send-key).`,
		Args: cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if all && !record {
				return badInput(errors.New("--all: only with --record"))
			}
			if len(recipients) == 0 && !plain && !fingerprint && !record {
				return badInput(errors.New("--age-recipient, --plain, --fingerprint or --record: one is required"))
			}
			if all && len(args) != 0 {
				return badInput(fmt.Errorf("--all records every key of the keyring: give no NAME (got %q)", args[0]))
			}
			if !all && len(args) != 1 {
				return badInput(errors.New("NAME: required (or --record --all)"))
			}
			st, err := openState()
			if err != nil {
				return err
			}
			if all {
				return recordAllKeys(cmd, st)
			}
			if record {
				return recordKey(cmd, st, args[0])
			}
			key, err := keyringKey(cmd, st, args[0])
			if err != nil {
				return err
			}
			var data []byte
			if fingerprint {
				data = []byte(keyDigest(key) + "\n")
			} else if plain {
				data = []byte(key.String() + "\n")
			} else if data, err = seal.WrapKey(key, recipients...); err != nil {
				return badInput(err)
			}
			if outFile != "" {
				// Created 0600 whatever the umask, and atomically.
				if err := writeUserFile(outFile, data, 0o600); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
				return nil
			}
			_, err = cmd.OutOrStdout().Write(data)
			return err
		},
	}
	cmd.Flags().StringVar(&outFile, "out", "", "write the key to `FILE` (mode 0600) instead of standard output")
	cmd.Flags().StringArrayVar(&recipients, "age-recipient", nil, "age recipient (age1…) to wrap the key for (repeatable)")
	cmd.Flags().BoolVar(&plain, "plain", false, "print the key in clear")
	cmd.Flags().BoolVar(&fingerprint, "fingerprint", false, "print the key's fingerprint, not the key, for dataset unseal --key-fingerprint")
	cmd.Flags().BoolVar(&record, "record", false, "record in the audit log the keyring's key of a dataset that no record names (a key kept from before keys were recorded), once")
	cmd.Flags().BoolVar(&all, "all", false, "with --record and no NAME: record every key of the keyring that no record names, listing each key")
	cmd.MarkFlagsMutuallyExclusive("fingerprint", "plain")
	cmd.MarkFlagsMutuallyExclusive("fingerprint", "age-recipient")
	cmd.MarkFlagsMutuallyExclusive("record", "plain")
	cmd.MarkFlagsMutuallyExclusive("record", "age-recipient")
	cmd.MarkFlagsMutuallyExclusive("record", "fingerprint")
	cmd.MarkFlagsMutuallyExclusive("record", "out")
	return cmd
}

// recordKey records the keyring's key of dataset name in the audit log
// when no record names a key of it (dataset.Keyring.Adopt).
func recordKey(cmd *cobra.Command, st state, name string) error {
	if err := dataset.CheckName(name); err != nil {
		return badInput(fmt.Errorf("NAME: %w", err))
	}
	db, err := st.auditStore(cmd.Context())
	if err != nil {
		return err
	}
	defer db.Close()
	key, err := st.keyring(db.keyWitness()).Adopt(cmd.Context(), name, "owner")
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(cmd.OutOrStdout(), "key %s of dataset %s is the one the audit log records\n", key.Fingerprint(), name); err != nil {
		return err
	}
	st.sharedKeyNote(cmd.ErrOrStderr(), name)
	return nil
}

// recordAllKeys is recordKey for every key of the keyring: each is listed
// with its fingerprint and outcome (recorded now, recorded already, or
// refused and why). A refused key stays refused, and the command fails
// after the listing when there is one.
func recordAllKeys(cmd *cobra.Command, st state) error {
	db, err := st.auditStore(cmd.Context())
	if err != nil {
		return err
	}
	defer db.Close()
	kr := st.keyring(db.keyWitness())
	names, err := kr.Names()
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if len(names) == 0 {
		_, err := fmt.Fprintf(w, "keyring %s holds no keys\n", kr.Dir)
		return err
	}
	var made, had, refused int
	var kept []string
	for _, name := range names {
		key, recorded, err := kr.AdoptRecorded(cmd.Context(), name, "owner")
		if err == nil {
			kept = append(kept, name)
		}
		switch {
		case err != nil:
			refused++
			fmt.Fprintf(w, "%-30s refused: %v\n", name, err)
		case recorded:
			made++
			fmt.Fprintf(w, "%-30s %s recorded now\n", name, key.Fingerprint())
		default:
			had++
			fmt.Fprintf(w, "%-30s %s recorded already\n", name, key.Fingerprint())
		}
	}
	fmt.Fprintf(w, "%d keys: %d recorded now, %d recorded already, %d refused\n", len(names), made, had, refused)
	st.sharedKeyNote(cmd.ErrOrStderr(), kept...)
	if refused > 0 {
		return fmt.Errorf("%d of the keyring's keys refused, each named above: a key that differs from its record is put back from a backup or changed through Meridian, never recorded over its record", refused)
	}
	return nil
}

func newDatasetSendKeyCmd() *cobra.Command {
	var cf clientFlags
	var out string
	cmd := &cobra.Command{
		Use:   "send-key NAME",
		Short: "Give a server the key of a dataset you registered there, so it can stage it for your runs",
		Long: `Send-key reads the dataset's key from your keyring ($MERIDIAN_HOME/keyring)
and hands it to the server for your tenant (over TLS when the server is not
on this machine). The server keeps it in your tenant's own keyring, gives it
only to your own runs' attempts, and records the key's fingerprint, never
the key, in the audit log. Register the dataset first with apply.

A key dataset add made (or dataset key --record recorded) is recorded in the
state directory's own audit log. A server started on the same state
directory with its own database reads that log and the same keyring (for the
directory's own tenant); a server that keeps its audit log in PostgreSQL
(serve --store postgres://…) confirms keys against that log only, and refuses
the key until it is sent with send-key.`,
		Example: `  meridian apply -f $MERIDIAN_HOME/datasets/chat-logs.yaml
  meridian dataset send-key chat-logs --server https://meridian.example:7420`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openState()
			if err != nil {
				return err
			}
			key, err := keyringKey(cmd, st, args[0])
			if err != nil {
				return badInput(err)
			}
			c, err := cf.client()
			if err != nil {
				return badInput(err)
			}
			// The consent to plain HTTP that let the token go (a
			// context's, MERIDIAN_INSECURE_HTTP, client.json's) was
			// given for a token, which can be revoked; whoever reads
			// the key reads the dataset, for good. Only this command's
			// own flag sends it in clear.
			if host, remote := plainRemote(c.Base); remote && !cf.insecureHTTP {
				return badInput(fmt.Errorf("--server %s: plain HTTP to %s, which is not this machine, would send the key of dataset %s across the network in clear, and whoever reads it reads the dataset; a consent to plain HTTP for the token (a context's insecureHTTP, MERIDIAN_INSECURE_HTTP, client.json) does not cover the key: use https://, or pass --insecure-http to send-key itself", redactedServer(c.Base), host, args[0]))
			}
			if err := c.PutKey(cmd.Context(), args[0], key.String()); err != nil {
				return apiErr(err)
			}
			res := map[string]string{"dataset": args[0], "server": c.Base}
			return render(cmd.OutOrStdout(), out, res, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "key of dataset %s stored at %s for your tenant\n", args[0], c.Base)
				return err
			})
		},
	}
	addClientFlags(cmd, &cf)
	cmd.Flags().Lookup("insecure-http").Usage = "send the token and the dataset key over plain HTTP to a server that is not on this machine; only this flag sends the key so (MERIDIAN_INSECURE_HTTP and a context's consent do not)"
	addOutputFlag(cmd, &out)
	return cmd
}
