package run

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/internal/testplan"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// fakeS3 is one bucket ("bkt") of an S3 server held in memory: as much of
// S3 as a checkpoint's copy asks of a site's store (path-style listing,
// GET, HEAD, PUT, DELETE). While fail is set it answers every request 500,
// as a store that is down for a while does; while refuse is set it
// answers 403, as a store that no longer lets the server in does.
type fakeS3 struct {
	mu     sync.Mutex
	objs   map[string][]byte
	fail   atomic.Bool
	refuse atomic.Bool
	reqs   atomic.Int64
	// onPut, when set, is called with the key of each PUT before it is
	// stored (outside the lock: other requests go on meanwhile).
	onPut atomic.Pointer[func(key string)]
	// onReq, when set, is called with each request before it is answered.
	onReq atomic.Pointer[func(r *http.Request)]
}

func (f *fakeS3) s3Error(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>test store</Message><Resource>%s</Resource></Error>`, code, "bkt")
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.reqs.Add(1)
	if hook := f.onReq.Load(); hook != nil {
		(*hook)(r)
	}
	if f.fail.Load() {
		f.s3Error(w, http.StatusInternalServerError, "InternalError")
		return
	}
	if f.refuse.Load() {
		f.s3Error(w, http.StatusForbidden, "AccessDenied")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/bkt")
	if !ok {
		f.s3Error(w, http.StatusNotFound, "NoSuchBucket")
		return
	}
	key := strings.TrimPrefix(rest, "/")
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case key == "" && r.Method == http.MethodGet:
		prefix := r.URL.Query().Get("prefix")
		var keys []string
		for k := range f.objs {
			if strings.HasPrefix(k, prefix) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>`, prefix, len(keys))
		for _, k := range keys {
			fmt.Fprintf(w, `<Contents><Key>%s</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"%s"</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass></Contents>`, k, etag(f.objs[k]), len(f.objs[k]))
		}
		fmt.Fprint(w, `</ListBucketResult>`)
	case key == "":
		f.s3Error(w, http.StatusNotImplemented, "NotImplemented")
	case r.Method == http.MethodPut:
		if hook := f.onPut.Load(); hook != nil {
			f.mu.Unlock()
			(*hook)(key)
			f.mu.Lock()
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			f.s3Error(w, http.StatusBadRequest, "IncompleteBody")
			return
		}
		f.objs[key] = b
		w.Header().Set("ETag", `"`+etag(b)+`"`)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		b, ok := f.objs[key]
		if !ok {
			f.s3Error(w, http.StatusNotFound, "NoSuchKey")
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("ETag", `"`+etag(b)+`"`)
		w.Header().Set("Last-Modified", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat))
		if r.Method == http.MethodGet {
			w.Write(b)
		}
	case r.Method == http.MethodDelete:
		delete(f.objs, key)
		w.WriteHeader(http.StatusNoContent)
	default:
		f.s3Error(w, http.StatusNotImplemented, "NotImplemented")
	}
}

