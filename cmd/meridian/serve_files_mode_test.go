package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// repoCatalog is a copy of the repository's catalog directory src in a
// directory of the test's: serve refuses files others may change, and a
// checkout's owner and modes are the checker's, not the test's.
func repoCatalog(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	copyTree(t, src, dst)
	return dst
}

// copyTree copies the files of src (one level deep) into a new dir.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	es, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// serveFilesIn copies the demo's catalog and rules and the fleet's quotas
// into base, files 0644 in directories 0755.
func serveFilesIn(t *testing.T, base string) (cat, rules, quotas string) {
	t.Helper()
	cat = filepath.Join(base, "sites")
	copyTree(t, "../../examples/demo/sites", cat)
	rules = filepath.Join(base, "rules")
	copyTree(t, "../../examples/demo/rules", rules)
	quotas = filepath.Join(base, "quotas.yaml")
	b, err := os.ReadFile("../../examples/fleet/quotas.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(quotas, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return cat, rules, quotas
}

// TestServeRefusesFilesOthersMayWrite: the catalog (sites and their
// backends), rule packs and quotas decide where runs go, under what law
// and with what share; a file or directory among them that any local user
// may write lets that user change them. serve refuses to start on one,
// naming the flag and the path, as it refuses keys others may read.
func TestServeRefusesFilesOthersMayWrite(t *testing.T) {
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		os.Chmod(d, 0o711) // workloads run as another user pass through
	}
	cat, rules, quotas := serveFilesIn(t, base)
	ruleFiles, _ := filepath.Glob(filepath.Join(rules, "*"))
	catFiles, _ := filepath.Glob(filepath.Join(cat, "*"))
	for _, tc := range []struct{ flag, path string }{
		{"--catalog", cat}, {"--catalog", catFiles[0]}, {"--rules", rules}, {"--rules", ruleFiles[0]}, {"--quotas", quotas},
	} {
		os.Chmod(tc.path, 0o777)
		opts := serverOptions{StateDir: filepath.Join(t.TempDir(), "state"), Listen: "127.0.0.1:0", Poll: 100 * time.Millisecond,
			SiteTimeout: 5 * time.Second, Log: io.Discard, CatalogDir: cat, RuleDirs: []string{rules}, Quotas: quotas}
		s, err := startServer(opts)
		if err == nil {
			s.Close()
			t.Errorf("%s %s of mode 0777: the server started", tc.flag, tc.path)
		} else if !strings.Contains(err.Error(), tc.flag) || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), "others") {
			t.Errorf("%s %s of mode 0777: %v, want a refusal naming the flag and the path", tc.flag, tc.path, err)
		}
		mode := os.FileMode(0o644)
		if fi, _ := os.Stat(tc.path); fi.IsDir() {
			mode = 0o755
		}
		os.Chmod(tc.path, mode)
	}
	// As they were: the server starts.
	opts := serverOptions{StateDir: filepath.Join(t.TempDir(), "state"), Listen: "127.0.0.1:0", Poll: 100 * time.Millisecond,
		SiteTimeout: 5 * time.Second, Log: io.Discard, CatalogDir: cat, RuleDirs: []string{rules}, Quotas: quotas}
	s, err := startServer(opts)
	if err != nil {
		t.Fatalf("files only their owner may write: %v", err)
	}
	s.Close()
}

