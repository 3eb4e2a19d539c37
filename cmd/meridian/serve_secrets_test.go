package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/tlspin"
	"meridian.dev/meridian/statedir"
)

// secretsOpts are a server's options on state, confined by Landlock so
// that the directories above state need not let other users through.
func secretsOpts(state string) serverOptions {
	return serverOptions{StateDir: state, Listen: "127.0.0.1:0", Poll: 100 * time.Millisecond,
		SiteTimeout: 5 * time.Second, Log: io.Discard, Sandbox: "landlock"}
}

// writeKeyFile writes a 32-byte hex key, mode 0600, making its directory.
func writeKeyFile(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// wantRefused starts a server on opts and wants it refused with an error
// holding each of want.
func wantRefused(t *testing.T, name string, opts serverOptions, want ...string) {
	t.Helper()
	s, err := startServer(opts)
	if err == nil {
		s.Close()
		t.Errorf("%s: the server started", name)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: %v, want it to say %q", name, err, w)
		}
	}
}

// TestServeRefusesSecretsOthersMayReplace: serve refused a key others
// could read, but not one others could replace: a directory on its path
// that its group or anyone may write (without the sticky bit), the key
// reached through a link into such a directory. Whoever may replace the
// anchor key, the audit key or the TLS key signs the log or is the server
// to its pinned clients. Each start is refused naming the key, the
// directory and the chmod that ends it; the same files where only their
// owner may write start.
func TestServeRefusesSecretsOthersMayReplace(t *testing.T) {
	base := t.TempDir()

	// --audit-anchor in a directory its group may write.
	anchor := filepath.Join(base, "anchor")
	writeKeyFile(t, filepath.Join(anchor, audit.AnchorKeyFile))
	os.Chmod(anchor, 0o770)
	o := secretsOpts(filepath.Join(base, "s1"))
	o.AnchorDir = anchor
	wantRefused(t, "--audit-anchor of mode 0770", o, "audit anchor key", anchor+" (mode 0770) lets its group replace", "chmod go-w "+anchor)

	// A state directory below one anyone may write.
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o777)
	wantRefused(t, "state below a directory of mode 0777", secretsOpts(filepath.Join(open, "state")), "state directory", open+" (mode 0777) lets its group and others replace")

	// agent.key a link to a key in a directory others may write.
	elsewhere := filepath.Join(base, "elsewhere")
	writeKeyFile(t, filepath.Join(elsewhere, "agent.key"))
	os.Chmod(elsewhere, 0o703)
	s3 := filepath.Join(base, "s3")
	os.Mkdir(s3, 0o700)
	if err := os.Symlink(filepath.Join(elsewhere, "agent.key"), filepath.Join(s3, "agent.key")); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "agent.key linked into a directory of mode 0703", secretsOpts(s3), "agent key", elsewhere+" (mode 0703) lets others replace what is in it")

	// The same through a relative link with .. in it.
	s4 := filepath.Join(base, "s4")
	os.Mkdir(s4, 0o700)
	if err := os.Symlink("../elsewhere/./agent.key", filepath.Join(s4, "agent.key")); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "agent.key linked relatively", secretsOpts(s4), "agent key", elsewhere+" (mode 0703)")

	// --tls-key in a directory its group may write.
	tlsDir := filepath.Join(base, "tls")
	if _, _, _, _, err := tlspin.SelfSigned(tlsDir, []string{"localhost"}); err != nil {
		t.Fatal(err)
	}
	os.Chmod(tlsDir, 0o730)
	o = secretsOpts(filepath.Join(base, "s5"))
	o.TLSCert, o.TLSKey = filepath.Join(tlsDir, tlspin.CertFile), filepath.Join(tlsDir, tlspin.KeyFile)
	wantRefused(t, "--tls-key in a directory of mode 0730", o, "--tls-key", tlsDir+" (mode 0730)")

	// Where only their owner may write, the same files serve.
	for _, d := range []string{anchor, open, elsewhere, tlsDir} {
		os.Chmod(d, 0o700)
	}
	for name, o := range map[string]serverOptions{"anchor": {AnchorDir: anchor}, "linked agent.key": {StateDir: s3}, "relative link": {StateDir: s4}, "--tls-key": {TLSKey: o.TLSKey, TLSCert: o.TLSCert}} {
		so := secretsOpts(filepath.Join(base, "ok-"+strings.ReplaceAll(name, " ", "-")))
		so.AnchorDir, so.TLSCert, so.TLSKey = o.AnchorDir, o.TLSCert, o.TLSKey
		if o.StateDir != "" {
			so.StateDir = o.StateDir
		}
		s, err := startServer(so)
		if err != nil {
			t.Errorf("%s, writable by its owner only: %v", name, err)
			continue
		}
		s.Close()
	}
}

