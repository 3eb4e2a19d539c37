package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/transfer"
)

// TestCLIStagingTakesTheStoreLease: `dataset stage` and the reconciliation
// `dataset ledger` makes take the lease of the site's store that a
// server's staging takes on the state directory's database. Beside a
// staging under way, the ledger leaves its open intent alone (reconciled,
// it recorded as abandoned chunks still crossing, which then reached the
// site with no record counting them), and a CLI staging waits for it.
func TestCLIStagingTakesTheStoreLease(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	siteStore, siteFile, _ := publicDatasetAndSite(t)
	// A command that writes the log opens (and anchors) it first.
	if _, err := runCLI(t, "dataset", "ledger"); err != nil {
		t.Fatal(err)
	}
	st, err := openState()
	if err != nil {
		t.Fatal(err)
	}
	db := openStateDB(t, st)
	defer db.Close()
	// A server's staging into the site's store: it holds the lease and
	// has recorded its intent for a chunk still crossing.
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, release, err := run.HoldStagingLease(ctx, db, siteStore, dataset.DefaultTenant, "server/1", 0, log)
	if err != nil {
		t.Fatal(err)
	}
	led := transfer.AuditLedger{Store: db}
	in := transfer.Intent{ID: "crossing", Entry: transfer.Entry{Kind: transfer.KindDataset, Dataset: "pub", Site: "test-site", From: "SG", To: "MY"},
		Objects: []transfer.Object{{Key: "meridian/pub/chunks/00", Bytes: 4096}}}
	if err := led.Append(ctx, dataset.DefaultTenant, transfer.KindIntent, "", in); err != nil {
		t.Fatal(err)
	}
	open := func() int {
		t.Helper()
		sums, err := transfer.Summarize(ctx, led, dataset.DefaultTenant)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, s := range sums {
			n += s.OpenIntents
		}
		return n
	}
	if _, err := runCLI(t, "dataset", "ledger", "-f", siteFile); err != nil {
		t.Fatal(err)
	}
	if n := open(); n != 1 {
		t.Fatalf("the ledger reconciled a staging's intent while it held the store: %d open intents, want 1", n)
	}
	stageWaitsFor(t, siteFile, release, "a CLI staging ran beside the server's")
	// Its reconciliation, first, closed the intent the server's left open.
	if n := open(); n != 0 {
		t.Errorf("%d open intents after the CLI staging", n)
	}
}

