package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/store"
)

// TestStartRekeysDatasets: datasets registered under an earlier store key
// format (another spelling of their store) are moved to today's key when
// the server starts, before it serves: a second tenant registering the
// same data under today's spelling is refused again, and the owner's own
// registration stands. Two tenants' rows that would share one key keep
// theirs, and the start's log names both for the operator. Before, the
// old row's key was left as it was, and the second tenant registered the
// owner's data under today's key.
func TestStartRekeysDatasets(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o711) // workloads run as another user pass through
	}
	root := filepath.Join(dir, "data")
	state := filepath.Join(dir, "state")
	var logged lockedBuffer
	start := func(log io.Writer) *server { return startOnState(t, state, log, "file://"+root) }
	doc := func(name, store string) []run.Document {
		return []run.Document{{Name: "ds.yaml", Content: fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: Dataset
metadata: {name: %s}
spec: {origin: SG, classification: public, sizeBytes: 1000, store: %q}
`, name, store)}}
	}
	s := start(io.Discard)
	for _, tenant := range []string{"t1", "t3"} {
		name := "corpus"
		if tenant == "t3" {
			name = "shared"
		}
		if _, err := s.Ctl.Apply(ctx, tenant, doc(name, "file://"+root+"/"+name), false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Ctl.Apply(ctx, "t1", doc("shared", "file://"+root+"/shared"), false); err == nil {
		t.Fatal("t1 registered t3's data")
	}
	s.Close()

	// The rows as a registration before today's key format wrote them:
	// t1's corpus and t3's shared under old spellings, and t4's copy of
	// shared under a third, which today's key makes one with t3's.
	execInState(t, state, false,
		`UPDATE resources SET store_key = 'file://`+root+`/corpus/|corpus' WHERE tenant = 't1' AND name = 'corpus'`,
		`UPDATE resources SET store_key = 'file://`+root+`//shared|shared' WHERE tenant = 't3' AND name = 'shared'`,
		`INSERT INTO resources (tenant, kind, name, doc, hash, store_key, version, created_at, updated_at)
			SELECT 't4', kind, name, doc, hash, 'file://`+root+`/shared/.|shared', version, created_at, updated_at FROM resources WHERE tenant = 't3' AND name = 'shared'`,
		// A database from before the start recorded its key format.
		`DELETE FROM rekeys`,
	)

	s = start(&logged)
	defer s.Close()
	if _, err := s.Ctl.Apply(ctx, "t2", doc("corpus", "file://"+root+"/corpus"), false); err == nil || !strings.Contains(err.Error(), "registered already") {
		t.Errorf("after a start, another tenant registering t1's data under today's spelling: %v, want a conflict", err)
	}
	if _, err := s.Ctl.Apply(ctx, "t1", doc("corpus", "file://"+root+"/corpus"), false); err != nil {
		t.Errorf("the owner registering its data again: %v", err)
	}
	if r, err := s.Store.GetResource(ctx, "t1", "Dataset", "corpus"); err != nil || r.StoreKey != "file://"+root+"/corpus|corpus" {
		t.Errorf("t1's corpus after a start: %+v %v", r, err)
	}
	for tenant, k := range map[string]string{"t4": "/shared/.|shared", "t3": "//shared|shared"} {
		if r, err := s.Store.GetResource(ctx, tenant, "Dataset", "shared"); err != nil || r.StoreKey != "file://"+root+k {
			t.Errorf("%s's shared, one of a clash, after a start: %+v %v, want its key kept", tenant, r, err)
		}
	}
	var clash string
	for _, l := range strings.Split(logged.String(), "\n") {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, "different spellings") {
			clash = l
		}
	}
	for _, want := range []string{"=t3 ", "=t4 ", "dataset1=shared", "dataset2=shared", "//shared|shared", "/shared/.|shared"} {
		if !strings.Contains(clash, want) {
			t.Errorf("the start's warning of a clash %q does not name %q; log:\n%s", clash, want, logged.String())
		}
	}
}

// TestStartRekeysAPrivateLinkDataset: a dataset registered through an S3
// PrivateLink endpoint with a bucket before it was keyed, under key
// format 4, as the bucket "mydata.bucket" though AWS reads "mydata" there.
// A start under today's format moves its row to the bucket AWS reads, so
// a second tenant registering the same data under its plain spelling is
// refused; before, the row kept its old key and the second tenant
// registered the owner's data.
func TestStartRekeysAPrivateLinkDataset(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o711) // workloads run as another user pass through
	}
	state := filepath.Join(dir, "state")
	const (
		linked = "s3://xxx?endpoint=https://mydata.bucket.vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com&use_path_style=true"
		plain  = "s3://mydata?prefix=xxx/"
	)
	start := func() *server { return startOnState(t, state, io.Discard, linked, plain) }
	s := start()
	if _, err := s.Ctl.Apply(ctx, "t1", corpusDoc(linked), false); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// The row as a registration under key format 4 wrote it.
	execInState(t, state, true,
		`UPDATE resources SET store_key = 's3://mydata.bucket?prefix=xxx|corpus' WHERE tenant = 't1' AND name = 'corpus'`,
		`UPDATE rekeys SET format = 'store|name/4'`,
	)

	s = start()
	defer s.Close()
	if r, err := s.Store.GetResource(ctx, "t1", "Dataset", "corpus"); err != nil {
		t.Error(err)
	} else if r.StoreKey != "s3://mydata?prefix=xxx|corpus" {
		t.Errorf("t1's corpus after a start: key %q, want the key of the bucket AWS reads", r.StoreKey)
	}
	if _, err := s.Ctl.Apply(ctx, "t2", corpusDoc(plain), false); err == nil || !strings.Contains(err.Error(), "registered already") {
		t.Errorf("after a start, another tenant registering t1's data by its plain spelling: %v, want a conflict", err)
	}
}

// TestStartWarnsOfARelativeFileStore: a dataset registered, before the
// server refused them, with a relative file store (file://./data) was
// re-keyed at a start from the directory that start ran in, leaving the
// key its registration held free for another tenant, and the start said
// nothing of it though staging refuses it. Such a row now keeps its key,
// and each start warns naming the tenant, the dataset and what to do
// (register it again with an absolute store) until that is done.
func TestStartWarnsOfARelativeFileStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o711) // workloads run as another user pass through
	}
	root := filepath.Join(dir, "data")
	state := filepath.Join(dir, "state")
	elsewhere := filepath.Join(dir, "elsewhere")
	if err := os.Mkdir(elsewhere, 0o700); err != nil {
		t.Fatal(err)
	}
	start := func(log io.Writer) *server { return startOnState(t, state, log, "file://"+root) }
	s := start(io.Discard)
	if _, err := s.Ctl.Apply(ctx, "t1", corpusDoc("file://"+root+"/corpus"), false); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// The row as a registration from the directory dir once wrote it,
	// its document naming the store relatively.
	held := "file://" + root + "/corpus|corpus"
	execInState(t, state, false,
		`UPDATE resources SET doc = replace(doc, '"file://`+root+`/corpus"', '"file://./data/corpus"') WHERE tenant = 't1' AND name = 'corpus'`,
		`DELETE FROM rekeys`,
	)

	t.Chdir(elsewhere)
	for range 2 { // warned at each start until registered again
		var logged lockedBuffer
		s = start(&logged)
		r, err := s.Store.GetResource(ctx, "t1", "Dataset", "corpus")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(r.Doc), "file://./data/corpus") {
			t.Fatalf("the row's document was not made relative: %s", r.Doc)
		}
		if r.StoreKey != held {
			t.Errorf("a relative store's row after a start elsewhere: key %q, want %q kept", r.StoreKey, held)
		}
		var warned string
		for _, l := range strings.Split(logged.String(), "\n") {
			if strings.Contains(l, "level=WARN") && strings.Contains(l, "dataset=corpus") {
				warned = l
			}
		}
		for _, want := range []string{"tenant=t1", "file://./data/corpus", "register", "absolute"} {
			if !strings.Contains(warned, want) {
				t.Errorf("the start's warning %q does not name %q; log:\n%s", warned, want, logged.String())
			}
		}
		s.Close()
	}

	// Registered again with its store absolute: the next start is quiet.
	s = start(io.Discard)
	if _, err := s.Ctl.Apply(ctx, "t1", corpusDoc("file://"+root+"/corpus"), false); err != nil {
		t.Fatal(err)
	}
	s.Close()
	var logged lockedBuffer
	s = start(&logged)
	defer s.Close()
	if strings.Contains(logged.String(), "level=WARN") && strings.Contains(logged.String(), "dataset=corpus") {
		t.Errorf("a start after the dataset was registered again still warns:\n%s", logged.String())
	}
}

// execInState runs queries, in order, on the database of the state
// directory state (no server holding it): rows as an earlier server wrote
// them. With one, each query must change exactly one row.
func execInState(t *testing.T, state string, one bool, queries ...string) {
	t.Helper()
	key, err := audit.LoadKey(state)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenSQLite(context.Background(), statedir.Dir{Path: state}.Database(), store.Options{AuditKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range queries {
		res, err := db.DB().Exec(q)
		if err == nil && one {
			var n int64
			if n, err = res.RowsAffected(); err == nil && n != 1 {
				err = fmt.Errorf("%d rows changed, want 1", n)
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// corpusDoc is tenant documents registering the dataset corpus at store.
func corpusDoc(store string) []run.Document {
	return []run.Document{{Name: "ds.yaml", Content: fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: Dataset
metadata: {name: corpus}
spec: {origin: SG, classification: public, sizeBytes: 1000, store: %q}
`, store)}}
}

// startOnState starts a server on the state directory state, logging to
// log, that takes datasets in stores.
func startOnState(t *testing.T, state string, log io.Writer, stores ...string) *server {
	t.Helper()
	s, err := startServer(serverOptions{StateDir: state, Listen: "127.0.0.1:0", Poll: 100 * time.Millisecond, SiteTimeout: 5 * time.Second,
		Log: log, DatasetStores: stores})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
