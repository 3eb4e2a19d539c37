package main

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// nestedToken writes a 0600 token file three directories below a test
// directory (top/mid/own/lab.token), each directory 0700, and returns the
// file and the directories from the top down.
func nestedToken(t *testing.T) (file string, dirs []string) {
	t.Helper()
	top := filepath.Join(t.TempDir(), "top")
	mid := filepath.Join(top, "mid")
	own := filepath.Join(mid, "own")
	if err := os.MkdirAll(own, 0o700); err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(own, "lab.token")
	if err := os.WriteFile(file, []byte("lab-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, []string{top, mid, own}
}

// TestTokenFileUnderDirectoryOthersMayWriteRefused: only a token or key
// file's own directory was judged, and only by its owner: a directory
// above it that others may write (and that is not sticky), or that
// another user owns, lets them rename the file's directory away and put
// their own, with a token or key of theirs, in its place; the user then
// acted as their tenant, or sealed with their key. Each is now refused,
// naming the directory and the chmod that mends it; a sticky directory
// (as /tmp is) and the user's own 0700 ones are taken.
func TestTokenFileUnderDirectoryOthersMayWriteRefused(t *testing.T) {
	for i, mode := range []os.FileMode{0o777, 0o770, 0o702} {
		file, dirs := nestedToken(t)
		bad := dirs[i%len(dirs)]
		if err := os.Chmod(bad, mode); err != nil {
			t.Fatal(err)
		}
		if mode&0o002 == 0 {
			// Group write of a group that is not the user's own private
			// one (privateGroupOf).
			if os.Geteuid() != 0 {
				continue
			}
			if err := os.Chown(bad, -1, linkTestOther); err != nil {
				t.Fatal(err)
			}
		}
		want := "the directory " + bad + " above it lets others write in it (mode " + strconv.FormatUint(uint64(mode), 8) + ")"
		if tok, err := tokenFromLink(t, file); err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "chmod go-w "+bad) {
			t.Errorf("tokenFile below %s of mode %o: %q %v, want it refused saying %q and the chmod", bad, mode, tok, err, want)
		}
		if err := keyFromLink(t, file); err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), want) {
			t.Errorf("--key-file below %s of mode %o: %v, want it refused saying %q", bad, mode, err, want)
		}
		if _, err := os.Stat(file); err != nil {
			t.Errorf("the refused --key-file: %v, want it left in place", err)
		}
		// Sticky, as /tmp is: no one may rename what another owns there.
		if err := os.Chmod(bad, mode|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
		if tok, err := tokenFromLink(t, file); err != nil || tok != "lab-token" {
			t.Errorf("tokenFile below %s, sticky: %q %v, want it read", bad, tok, err)
		}
	}
	file, _ := nestedToken(t)
	if tok, err := tokenFromLink(t, file); err != nil || tok != "lab-token" {
		t.Errorf("tokenFile below the user's own 0700 directories: %q %v, want it read", tok, err)
	}
}

// TestTokenFileUnderDirectoryOfAnotherUserRefused: a directory above the
// file's own that another user owns (even 0755) is theirs to rename
// entries in: refused, naming it and its owner.
func TestTokenFileUnderDirectoryOfAnotherUserRefused(t *testing.T) {
	needRoot(t)
	file, dirs := nestedToken(t)
	if err := os.Chown(dirs[0], linkTestOther, linkTestOther); err != nil {
		t.Fatal(err)
	}
	want := "the directory " + dirs[0] + " above it is owned by uid " + strconv.Itoa(linkTestOther)
	if tok, err := tokenFromLink(t, file); err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), want) {
		t.Errorf("tokenFile below another user's directory: %q %v, want it refused saying %q", tok, err, want)
	}
	if err := keyFromLink(t, file); err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), want) {
		t.Errorf("--key-file below another user's directory: %v, want it refused saying %q", err, want)
	}
}

// TestConfigInDirectoryOthersMayWriteRefused: the configuration file was
// judged by its own mode and owner alone: in a directory others may write
// (not sticky), or below one, another user could rename it away and put
// their own in its place, choosing the server the token goes to, the
// token file and the catalog. Its context now chooses none of them, as
// for a file others may write, naming the directory and the chmod; and
// config set-context refuses to write it anew as this user's own.
func TestConfigInDirectoryOthersMayWriteRefused(t *testing.T) {
	cfgPath := isolatedConfig(t)
	dir := filepath.Dir(cfgPath)
	const evil = "https://evil.example:7420"
	body := "currentContext: lab\ncontexts:\n- name: lab\n  server: " + evil + "\n  token: kept-token\n"
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := (&clientFlags{}).client(); err != nil || c.Base != evil {
		t.Fatalf("the user's own file in the user's own directory: %v %+v", err, c)
	}
	for _, bad := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(bad, 0o777); err != nil {
			t.Fatal(err)
		}
		want := "the directory " + bad + " above it lets others write in it"
		_, err := (&clientFlags{}).client()
		if err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "chmod go-w "+bad) {
			t.Errorf("a context from a file below %s of mode 0777: %v, want it refused saying %q and the chmod", bad, err, want)
		}
		if out, code := runRoot(t, "config", "set-context", "lab", "--server", "https://mine.example"); code != exitBadInput || !strings.Contains(out, want) {
			t.Errorf("config set-context on a file below %s of mode 0777: exit %d, want %d naming it\n%s", bad, code, exitBadInput, out)
		}
		if b, err := os.ReadFile(cfgPath); err != nil || string(b) != body {
			t.Errorf("the file was rewritten (%v):\n%s", err, b)
		}
		if err := os.Chmod(bad, 0o700); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTokenFileUnderOwnPrivateGroupDirectoryTaken: with user private
// groups (Red Hat, Fedora, Debian) and umask 002, ~/.config is 0775, its
// group the user's own: the check refused the default configuration and
// every token file below it. Group write of the user's own private group
// (its primary group, named as the user is) is taken; another group's is
// not.
func TestTokenFileUnderOwnPrivateGroupDirectoryTaken(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Skip(err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil || g.Name != u.Username {
		t.Skipf("this user (%s) has no private group", u.Username)
	}
	gid, _ := strconv.Atoi(u.Gid)
	file, dirs := nestedToken(t)
	if err := os.Chown(dirs[1], -1, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dirs[1], 0o775); err != nil {
		t.Fatal(err)
	}
	if tok, err := tokenFromLink(t, file); err != nil || tok != "lab-token" {
		t.Errorf("tokenFile below a 0775 directory of the user's own private group: %q %v; want it read", tok, err)
	}
}