func etag(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// ckMoveFixture is a controller stepped by hand whose site bravo keeps its
// store in a fakeS3, and a run moving from alpha to bravo with a sealed
// checkpoint in alpha's store.
type ckMoveFixture struct {
	c   *Controller
	st  *store.SQLite
	s3  *fakeS3
	clk *clock
	r   *Run
	ck  *Checkpoint
}

func newCkMoveFixture(t *testing.T) *ckMoveFixture {
	t.Helper()
	return newCkMoveFixtureWith(t, nil, jobDoc(100, 10))
}

// newCkMoveFixtureWith is newCkMoveFixture with mod applied to the
// controller's configuration, and doc submitted.
func newCkMoveFixtureWith(t *testing.T, mod func(*Config), doc Document) *ckMoveFixture {
	t.Helper()
	return newCkMoveFixtureFor(t, mod, func(*Config) Document { return doc })
}

// newCkMoveFixtureFor is newCkMoveFixtureWith with the document made for
// the controller's configuration (a dataset in its state directory's
// store, say).
func newCkMoveFixtureFor(t *testing.T, mod func(*Config), docFor func(*Config) Document) *ckMoveFixture {
	t.Helper()
	// One request per S3 call: the client's own retries (ten, backing off
	// to a second) would only slow the test down.
	old := minio.MaxRetry
	minio.MaxRetry = 1
	t.Cleanup(func() { minio.MaxRetry = old })
	f := &ckMoveFixture{s3: &fakeS3{objs: map[string][]byte{}}, clk: &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}}
	srv := httptest.NewServer(f.s3)
	t.Cleanup(srv.Close)
	sites, err := os.ReadFile("testdata/sites/sites.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// bravo's store is the fake S3's bucket.
	cat := strings.Replace(string(sites), "  country: MY\n", "  country: MY\n  store: \"s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint="+srv.URL+"\"\n", 1)
	if cat == string(sites) {
		t.Fatal("test sites changed: bravo not found")
	}
	catDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(catDir, "sites.yaml"), []byte(cat), 0o644); err != nil {
		t.Fatal(err)
	}
	st, dir := testStore(t)
	f.st = st
	cfg := Config{Store: st, StateDir: dir, CatalogDir: catDir, Plan: testplan.Cheapest, Now: f.clk.Now, HoldRetry: time.Second,
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		}}
	cfg.Stager = &transfer.Stager{Law: transfer.BasisLaw{}, Keys: dataset.TenantKeyrings{Root: dir}, Ledger: transfer.AuditLedger{Store: st}, Now: f.clk.Now}
	agentConfig(t, &cfg, func() *Controller { return f.c })
	// An attempt a step started at a site runs as a local job under dir:
	// ended before dir is removed, as in newEnv, and before the agents'
	// server (registered just above) closes, so that their agents report
	// their stops.
	t.Cleanup(func() { endLocalJobs(t, dir) })
	if mod != nil {
		mod(&cfg)
	}
	f.c = New(cfg)
	ctx := context.Background()
	r, _, err := f.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{docFor(&cfg)}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != "alpha" {
		t.Fatalf("the run is placed at %s; the test wants alpha", r.Site)
	}
	// A sealed checkpoint in alpha's store, as an agent there pushes one.
	key, err := f.c.runKeys().GetOrCreate(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	name := "ckpt-" + r.ID + "-a1-40"
	sealer, err := seal.New(key, name)
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "weights.bin"), []byte(strings.Repeat("weights at step 40\n", 4000)), 0o644); err != nil {
		t.Fatal(err)
	}
	alpha, err := f.c.Site("alpha")
	if err != nil {
		t.Fatal(err)
	}
	b, err := dataset.OpenStore(ctx, f.c.SiteStore(alpha))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	res, err := dataset.Add(ctx, dataset.AddOptions{Name: name, Root: src, Store: b.Sub(CheckpointPrefix("t1")), Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	f.ck = &Checkpoint{Step: 40, Name: name, Path: "step-40", Site: "alpha", SHA256: res.ManifestSHA256, Bytes: res.Bytes}
	// The run as the loss of alpha leaves it: moving to bravo, its
	// checkpoint in alpha's store.
	r, err = f.c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		r.Attempt = 1
		r.Attempts = []Attempt{{N: 1, Site: r.Site, Nonce: newNonce(), OwnCheckpointNames: true}}
		r.Checkpoint = f.ck
		pl := r.Placement
		pl.Site, pl.Country = "bravo", "MY"
		r.Migration = &Migration{From: r.Site, Reason: "test: alpha lost", LostAt: f.clk.Now(), Target: &pl, AsOf: f.c.today().String()}
		return transition(ch, r, Migrating, "test: alpha lost")
	})
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	return f
}

