package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"meridian.dev/meridian/seal"
)

// linkTestOther is the user id the link tests give files to: one no
// account uses.
const linkTestOther = 4242

// needRoot skips a test that gives files to another user, which only root
// may.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a link or a directory to another user")
	}
}

// ownToken writes this user's token for another server (a production
// one) into a directory of this user's, 0600, and returns its path.
func ownToken(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "prod.token")
	if err := os.WriteFile(p, []byte("prod-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tokenFromLink is the token of a context whose tokenFile is name, and a
// --key-file read of name (kept, unless keep is false).
func tokenFromLink(t *testing.T, name string) (string, error) {
	t.Helper()
	x := &cliContext{Name: "lab", TokenFile: name, file: filepath.Join(t.TempDir(), "config.yaml"), perm: 0o600, owner: geteuid()}
	return x.token()
}

func keyFromLink(t *testing.T, name string) error {
	t.Helper()
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	_, err := (&keyFlags{keyFile: name}).read(nil, state{}, "logs")
	return err
}

// TestTokenFileLinkOfAnotherUserRefused: a token file or --key-file was
// read with its links resolved first (filepath.EvalSymlinks) and the file
// they led to opened: a link another user put in a sticky directory, such
// as /tmp (`ln -s ~alice/.config/meridian/prod.token /tmp/lab.token`),
// which the kernel refuses to follow for anyone but its owner
// (fs.protected_symlinks), was followed all the same, and alice's
// production token went to the lab server her lab context names. A link
// owned by a user other than this one and root is now refused, naming
// it and its owner; nothing is read through it, and a --key-file so
// reached is left in place, the link and the file it leads to.
func TestTokenFileLinkOfAnotherUserRefused(t *testing.T) {
	needRoot(t)
	target := ownToken(t)
	sticky := t.TempDir()
	if err := os.Chmod(sticky, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(sticky, "lab.token")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, linkTestOther, linkTestOther); err != nil {
		t.Fatal(err)
	}
	want := "the link " + link + " on the way to it is owned by uid " + strconv.Itoa(linkTestOther)
	if tok, err := tokenFromLink(t, link); err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), want) {
		t.Errorf("tokenFile through another user's link in a sticky directory: %q %v, want it refused saying %q", tok, err, want)
	}
	if err := keyFromLink(t, link); err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), want) {
		t.Errorf("--key-file through another user's link: %v, want it refused saying %q", err, want)
	}
	for _, p := range []string{link, target} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("the refused --key-file's %s: %v, want it left in place", p, err)
		}
	}
}

// TestTokenFileLinkInDirectoryOfAnotherUserRefused: only the directory
// of the file a token file's links led to was judged, not those the links
// lay in: a link of this user's, or root's, in a directory another user
// owns (who may replace it at will), leading to any file of this user's,
// passed, through a chain of links or a linked directory on the way too.
// A link lying in a directory owned by a user other than this one and
// root is now refused, naming the link and the directory.
func TestTokenFileLinkInDirectoryOfAnotherUserRefused(t *testing.T) {
	needRoot(t)
	target := ownToken(t)
	theirs := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(theirs, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(theirs, "lab.token")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	dirLink := filepath.Join(theirs, "conf")
	if err := os.Symlink(filepath.Dir(target), dirLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(theirs, linkTestOther, linkTestOther); err != nil {
		t.Fatal(err)
	}
	// A chain: this user's link, in this user's directory, to the link
	// in theirs.
	chain := filepath.Join(t.TempDir(), "lab.token")
	if err := os.Symlink(link, chain); err != nil {
		t.Fatal(err)
	}
	lies := " on the way to it lies in " + theirs + ", owned by uid " + strconv.Itoa(linkTestOther)
	for _, c := range []struct{ name, path, link string }{
		{"a link in their directory", link, link},
		{"a chain of links through their directory", chain, link},
		{"a directory linked from theirs", filepath.Join(dirLink, "prod.token"), dirLink},
	} {
		want := "the link " + c.link + lies
		if tok, err := tokenFromLink(t, c.path); err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), want) {
			t.Errorf("tokenFile through %s: %q %v, want it refused saying %q", c.name, tok, err, want)
		}
		if err := keyFromLink(t, c.path); err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), want) {
			t.Errorf("--key-file through %s: %v, want it refused saying %q", c.name, err, want)
		}
	}
	if _, err := os.Stat(target); err != nil {
		t.Errorf("the file the refused links led to: %v, want it left in place", err)
	}
}

