package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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
	if err := os.Chmod(sticky, 0o1777); err != nil {
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
	for _, p := range []string{"sub/rel", "chain", "conf/prod.token", "sub/back", "sub/../chain"} {
		if tok, err := tokenFromLink(t, filepath.Join(dir, p)); err != nil || tok != "prod-token" {
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