func (f *ckMoveFixture) step(t *testing.T) *Run {
	t.Helper()
	ctx := context.Background()
	if _, err := f.c.Step(ctx, f.r.ID); err != nil {
		t.Logf("step: %v", err)
	}
	r, err := f.c.Get(ctx, "t1", f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func eventsOf(t *testing.T, c *Controller, id, kind string) []string {
	t.Helper()
	evs, err := c.Events(context.Background(), "t1", id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if ev.Kind == kind {
			out = append(out, ev.Reason)
		}
	}
	return out
}

// TestCheckpointKeptWhileTheTargetStoreFails: the target's store answering
// 500 while the checkpoint is copied to it does not cost the run its
// checkpoint. The move is tried again after a wait (and not before), the
// timeline says so, and once the store answers the checkpoint moves and
// the run resumes from it. One such error made the run start over from the
// beginning, throwing away (and paying again for) every hour before the
// checkpoint.
func TestCheckpointKeptWhileTheTargetStoreFails(t *testing.T) {
	f := newCkMoveFixture(t)
	f.s3.fail.Store(true)
	r := f.step(t)
	if r.State != Migrating || r.Checkpoint == nil || *r.Checkpoint != *f.ck {
		t.Fatalf("after a 500 from bravo's store: %s, checkpoint %+v (%s); want still moving, with the checkpoint %+v", r.State, r.Checkpoint, r.Reason, f.ck)
	}
	if r.Migration == nil || r.Migration.MoveTries != 1 || !r.Migration.MoveNext.After(f.clk.Now()) {
		t.Fatalf("migration %+v: want one failed try and the next one later", r.Migration)
	}
	if got := eventsOf(t, f.c, r.ID, "checkpoint-move-failed"); len(got) != 1 || !strings.Contains(got[0], "kept") || !strings.Contains(got[0], "try 1 of") {
		t.Errorf("timeline's checkpoint-move-failed: %q; want one saying the checkpoint is kept and the copy tried again", got)
	}
	// Before its time the copy is not tried again.
	before := f.s3.reqs.Load()
	if r = f.step(t); f.s3.reqs.Load() != before || r.Migration == nil || r.Migration.MoveTries != 1 {
		t.Fatalf("a step before the retry's time sent the store %d requests (tries %+v)", f.s3.reqs.Load()-before, r.Migration)
	}
	// The store answers again, and the time has come.
	f.s3.fail.Store(false)
	f.clk.set(r.Migration.MoveNext.Add(time.Second))
	r = f.step(t)
	if r.State != Staging || r.Attempt != 2 || r.Checkpoint == nil || r.Checkpoint.Site != "bravo" || r.Checkpoint.SHA256 != f.ck.SHA256 {
		t.Fatalf("once bravo's store answers: %s attempt %d checkpoint %+v (%s); want staging attempt 2 resuming from the checkpoint at bravo", r.State, r.Attempt, r.Checkpoint, r.Reason)
	}
	if _, ok := f.s3.objs[CheckpointPrefix("t1")+dataset.ManifestKey(f.ck.Name)]; !ok {
		t.Error("the checkpoint's manifest is not in bravo's store")
	}
	es, err := f.st.AuditEntries(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	moves := 0
	for _, a := range es {
		if a.Kind == audit.KindCheckpoint {
			moves++
		}
	}
	if moves != 1 {
		t.Errorf("%d checkpoint-move audit entries, want 1", moves)
	}
}

// TestCheckpointHeldWhenTheStoreKeepsFailing: a store that never answers
// does not keep the run moving for ever. After maxMoveTries failed copies
// the run waits held, with its checkpoint (not started over, which would
// pay again for the hours the checkpoint holds), and the timeline and the
// hold say why.
func TestCheckpointHeldWhenTheStoreKeepsFailing(t *testing.T) {
	f := newCkMoveFixture(t)
	f.s3.fail.Store(true)
	var r *Run
	for i := 0; i < maxMoveTries; i++ {
		r = f.step(t)
		if r.State != Migrating || r.Migration == nil {
			break
		}
		if r.Migration.MoveTries != i+1 {
			t.Fatalf("try %d: migration records %d tries", i+1, r.Migration.MoveTries)
		}
		f.clk.set(r.Migration.MoveNext.Add(time.Second))
	}
	if r.State != Held || r.Hold == nil || r.Checkpoint == nil || *r.Checkpoint != *f.ck {
		t.Fatalf("after %d failed copies: %s, hold %+v, checkpoint %+v; want held with the checkpoint %+v", maxMoveTries, r.State, r.Hold, r.Checkpoint, f.ck)
	}
	if r.Hold.MoveTries != maxMoveTries || !strings.Contains(r.Hold.Reason, "held with its checkpoint") {
		t.Errorf("hold %+v: want the tries counted and the reason naming the kept checkpoint", r.Hold)
	}
	if wait := r.Hold.NextTry.Sub(f.clk.Now()); wait <= 0 || wait > moveHoldMax {
		t.Errorf("held run's next try in %s, want within (0, %s]", wait, moveHoldMax)
	}
	if got := eventsOf(t, f.c, r.ID, "checkpoint-move-failed"); len(got) != maxMoveTries {
		t.Errorf("%d checkpoint-move-failed events, want %d", len(got), maxMoveTries)
	}
	if got := eventsOf(t, f.c, r.ID, "checkpoint-moved"); len(got) != 0 {
		t.Errorf("timeline gives the checkpoint up: %q", got)
	}
}

// TestCheckpointGivenUpWhenItsDigestDiffers: a refusal no later try gets
// past still gives the checkpoint up at once: the checkpoint in the
// source store is not the version recorded.
func TestCheckpointGivenUpWhenItsDigestDiffers(t *testing.T) {
	f := newCkMoveFixture(t)
	ctx := context.Background()
	if _, err := f.c.update(ctx, f.r.ID, func(r *Run, ch *store.Change) error {
		ck := *r.Checkpoint
		ck.SHA256 = strings.Repeat("0", 64)
		r.Checkpoint = &ck
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := f.step(t)
	if r.State != Staging || r.Checkpoint != nil {
		t.Fatalf("a checkpoint whose digest differs: %s, checkpoint %+v; want staging from the beginning", r.State, r.Checkpoint)
	}
	if got := eventsOf(t, f.c, r.ID, "checkpoint-moved"); len(got) != 1 || !strings.Contains(got[0], "from the beginning") {
		t.Errorf("timeline: %q; want the checkpoint given up", got)
	}
}