// TestServeRefusesSecretsOthersOwn: a key, a link to it or a directory on
// its path owned by a user other than the server's and root is that
// user's to replace (or to chmod). serve read such a key; now it refuses,
// naming the key, the owner and the way out.
func TestServeRefusesSecretsOthersOwn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making files owned by another user needs root")
	}
	const other = 65534
	base := t.TempDir()

	s1 := filepath.Join(base, "s1")
	writeKeyFile(t, filepath.Join(s1, audit.KeyFile))
	os.Chown(filepath.Join(s1, audit.KeyFile), other, other)
	wantRefused(t, "audit.key owned by another user", secretsOpts(s1), "audit key", filepath.Join(s1, audit.KeyFile)+" is owned by uid 65534", "chown 0 ")

	parent := filepath.Join(base, "theirs")
	os.Mkdir(parent, 0o755)
	os.Chown(parent, other, other)
	wantRefused(t, "state in a directory another user owns", secretsOpts(filepath.Join(parent, "state")), "state directory", parent+" is owned by uid 65534")

	s3 := filepath.Join(base, "s3")
	writeKeyFile(t, filepath.Join(base, "real.key"))
	os.Mkdir(s3, 0o700)
	link := filepath.Join(s3, "agent.key")
	os.Symlink(filepath.Join(base, "real.key"), link)
	os.Lchown(link, other, other)
	wantRefused(t, "agent.key a link another user owns", secretsOpts(s3), "agent key", link+" is owned by uid 65534")

	// Owned by root or by the server's user, they serve.
	os.Chown(filepath.Join(s1, audit.KeyFile), 0, 0)
	os.Lchown(link, 0, 0)
	for _, d := range []string{s1, s3} {
		s, err := startServer(secretsOpts(d))
		if err != nil {
			t.Errorf("%s: %v", d, err)
			continue
		}
		s.Close()
	}
}

// TestServeStartLooksAtEachPathOnce: the checks of serve's files looked at
// every directory above each file again for each file (and for each link
// into a directory, once more through the link): a catalog of many sites
// linked from one directory, several rule packs side by side, the state
// directory's secrets, each stat'ed the same directories up to the root.
// Within one start each path is now lstat'ed at most once.
func TestServeStartLooksAtEachPathOnce(t *testing.T) {
	base := t.TempDir()
	shared := filepath.Join(base, "shared")
	cat := filepath.Join(base, "conf", "sites")
	copyTree(t, "../../examples/demo/sites", shared)
	os.MkdirAll(cat, 0o755)
	sites, _ := filepath.Glob(filepath.Join(shared, "*"))
	for _, f := range sites {
		if err := os.Symlink(f, filepath.Join(cat, filepath.Base(f))); err != nil {
			t.Fatal(err)
		}
	}
	var ruleDirs []string
	for _, n := range []string{"a", "b", "c"} {
		d := filepath.Join(base, "conf", "rules", n)
		copyTree(t, "../../examples/demo/rules", d)
		ruleDirs = append(ruleDirs, d)
	}
	state := filepath.Join(base, "state")
	writeKeyFile(t, filepath.Join(state, audit.KeyFile))
	writeKeyFile(t, filepath.Join(state, "agent.key"))
	writeKeyFile(t, filepath.Join(state, "anchor", audit.AnchorKeyFile))

	lstats := map[string]int{}
	defer func(l func(string) (os.FileInfo, error)) { lstatPath = l }(lstatPath)
	lstatPath = func(p string) (os.FileInfo, error) { lstats[p]++; return os.Lstat(p) }

	opts := secretsOpts(state)
	opts.CatalogDir, opts.RuleDirs = cat, ruleDirs
	w := newPermWalk()
	if err := checkServeFiles(w, opts); err != nil {
		t.Fatal(err)
	}
	if err := w.checkSecrets(serveSecrets(opts, statedir.Dir{Path: state}, filepath.Join(state, "anchor"))); err != nil {
		t.Fatal(err)
	}
	if len(lstats) == 0 {
		t.Fatal("lstat'ed nothing: the checks no longer go through lstatPath")
	}
	for p, n := range lstats {
		if n > 1 {
			t.Errorf("lstat %s %d times in one start", p, n)
		}
	}
}

// TestServeLockFilesNotFollowed: serve opened serve.lock and client.lock
// following links, creating what they named: a link planted in the state
// directory as either made the server (root, often) create an empty file
// wherever it pointed, and it started. A FIFO as serve.lock was taken as
// a lock too. Each is refused, naming the lock file, and nothing is made
// where the link points.
func TestServeLockFilesNotFollowed(t *testing.T) {
	base := t.TempDir()
	for _, name := range []string{"serve.lock", "client.lock"} {
		state := filepath.Join(base, "state-"+name)
		os.Mkdir(state, 0o700)
		victim := filepath.Join(base, "made-by-"+name)
		if err := os.Symlink(victim, filepath.Join(state, name)); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, name+" a link", secretsOpts(state), filepath.Join(state, name), "symbolic link")
		if _, err := os.Lstat(victim); !os.IsNotExist(err) {
			t.Errorf("%s a link to %s: the server made it (%v)", name, victim, err)
		}
	}
	state := filepath.Join(base, "state-fifo")
	os.Mkdir(state, 0o700)
	if err := syscall.Mkfifo(filepath.Join(state, "serve.lock"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "serve.lock a FIFO", secretsOpts(state), filepath.Join(state, "serve.lock"), "a FIFO")
}

