package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
)

// slowProgress makes a staging slow enough to be killed in the middle.
type slowProgress struct{}

func (slowProgress) Start(string, int64) {}
func (slowProgress) Done()               {}
func (slowProgress) Add(int64)           { time.Sleep(150 * time.Millisecond) }

// TestMain lets TestStageResumesAfterKill run the test binary again as a
// child that stages (MERIDIAN_HELPER_FIXTURE set), which the parent then
// kills with SIGKILL.
func TestMain(m *testing.M) {
	if spec := os.Getenv("MERIDIAN_HELPER_FIXTURE"); spec != "" {
		stageInChild(spec)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// stageInChild stages the fixture described by spec; it is the child process
// of TestStageResumesAfterKill.
func stageInChild(spec string) {
	var f fixture
	var in struct {
		Home, SiteStore, Keys, Ledger string
	}
	if err := json.Unmarshal([]byte(spec), &in); err != nil {
		fmt.Fprintln(os.Stderr, "child fixture:", err)
		os.Exit(2)
	}
	f.keys = dataset.Keyring{Dir: in.Keys}
	f.ledger = &FileLedger{Path: in.Ledger}
	f.ds = &catalog.Dataset{Metadata: catalog.Metadata{Name: "chat-logs"}, Spec: catalog.DatasetSpec{Origin: "CN", Classification: catalog.ClassPublic, Store: in.Home}}
	f.site = &catalog.Site{Metadata: catalog.Metadata{Name: "s"}, Spec: catalog.SiteSpec{Country: "MY", Store: in.SiteStore}}
	st := f.stager()
	st.Workers = 1
	st.Progress = slowProgress{}
	st.Stage(context.Background(), Request{Dataset: f.ds, Site: f.site, Query: policy.Query{AsOf: catalog.MustDate("2026-01-15")}})
}

func TestStageResumesAfterKill(t *testing.T) {
	f := newFixture(t, 16, 900<<10, "")
	total := len(f.manifest.UniqueChunks())
	spec, _ := json.Marshal(map[string]string{"Home": f.home, "SiteStore": f.site.Spec.Store, "Keys": f.keys.Dir, "Ledger": f.ledger.Path})
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "MERIDIAN_HELPER_FIXTURE="+string(spec))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	site, err := dataset.OpenStore(context.Background(), f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		have, _ := dataset.ListChunks(context.Background(), site, "chat-logs")
		if len(have) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("child staged fewer than 3 chunks in 60 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	before, _ := dataset.ListChunks(context.Background(), site, "chat-logs")
	if len(before) >= total {
		t.Fatalf("child finished (%d of %d chunks) before the kill; slow it down", len(before), total)
	}
	if _, err := os.Stat(filepath.Join(f.siteDir, filepath.FromSlash(dataset.ManifestKey("chat-logs")))); err == nil {
		t.Fatal("manifest present after a killed staging")
	}
	// Every chunk visible under its real name is whole and genuine.
	if msg := f.verifyPresent(t); msg != "" {
		t.Fatalf("after kill: %s", msg)
	}
	r, err := f.stager().Stage(context.Background(), f.request())
	if err != nil {
		t.Fatal(err)
	}
	if r.ChunksSent != total-len(before) {
		t.Fatalf("resume sent %d chunks; want %d (total %d, %d there after the kill)", r.ChunksSent, total-len(before), total, len(before))
	}
	if rep := f.verifyAtSite(t); !rep.Good() || rep.OK != total {
		t.Fatalf("verify after resume: %+v", rep)
	}
}

func TestStageJob(t *testing.T) {
	f := newFixture(t, 2, 50<<10, "")
	job := &catalog.TrainingJob{Metadata: catalog.Metadata{Name: "j"}, Spec: catalog.TrainingJobSpec{Datasets: []string{"chat-logs"}}}
	q := policy.Query{AsOf: catalog.MustDate("2026-01-15")}
	res, err := f.stager().StageJob(context.Background(), job, map[string]*catalog.Dataset{"chat-logs": f.ds}, f.site, "", "", q, "run-9")
	if err != nil || len(res) != 1 || res[0].RunID != "run-9" || res[0].ChunksSent != res[0].Chunks {
		t.Fatalf("StageJob: %+v, %v", res, err)
	}
	job.Spec.Datasets = append(job.Spec.Datasets, "nope")
	if _, err := f.stager().StageJob(context.Background(), job, map[string]*catalog.Dataset{"chat-logs": f.ds}, f.site, "", "", q, "run-9"); err == nil {
		t.Fatal("StageJob accepted an unknown dataset")
	}
}

func BenchmarkStage(b *testing.B) {
	f := newFixture(b, 16, 4<<20, "")
	b.SetBytes(64 << 20)
	for i := 0; b.Loop(); i++ {
		f.site.Spec.Store = "file://" + filepath.Join(b.TempDir(), "site")
		if _, err := f.stager().Stage(context.Background(), f.request()); err != nil {
			b.Fatal(err)
		}
	}
}