// TestTokenFileOwnLinksFollowed: links of this user's own, in this user's
// directories, are followed as before: a chain, a relative link with ..,
// a linked directory. Over 40 links on the way is refused, as the kernel
// refuses them (ELOOP), naming the path.
func TestTokenFileOwnLinksFollowed(t *testing.T) {
	target := ownToken(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(filepath.Join(dir, "sub"), target)
	if err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"sub/rel":  rel,
		"chain":    filepath.Join(dir, "sub", "rel"),
		"conf":     filepath.Dir(target),
		"sub/back": "../chain",
	}
	for name, to := range links {
		if err := os.Symlink(to, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	// Joined as text, not by filepath.Join, which would clean "..": the
	// walk resolves it, after a link as the kernel does (conf/.. is the
	// parent of the directory conf leads to, not dir).
	up := "conf/../" + filepath.Base(filepath.Dir(target)) + "/prod.token"
	for _, p := range []string{"sub/rel", "chain", "conf/prod.token", "sub/back", "sub/../chain", "sub/./../chain", up} {
		if tok, err := tokenFromLink(t, dir+"/"+p); err != nil || tok != "prod-token" {
			t.Errorf("tokenFile %s through this user's own links: %q %v, want the token", p, tok, err)
		}
	}

	loop := filepath.Join(dir, "loop")
	if err := os.Symlink("loop", loop); err != nil {
		t.Fatal(err)
	}
	if tok, err := tokenFromLink(t, loop); err == nil || !strings.Contains(err.Error(), "over 40 links") {
		t.Errorf("tokenFile through a loop of links: %q %v, want it refused, over 40 links", tok, err)
	}
}

// TestKeyFileThroughLinkRemovedWhereItLies: a --key-file reached through
// a link was removed by its name once read: the link went, and the key
// it led to stayed, in clear, for whoever reads it later. The file read
// is now removed, and the link to it.
func TestKeyFileThroughLinkRemovedWhereItLies(t *testing.T) {
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(real, []byte(key.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "key")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := keyFromLink(t, link); err != nil {
		t.Fatalf("--key-file through this user's own link: %v", err)
	}
	for _, p := range []string{real, link} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("--key-file read through a link: %s %v, want it removed", p, err)
		}
	}
}

// writeClearKey writes a new key in clear, 0600, at p and returns it.
func writeClearKey(t *testing.T, p string) seal.Key {
	t.Helper()
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(key.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return key
}

// TestKeyFileRelativeFromLinkedDirectory: a relative --key-file was
// joined to $PWD, which names the working directory through the link it
// was entered by, and cleaned as text: ../key from a directory entered
// through a link named the file beside the link, not the one the kernel
// reads from there, and that file, another key, was then removed. It is
// now joined to the kernel's working directory, its ".." resolved by the
// walk: the key read and removed is the kernel's ../key.
func TestKeyFileRelativeFromLinkedDirectory(t *testing.T) {
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	real := t.TempDir()
	if err := os.Mkdir(filepath.Join(real, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	want := writeClearKey(t, filepath.Join(real, "key"))
	other := t.TempDir()
	beside := filepath.Join(other, "key")
	writeClearKey(t, beside)
	link := filepath.Join(other, "job")
	if err := os.Symlink(filepath.Join(real, "sub"), link); err != nil {
		t.Fatal(err)
	}
	t.Chdir(link)
	t.Setenv("PWD", link) // as a shell that entered it by "cd job" sets it
	got, err := (&keyFlags{keyFile: "../key"}).read(nil, state{}, "logs")
	if err != nil {
		t.Fatalf("--key-file ../key from %s: %v", link, err)
	}
	if got.String() != want.String() {
		t.Errorf("--key-file ../key from %s read another key than the kernel's ../key (%s)", link, filepath.Join(real, "key"))
	}
	if _, err := os.Stat(filepath.Join(real, "key")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the key read, %s: %v, want it removed", filepath.Join(real, "key"), err)
	}
	if _, err := os.Stat(beside); err != nil {
		t.Errorf("the file beside the link, %s, not read: %v, want it left in place", beside, err)
	}
}

// TestKeyFileLinkNotRemovedKeyKept: the key a --key-file's link leads to
// was removed first, and the link then: where the link's removal failed
// (/dev/stdin, a link in a directory this user may not write) the
// command failed with the key already gone. The link goes first now; where
// that fails the command fails and the key is left, to be read again.
func TestKeyFileLinkNotRemovedKeyKept(t *testing.T) {
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	real := filepath.Join(t.TempDir(), "key")
	writeClearKey(t, real)
	link := filepath.Join(t.TempDir(), "key")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	// Root may remove a link from any directory: fail it as a directory
	// this user may not write fails it for others.
	old := removeLink
	t.Cleanup(func() { removeLink = old })
	removeLink = func(name string) error {
		return &os.PathError{Op: "remove", Path: name, Err: unix.EACCES}
	}
	_, err := (&keyFlags{keyFile: link}).read(nil, state{}, "logs")
	if err == nil || !errors.Is(err, unix.EACCES) || !strings.Contains(err.Error(), "left in place") {
		t.Errorf("--key-file whose link cannot be removed: %v, want the removal's error, saying the key is left in place", err)
	}
	for _, p := range []string{real, link} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("--key-file whose link cannot be removed: %s %v, want it left in place", p, err)
		}
	}
}

// TestKeyFileNonDirectoryMidPathRefused: the walk took key/ (a trailing
// slash) and file/.. as the file and its directory, where the kernel
// refuses both (ENOTDIR); through a link to a file too. A part that is
// not a directory with more of the path after it is refused now.
func TestKeyFileNonDirectoryMidPathRefused(t *testing.T) {
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	writeClearKey(t, key)
	if err := os.Symlink(key, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{key + "/", key + "/..", key + "/../key", dir + "/link/", dir + "/link/.."} {
		_, err := (&keyFlags{keyFile: p, keepKeyFile: true}).read(nil, state{}, "logs")
		if !errors.Is(err, unix.ENOTDIR) {
			t.Errorf("--key-file %s: %v, want it refused, not a directory (as the kernel does)", p, err)
		}
		if _, kerr := os.Open(p); !errors.Is(kerr, unix.ENOTDIR) {
			t.Errorf("the kernel's open of %s: %v, want ENOTDIR (the test's premise)", p, kerr)
		}
	}
	if _, err := os.Stat(key); err != nil {
		t.Errorf("the key: %v, want it left in place", err)
	}
}

// TestKeyFileDirectorySwappedForLinkRefused: the directory of the file
// the walk found was opened by its path with O_NOFOLLOW, which covers
// only the last part: a directory on the path swapped for a link after
// the walk (by whoever may write its parent) was followed, and the file
// read where the link led. Each part is now opened following no link
// (openat2 RESOLVE_NO_SYMLINKS, or openat part by part on a kernel
// without it), and a link found is refused, saying the path changed.
func TestKeyFileDirectorySwappedForLinkRefused(t *testing.T) {
	// No openat2: a kernel before 5.6 (ENOSYS), a seccomp filter that
	// predates it (EPERM).
	for _, no := range []error{nil, unix.ENOSYS, unix.EPERM} {
		t.Run(map[error]string{nil: "openat2", unix.ENOSYS: "openat ENOSYS", unix.EPERM: "openat EPERM"}[no], func(t *testing.T) {
			t.Setenv("MERIDIAN_DATASET_KEY", "")
			if no != nil {
				old := openat2
				t.Cleanup(func() { openat2 = old })
				openat2 = func(int, string, *unix.OpenHow) (int, error) { return -1, no }
			}
			shared := t.TempDir()
			mid := filepath.Join(shared, "mid")
			if err := os.MkdirAll(filepath.Join(mid, "sub"), 0o700); err != nil {
				t.Fatal(err)
			}
			writeClearKey(t, filepath.Join(mid, "sub", "key"))
			elsewhere := t.TempDir()
			if err := os.Mkdir(filepath.Join(elsewhere, "sub"), 0o700); err != nil {
				t.Fatal(err)
			}
			planted := filepath.Join(elsewhere, "sub", "key")
			writeClearKey(t, planted)
			// A path with no link on it is read, either way.
			if kf, err := readOwned(planted, maxKeyBytes); err != nil || kf.problem != "" || len(kf.data) == 0 {
				t.Fatalf("readOwned(%s), a path with no link: %q %v, want the key", planted, kf.problem, err)
			}
			old := walked
			t.Cleanup(func() { walked = old })
			walked = func(string) {
				if err := os.Rename(mid, mid+".old"); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(elsewhere, mid); err != nil {
					t.Fatal(err)
				}
			}
			_, err := (&keyFlags{keyFile: filepath.Join(mid, "sub", "key")}).read(nil, state{}, "logs")
			if err == nil || !strings.Contains(err.Error(), "replaced by a link") {
				t.Errorf("--key-file whose directory was swapped for a link after the walk: %v, want it refused, saying the path changed", err)
			}
			if _, err := os.Stat(planted); err != nil {
				t.Errorf("the file the link led to, %s: %v, want it neither read nor removed", planted, err)
			}
		})
	}
}

// TestKeyFileReplacedAfterReadNotRemoved: the file read is removed only
// while its name still holds it: another renamed onto the name since is
// left in place, and the command says so.
func TestKeyFileReplacedAfterReadNotRemoved(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "key")
	writeClearKey(t, p)
	kf, err := readOwnedDir(p, maxKeyBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer kf.close()
	writeClearKey(t, p+".new")
	if err := os.Rename(p+".new", p); err != nil {
		t.Fatal(err)
	}
	if err := removeKeyFile(p, kf); err == nil || !strings.Contains(err.Error(), "another file was put in its place") {
		t.Errorf("removeKeyFile after another file was renamed onto the key's name: %v, want it refused", err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Errorf("the file renamed onto the key's name: %v, want it left in place", err)
	}
}