// TestServeFilesLinkedFromOthersDirectory: the check looked at the file
// or directory named and the directory holding the name, not where a link
// led nor the directories further up. A --quotas or catalog file that is
// a link to a file in a directory anyone may write, or a file below such
// a directory, let anyone put other quotas or sites in its place, and
// serve started on them. Each is refused naming the flag and the
// directory.
func TestServeFilesLinkedFromOthersDirectory(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o777) // as umask leaves it: o+w, no sticky bit
	b, err := os.ReadFile("../../examples/fleet/quotas.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(open, "quotas.yaml"), b, 0o644)
	conf := filepath.Join(base, "conf")
	os.Mkdir(conf, 0o755)
	linked := filepath.Join(conf, "quotas.yaml")
	os.Symlink(filepath.Join(open, "quotas.yaml"), linked)

	cat := filepath.Join(base, "sites")
	copyTree(t, "../../examples/demo/sites", cat)
	os.Symlink(filepath.Join(open, "quotas.yaml"), filepath.Join(cat, "zz-extra.yaml"))

	deep := filepath.Join(open, "etc", "meridian")
	os.MkdirAll(deep, 0o755)
	os.WriteFile(filepath.Join(deep, "quotas.yaml"), b, 0o644)

	for _, tc := range []struct {
		name string
		opts serverOptions
		flag string
	}{
		{"a linked --quotas", serverOptions{Quotas: linked}, "--quotas"},
		{"a link in --catalog", serverOptions{CatalogDir: cat}, "--catalog"},
		{"--quotas below an open directory", serverOptions{Quotas: filepath.Join(deep, "quotas.yaml")}, "--quotas"},
	} {
		err := checkServeFiles(newPermWalk(), tc.opts)
		if err == nil || !strings.HasPrefix(err.Error(), tc.flag+" ") || !strings.Contains(err.Error(), open+" (mode 0777) lets its group and others replace") {
			t.Errorf("%s: %v, want a refusal naming %s and %s", tc.name, err, tc.flag, open)
		}
	}
	// The same files where only their owner may change them pass.
	os.Chmod(open, 0o755)
	for _, o := range []serverOptions{{Quotas: linked}, {CatalogDir: cat}, {Quotas: filepath.Join(deep, "quotas.yaml")}} {
		if err := checkServeFiles(newPermWalk(), o); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	// A loop of links ends.
	loop := filepath.Join(base, "loop")
	os.Mkdir(loop, 0o755)
	os.Symlink(loop, filepath.Join(loop, "again"))
	if err := checkServeFiles(newPermWalk(), serverOptions{CatalogDir: loop}); err != nil {
		t.Errorf("a link back to its directory: %v", err)
	}
}

// TestServeFilesOthersMayChange: the catalog, rule packs and quota file
// were refused only when anyone could write them. A site file its group
// may write, a rule pack's directory its group may write, or a quota file
// another user owns (who may chmod it or write it at will) let that group
// or user change where runs go, under what law and with what share, and
// serve started. Each is refused now, as the secrets are, naming the flag,
// the path and the way out; the same files owned and written by the
// server's user alone serve.
func TestServeFilesOthersMayChange(t *testing.T) {
	base := t.TempDir()
	cat, rules, quotas := serveFilesIn(t, base)
	catFiles, _ := filepath.Glob(filepath.Join(cat, "*"))
	opts := serverOptions{CatalogDir: cat, RuleDirs: []string{rules}, Quotas: quotas}
	if err := checkServeFiles(newPermWalk(), opts); err != nil {
		t.Fatalf("files only their owner may write: %v", err)
	}
	for _, tc := range []struct {
		flag, path string
		mode       os.FileMode
		want       string
	}{
		{"--catalog", catFiles[0], 0o664, catFiles[0] + " (mode 0664) lets its group write it; run chmod go-w"},
		{"--rules", rules, 0o775, rules + " (mode 0775) lets its group replace what is in it"},
		{"--quotas", quotas, 0o620, quotas + " (mode 0620) lets its group write it"},
	} {
		old, _ := os.Stat(tc.path)
		os.Chmod(tc.path, tc.mode)
		err := checkServeFiles(newPermWalk(), opts)
		if err == nil || !strings.HasPrefix(err.Error(), tc.flag+" ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s of mode %04o: %v, want a refusal saying %q", tc.flag, tc.path, tc.mode, err, tc.want)
		}
		os.Chmod(tc.path, old.Mode().Perm())
	}
	if os.Geteuid() != 0 {
		return // files owned by another user need root to make
	}
	const other = 65534
	ruleFiles, _ := filepath.Glob(filepath.Join(rules, "*"))
	for _, p := range []string{ruleFiles[0], quotas} {
		os.Chown(p, other, other)
		err := checkServeFiles(newPermWalk(), opts)
		if err == nil || !strings.Contains(err.Error(), p+" is owned by uid 65534") {
			t.Errorf("%s owned by another user: %v, want a refusal naming its owner", p, err)
		}
		os.Chown(p, 0, 0)
	}
	if err := checkServeFiles(newPermWalk(), opts); err != nil {
		t.Fatalf("back to their owner: %v", err)
	}
}

// TestServeRefusesASiteKeyOthersMayReplace: a Slurm site's
// backend.recordKeyFile signs the records that say which jobs are the
// server's; the backend checks the file itself (mode, owner, no link), but
// not the directories above it, so a key in a directory another user may
// write could be swapped for theirs and the site's records forged. serve
// checks that path as it checks its own secrets, naming the site and the
// field.
func TestServeRefusesASiteKeyOthersMayReplace(t *testing.T) {
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		os.Chmod(d, 0o711)
	}
	keys := filepath.Join(base, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(keys, "record.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cat := filepath.Join(base, "sites")
	if err := os.Mkdir(cat, 0o755); err != nil {
		t.Fatal(err)
	}
	site := `apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: alpha}
spec:
  country: SG
  location: {lat: 1.33, lon: 103.70}
  operator: {name: test-dc, headquarters: SG}
  pools:
    - {accelerator: nvidia-h100-sxm, count: 8, available: 1, pricePerHour: 1.0, priceSource: "test value"}
  network: {egressPerGB: 0.08, gbps: 10}
  backend: {type: slurm, partition: site-a, gresType: h100, recordKeyFile: ` + key + `}
`
	if err := os.WriteFile(filepath.Join(cat, "sites.yaml"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(keys, 0o770) // its group may put another key in its place
	opts := serverOptions{StateDir: filepath.Join(t.TempDir(), "state"), Listen: "127.0.0.1:0", Poll: 100 * time.Millisecond,
		SiteTimeout: 5 * time.Second, Log: io.Discard, CatalogDir: cat}
	s, err := startServer(opts)
	if err == nil {
		s.Close()
		t.Fatalf("a site's record key in a directory its group may write: the server started")
	}
	if !strings.Contains(err.Error(), "site alpha backend.recordKeyFile") || !strings.Contains(err.Error(), keys) {
		t.Errorf("a site's record key in a directory its group may write: %v; want a refusal naming the site's field and the directory", err)
	}
}