// testSiteFile writes, in dir, a Site test-site in MY whose store is
// storeURL, and returns the file's path.
func testSiteFile(t *testing.T, dir, storeURL string) string {
	t.Helper()
	path := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(path, []byte(`apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: test-site}
spec:
  country: MY
  location: {lat: 1.5, lon: 103.7}
  operator: {name: test-dc, headquarters: SG}
  pools: [{accelerator: nvidia-h100-sxm, count: 8, available: 8, pricePerHour: 2}]
  network: {egressPerGB: 0.08, gbps: 10}
  store: `+storeURL+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// publicDatasetAndSite registers a public dataset, pub, in MERIDIAN_HOME
// and writes a site, test-site, with a file store; it returns the store,
// the site's file and the dataset's source directory.
func publicDatasetAndSite(t *testing.T) (string, string, string) {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte(strings.Repeat("public record\n", 50000)), 0o644)
	siteStore := "file://" + filepath.Join(dir, "sitestore")
	siteFile := testSiteFile(t, dir, siteStore)
	if _, err := runCLI(t, "dataset", "add", "pub", "--from", src, "--origin", "SG", "--classification", "public"); err != nil {
		t.Fatal(err)
	}
	return siteStore, siteFile, src
}

// TestCLILedgerRefusedBesidePostgres: a server whose state is in PostgreSQL
// marks its state directory, and the CLI's commands that write the
// transfer ledger refuse it: they wrote a ledger of their own into the
// directory's SQLite database, which the servers never read (the bytes
// counted toward no volume threshold, and a server's staging found the
// chunks at the site and recorded none).
func TestCLILedgerRefusedBesidePostgres(t *testing.T) {
	db := pgtest.NewDatabase(t)
	home := t.TempDir()
	for _, d := range []string{filepath.Dir(home), home} {
		os.Chmod(d, 0o711) // workloads run as another user pass through
	}
	t.Setenv("MERIDIAN_HOME", home)
	opts := serverOptions{StateDir: home, Store: db, Listen: "127.0.0.1:0", Poll: 100 * time.Millisecond, SiteTimeout: 5 * time.Second, Log: io.Discard}
	s, err := startServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, siteFile, _ := publicDatasetAndSite(t)
	// dataset add recorded its key in the directory's own audit log (the
	// CLI's keyring is checked against it): the refused commands below
	// must leave that database as it is.
	before := dbFiles(t, home)
	_, err = runCLI(t, "dataset", "ledger")
	if err == nil || !strings.Contains(err.Error(), "PostgreSQL") || !strings.Contains(err.Error(), "/v1/datasets/NAME/stage") {
		t.Fatalf("dataset ledger beside servers on PostgreSQL: %v", err)
	}
	_, err = runCLI(t, "dataset", "stage", "pub", "--to", "test-site", "-f", siteFile)
	if err == nil || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Fatalf("dataset stage beside servers on PostgreSQL: %v", err)
	}
	if after := dbFiles(t, home); after != before {
		t.Errorf("a refused command wrote the state directory's database: %s, before %s", after, before)
	}
}

// dbFiles is a digest of the state directory's database files as they
// are, "" for none.
func dbFiles(t *testing.T, home string) string {
	t.Helper()
	h := sha256.New()
	found := false
	for _, suffix := range []string{"", "-wal", "-journal"} {
		b, err := os.ReadFile(filepath.Join(home, statedir.Database+suffix))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		found = true
		fmt.Fprintf(h, "%s:%d:", suffix, len(b))
		h.Write(b)
	}
	if !found {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestSQLiteServeKeepsSharedMark: a server started by mistake on the
// directory's own database, beside servers that keep their state in
// PostgreSQL, refuses and leaves their mark (statedir.SharedStore): it
// removed it, and the CLI's commands then wrote a ledger of their own that
// the servers never read, until one of them restarted. It says how to
// clear the mark deliberately, and looks at it only once it holds the
// directory's serve lock: a second server refused the lock answers that
// the directory is in use.
func TestSQLiteServeKeepsSharedMark(t *testing.T) {
	home := t.TempDir()
	for _, d := range []string{filepath.Dir(home), home} {
		os.Chmod(d, 0o711) // workloads run as another user pass through
	}
	t.Setenv("MERIDIAN_HOME", home)
	mark := filepath.Join(home, statedir.SharedStore)
	opts := serverOptions{StateDir: home, Listen: "127.0.0.1:0", Poll: 100 * time.Millisecond, SiteTimeout: 5 * time.Second, Log: io.Discard}
	first, err := startServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	// Servers on PostgreSQL start on the directory (as their start marks it).
	if err := markSharedStore(statedir.Dir{Path: home}, true); err != nil {
		t.Fatal(err)
	}
	_, err = startServer(opts)
	if err == nil || !strings.Contains(err.Error(), "in use by another meridian serve") {
		t.Errorf("a second server on a directory whose lock is held: %v", err)
	}
	if _, err := os.Stat(mark); err != nil {
		t.Fatalf("a server refused the directory's lock removed the mark first: %v", err)
	}
	first.Close()
	_, err = startServer(opts)
	if exitStatus(err) != exitBadInput || !strings.Contains(err.Error(), "PostgreSQL") || !strings.Contains(err.Error(), "remove "+mark) {
		t.Errorf("a server on the directory's own database beside servers on PostgreSQL: exit %d: %v", exitStatus(err), err)
	}
	if _, err := os.Stat(mark); err != nil {
		t.Fatalf("a server on the directory's own database removed the mark of servers on PostgreSQL: %v", err)
	}
	if _, err := runCLI(t, "dataset", "ledger"); err == nil || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Errorf("dataset ledger after a refused server: %v", err)
	}
	// The operator removes the mark: a server on the directory's own
	// database starts.
	if err := os.Remove(mark); err != nil {
		t.Fatal(err)
	}
	s, err := startServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// TestDatasetVerifyHoldsSiteToStagedVersion: `dataset verify --at SITE`
// holds the site's store to the version the ledger says the last staging
// put there. A host that puts back the version before it (a genuine
// manifest, whose chunks are all there and authenticate) is found out:
// verify read every chunk good.
func TestDatasetVerifyHoldsSiteToStagedVersion(t *testing.T) {
	manifest, old, siteFile := stageTwoVersions(t)
	if out, err := runCLI(t, "dataset", "verify", "pub", "--at", "test-site", "-f", siteFile); err != nil || !strings.Contains(out, "chunks good") {
		t.Fatalf("verify of the staged version: %v\n%s", err, out)
	}
	// The host puts the first version's manifest back.
	if err := os.WriteFile(manifest, old, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "dataset", "verify", "pub", "--at", "test-site", "-f", siteFile)
	if err == nil || !strings.Contains(out, "manifest replaced") {
		t.Errorf("verify of a site that holds an older version: %v\n%s", err, out)
	}
}

// TestStagingLeaseOneNameForEverySpelling: the staging lease of a site
// without spec.store is named after its store, which lies under the state
// directory. The server and the CLI name that directory alike however it
// was spelled (relative, or through a symlink): they took different
// leases, and a CLI staging ran beside a server's into the same store.
func TestStagingLeaseOneNameForEverySpelling(t *testing.T) {
	ctx := context.Background()
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		os.Chmod(d, 0o711) // workloads run as another user pass through
	}
	real := filepath.Join(base, "state")
	link := filepath.Join(base, "link")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	site := &catalog.Site{Metadata: catalog.Metadata{Name: "test-site"}}

	// A server started on the symlink, the CLI on a relative spelling.
	s, err := startServer(serverOptions{StateDir: link, Listen: "127.0.0.1:0", Poll: 100 * time.Millisecond, SiteTimeout: 5 * time.Second, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	served := s.Ctl.SiteStore(site)
	s.Close()
	t.Chdir(base)
	t.Setenv("MERIDIAN_HOME", "state")
	st, err := openState()
	if err != nil {
		t.Fatal(err)
	}
	if cli := run.SiteStore(st.Path, site); cli != served {
		t.Fatalf("one site's default store: the server names it %s, the CLI %s", served, cli)
	}

	// A staging holds the lease under the directory's real path; a CLI
	// `dataset stage` on the symlink waits for it.
	t.Setenv("MERIDIAN_HOME", link)
	_, siteFile, _ := publicDatasetAndSite(t)
	if err := os.WriteFile(siteFile, []byte(`apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: test-site}
spec:
  country: MY
  location: {lat: 1.5, lon: 103.7}
  operator: {name: test-dc, headquarters: SG}
  pools: [{accelerator: nvidia-h100-sxm, count: 8, available: 8, pricePerHour: 2}]
  network: {egressPerGB: 0.08, gbps: 10}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "dataset", "ledger"); err != nil {
		t.Fatal(err)
	}
	db := openStateDB(t, st)
	defer db.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, release, err := run.HoldStagingLease(ctx, db, run.SiteStore(real, site), dataset.DefaultTenant, "server/1", 0, log)
	if err != nil {
		t.Fatal(err)
	}
	stageWaitsFor(t, siteFile, release, "a CLI staging on another spelling of the state directory ran beside the server's")
}

// TestDatasetVerifyRefusedBesidePostgres: on a state directory whose
// servers keep their ledger in PostgreSQL (marked statedir.SharedStore),
// `dataset verify --at SITE` cannot learn from the directory's own
// database which version the last staging put at the site: the servers
// never write there. It read it anyway, and held the site to no version (a
// manifest put back passed) or to a stale one. It refuses, naming the
// server's route and --manifest-sha256, and verifies with the pin given.
func TestDatasetVerifyRefusedBesidePostgres(t *testing.T) {
	manifest, old, siteFile := stageTwoVersions(t)
	st, err := openState()
	if err != nil {
		t.Fatal(err)
	}
	pin, err := stagedManifest(context.Background(), st, "pub", "test-site")
	if err != nil || pin == "" {
		t.Fatalf("the staged version: %q %v", pin, err)
	}
	// The host puts the first version back, and the directory is now one
	// whose servers keep their state in PostgreSQL: its own ledger is not
	// theirs.
	if err := os.WriteFile(manifest, old, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := markSharedStore(st.Dir, true); err != nil {
		t.Fatal(err)
	}
	_, err = runCLI(t, "dataset", "verify", "pub", "--at", "test-site", "-f", siteFile)
	if exitStatus(err) != exitBadInput || !strings.Contains(err.Error(), "--manifest-sha256") || !strings.Contains(err.Error(), "/v1/datasets/pub/verify") {
		t.Fatalf("verify --at beside servers on PostgreSQL: exit %d: %v", exitStatus(err), err)
	}
	out, err := runCLI(t, "dataset", "verify", "pub", "--at", "test-site", "-f", siteFile, "--manifest-sha256", pin)
	if exitStatus(err) != exitError || !strings.Contains(out, "manifest replaced") {
		t.Errorf("verify --at --manifest-sha256 beside servers on PostgreSQL: exit %d: %v\n%s", exitStatus(err), err, out)
	}
}

// stageTwoVersions stages the public dataset pub to test-site, then a
// second version of it, under a fresh MERIDIAN_HOME: it returns the
// manifest's path at the site, the first version's manifest and the
// site's file.
func stageTwoVersions(t *testing.T) (manifest string, first []byte, siteFile string) {
	t.Helper()
	t.Setenv("MERIDIAN_HOME", t.TempDir())
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	siteStore, siteFile, root := publicDatasetAndSite(t)
	if _, err := runCLI(t, "dataset", "stage", "pub", "--to", "test-site", "-f", siteFile); err != nil {
		t.Fatal(err)
	}
	manifest = filepath.Join(strings.TrimPrefix(siteStore, "file://"), filepath.FromSlash(run.DataPrefix(dataset.DefaultTenant)+dataset.ManifestKey("pub")))
	first, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "b.txt"), []byte("a second version\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "dataset", "add", "pub", "--from", root, "--origin", "SG", "--classification", "public"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "dataset", "stage", "pub", "--to", "test-site", "-f", siteFile); err != nil {
		t.Fatal(err)
	}
	return manifest, first, siteFile
}

// stageWaitsFor runs `dataset stage pub --to test-site` while a staging
// lease is held: it must still wait a second later (else ran, the
// failure), and end well once release gives the lease back.
func stageWaitsFor(t *testing.T, siteFile string, release func(), ran string) {
	t.Helper()
	staged := make(chan error, 1)
	go func() {
		_, err := runCLI(t, "dataset", "stage", "pub", "--to", "test-site", "-f", siteFile)
		staged <- err
	}()
	select {
	case err := <-staged:
		release()
		t.Fatalf("%s (%v)", ran, err)
	case <-time.After(time.Second):
	}
	release()
	select {
	case err := <-staged:
		if err != nil {
			t.Fatalf("the CLI staging after the server's: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the CLI staging still waits after the server's ended")
	}
}