// TestServeSelfSignedFilesPlanted: the self-signed certificate's lock was
// opened following links, so a link as STATE/tls/lock made the server
// create what it named; and its certificate was read for its fingerprint
// unbounded and blocking, so a FIFO in its place held the start for good.
// Each is refused, naming the file.
func TestServeSelfSignedFilesPlanted(t *testing.T) {
	base := t.TempDir()
	state := filepath.Join(base, "state-lock")
	os.MkdirAll(filepath.Join(state, "tls"), 0o700)
	victim := filepath.Join(base, "made-by-lock")
	if err := os.Symlink(victim, filepath.Join(state, "tls", "lock")); err != nil {
		t.Fatal(err)
	}
	o := secretsOpts(state)
	o.SelfSigned = true
	wantRefused(t, "tls/lock a link", o, filepath.Join(state, "tls", "lock"), "symbolic link")
	if _, err := os.Lstat(victim); !os.IsNotExist(err) {
		t.Errorf("tls/lock a link to %s: the server made it (%v)", victim, err)
	}

	state = filepath.Join(base, "state-fifo")
	tlsDir := filepath.Join(state, "tls")
	if _, _, _, _, err := tlspin.SelfSigned(tlsDir, []string{"localhost"}); err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(tlsDir, tlspin.CertFile)
	os.Remove(cert)
	if err := syscall.Mkfifo(cert, 0o644); err != nil {
		t.Fatal(err)
	}
	o = secretsOpts(state)
	o.SelfSigned = true
	wantRefused(t, "tls/cert.pem a FIFO", o, cert, "a FIFO")
}

// TestServeStateDatabaseNotFollowed: SQLite opens the state database and
// its journals creating what is missing and following links, so a link
// planted as meridian.db or meridian.db-wal made the server create its
// database (or journal) wherever the link pointed, and it started. Each
// is refused, naming the file, and nothing is made where it points.
func TestServeStateDatabaseNotFollowed(t *testing.T) {
	base := t.TempDir()
	for _, name := range []string{"meridian.db", "meridian.db-wal"} {
		state := filepath.Join(base, "state-"+name)
		os.Mkdir(state, 0o700)
		victim := filepath.Join(base, "made-by-"+name)
		if err := os.Symlink(victim, filepath.Join(state, name)); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, name+" a link", secretsOpts(state), filepath.Join(state, name), "a link")
		if _, err := os.Lstat(victim); !os.IsNotExist(err) {
			t.Errorf("%s a link to %s: the server made it (%v)", name, victim, err)
		}
	}
}

// TestServeRefusesKeyringsOthersMayChange: serve checked the path to the
// keyring directories but nothing below them: a tenant's own keyring
// directory its group may write, a dataset key there another user owns, or
// a key that is a link into a directory anyone may write let that group or
// user put their key in place of the tenant's (staged data sealed for the
// attacker's key), and serve started. Each start is refused, naming the
// keyring, the path and the way out.
func TestServeRefusesKeyringsOthersMayChange(t *testing.T) {
	base := t.TempDir()
	state := filepath.Join(base, "state")
	tenantRing := filepath.Join(state, "tenants", "acme", "keyring")
	writeKeyFile(t, filepath.Join(tenantRing, "scans.key"))
	writeKeyFile(t, filepath.Join(state, "keyring", "own.key"))

	os.Chmod(tenantRing, 0o770)
	wantRefused(t, "a tenant's keyring of mode 0770", secretsOpts(state), "tenants' dataset keyrings", tenantRing+" (mode 0770) lets its group replace", "chmod go-w "+tenantRing)
	os.Chmod(tenantRing, 0o700)

	open := filepath.Join(base, "open")
	writeKeyFile(t, filepath.Join(open, "planted.key"))
	os.Chmod(open, 0o777)
	link := filepath.Join(state, "keyring", "linked.key")
	if err := os.Symlink(filepath.Join(open, "planted.key"), link); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "a key linked into a directory anyone may write", secretsOpts(state), "dataset keyring "+link, open+" (mode 0777)")
	os.Remove(link)

	if os.Geteuid() == 0 {
		key := filepath.Join(tenantRing, "scans.key")
		os.Chown(key, 65534, 65534)
		wantRefused(t, "a tenant's key another user owns", secretsOpts(state), "tenants' dataset keyrings", key+" is owned by uid 65534")
		os.Chown(key, 0, 0)
	}

	s, err := startServer(secretsOpts(state))
	if err != nil {
		t.Fatalf("keyrings only the server's user may change: %v", err)
	}
	s.Close()
}
