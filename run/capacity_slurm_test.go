package run

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend/backendtest"
)

// labSlurmSite is a site on the test cluster's conformance partition
// (scripts/slurm-up.sh: node meridian-c, gpu:h100:8). Its catalog figure
// says all 8 are available; only the site's own report says otherwise.
const labSlurmSite = `apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: lab-slurm}
spec:
  country: SG
  location: {lat: 1.33, lon: 103.70}
  operator: {name: test-dc, headquarters: SG}
  pools:
    - {accelerator: nvidia-h100-sxm, count: 8, available: 8, pricePerHour: 1.0, priceSource: "test value"}
  network: {egressPerGB: 0.08, gbps: 10}
  backend: {type: slurm, partition: conformance, gresType: h100}
`

// TestSlurmCapacityWait (MERIDIAN_TEST_SLURM=1): a job that is not
// Meridian's holds 6 of the Slurm site's 8 GPUs. The controller polls the
// site, so a run needing 4 waits (held, wait capacity) instead of being
// placed on GPUs the catalog calls free, and is never submitted meanwhile;
// once the foreign job ends, the next poll frees the room and the run is
// admitted, runs at the site and succeeds.
func TestSlurmCapacityWait(t *testing.T) {
	if os.Getenv("MERIDIAN_TEST_SLURM") != "1" {
		t.Skip("MERIDIAN_TEST_SLURM is not 1; scripts/test.sh starts a cluster and sets it")
	}
	// The conformance partition is the backend tests'; they take this lock.
	backendtest.Exclusive(t, "slurm-conformance")
	const partition = "conformance"
	quiet(t, partition)
	cat := t.TempDir()
	if err := os.WriteFile(filepath.Join(cat, "sites.yaml"), []byte(labSlurmSite), 0o644); err != nil {
		t.Fatal(err)
	}

	out, err := exec.Command("sbatch", "--parsable", "--no-requeue", "-p", partition, "--gres=gpu:h100:6",
		"-o", "/dev/null", "--job-name=not-meridian", "--wrap", "exec sleep 600").CombinedOutput()
	if err != nil {
		t.Fatalf("sbatch: %v: %s", err, out)
	}
	foreign := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("scancel", foreign).Run() })
	jobState(t, foreign, func(s string) bool { return s == "RUNNING" })

	e := newEnv(t, func(c *Config) {
		c.CatalogDir = cat
		c.SiteRecheck = 200 * time.Millisecond
		c.HoldRetry = 100 * time.Millisecond
	})
	ctx := context.Background()
	// As serve does: check the sites, then ask them for capacity once.
	for _, h := range e.c.CheckSites(ctx) {
		if !h.OK {
			t.Fatalf("site %s failed its check: %s", h.Site, h.Problem)
		}
	}
	e.c.PollCapacity(ctx)
	w, err := e.c.capacityWorld()
	if err != nil {
		t.Fatal(err)
	}
	site := w.Site("lab-slurm")
	if n := e.c.poolLimit(site, 0); n != 2 {
		t.Fatalf("after the poll the pool's limit is %d, want the 2 the foreign job leaves", n)
	}

	d := jobDoc(20, 10)
	d.Content = strings.Replace(d.Content, "  tokens: 1.0e6\n", "  tokens: 1.0e6\n  constraints: {minAccelerators: 4, sites: {allow: [lab-slurm]}}\n", 1)
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{d}})
	if err != nil {
		t.Fatal(err)
	}
	if r.State != Held || r.Hold == nil || r.Hold.Wait != WaitCapacity || !strings.Contains(r.Reason, "lab-slurm pool 0 (2 free)") {
		t.Fatalf("run %s: %s (%s), hold %+v; want held waiting for capacity at lab-slurm", r.ID, r.State, r.Reason, r.Hold)
	}
	// Several more polls: the site still has 2, so the run keeps waiting
	// and nothing is submitted to Slurm for it.
	polled := e.reportedAt(site.Metadata.Name)
	for i := 0; i < 3; i++ {
		polled = e.waitReport(site.Metadata.Name, polled)
	}
	if got, _ := e.c.Get(ctx, "t1", r.ID); got.State != Held {
		t.Fatalf("after more polls of a full site the run is %s (%s)", got.State, got.Reason)
	}
	out, err = exec.Command("squeue", "-h", "-t", "all", "--name=meridian-"+r.ID+"-1", "-o", "%i").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("a waiting run reached Slurm: squeue says %q (%v)", out, err)
	}

	if out, err := exec.Command("scancel", foreign).CombinedOutput(); err != nil {
		t.Fatalf("scancel: %v: %s", err, out)
	}
	e.waitFor("admission once the foreign job ended", 60*time.Second, func(r *Run) bool { return r.State != Held }, r.ID)
	got := e.waitFor("the end", 120*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if got.State != Succeeded || got.Site != "lab-slurm" {
		t.Fatalf("run ended %s at %s: %s", got.State, got.Site, got.Reason)
	}
	evs, _ := e.c.Events(ctx, "t1", r.ID)
	if !contains(kinds(evs), "released") {
		t.Errorf("timeline %v lacks released", kinds(evs))
	}
}

// reportedAt is when the site's pool 0 last reported (zero: never).
func (e *env) reportedAt(site string) time.Time {
	e.c.mu.Lock()
	defer e.c.mu.Unlock()
	return e.c.reported[poolKey{site, 0}].at
}

// waitReport waits for a report of the site newer than after.
func (e *env) waitReport(site string, after time.Time) time.Time {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if at := e.reportedAt(site); at.After(after) {
			return at
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	e.t.Fatalf("site %s did not report capacity again within 30 s", site)
	return time.Time{}
}

// quiet waits until no job is on the partition, so its GPUs are all free.
func quiet(t *testing.T, partition string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.Command("squeue", "-h", "-p", partition, "-o", "%i %T").CombinedOutput()
		if err != nil {
			t.Fatalf("squeue: %v: %s", err, out)
		}
		if strings.TrimSpace(string(out)) == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("partition %s still has jobs after 60 s: %s", partition, out)
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}
}

// jobState waits until the job's state satisfies ok.
func jobState(t *testing.T, id string, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _ := exec.Command("squeue", "-h", "-j", id, "-t", "all", "-o", "%T").Output()
		st := strings.TrimSpace(string(out))
		if ok(st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %q after 60 s", id, st)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}
