package slurm_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
)

// TestAttemptsGivenOneJobIDAreToldApart: slurmctld gives a job id out
// again once its counter wraps or its state is lost, so two attempts of
// one state directory can be given the same id: attempt 1's job long
// forgotten, attempt 2's job running under its id. Both attempts' handles
// were that id, and the id's record named the later attempt: Status of
// attempt 1 read attempt 2's running job, and Cancel of attempt 1
// cancelled it. Now attempt 2's handle names its attempt too: attempt 1
// reads as its own forgotten job and its Cancel leaves attempt 2's job
// alone, while attempt 2's handle reads, shows and cancels its own job.
// Here the real sbatch's answer is held until attempt 1's record of the
// same id is written, as it would have been long before.
func TestAttemptsGivenOneJobIDAreToldApart(t *testing.T) {
	site := cluster(t)
	dir := t.TempDir()
	run := uniqueRunID(t, "oneid")
	keyA := backend.Spec{RunID: run, Attempt: 1}.Key()
	specB := backend.Spec{RunID: run, Attempt: 2,
		Command: []string{"/bin/sh", "-c", "echo attempt-two; exec sleep 300"}, WorkDir: t.TempDir()}

	sbatchPath, err := exec.LookPath("sbatch")
	if err != nil {
		t.Fatal(err)
	}
	hold := t.TempDir()
	bin := t.TempDir()
	wrapper := "#!/bin/sh\nPATH=/usr/bin:/bin\nout=$(" + sbatchPath + ` "$@") || exit $?
printf '%s\n' "$out" >` + hold + "/id.tmp && mv " + hold + "/id.tmp " + hold + `/id
while [ ! -e ` + hold + `/go ]; do sleep 0.05; done
printf '%s\n' "$out"
`
	if err := os.WriteFile(filepath.Join(bin, "sbatch"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	b := newSlurm(t, site, dir)

	type result struct {
		h   string
		err error
	}
	done := make(chan result, 1)
	go func() {
		h, err := b.Submit(testCtx(t), specB)
		done <- result{h, err}
	}()
	var id string
	for deadline := time.Now().Add(30 * time.Second); id == ""; time.Sleep(50 * time.Millisecond) {
		if data, err := os.ReadFile(filepath.Join(hold, "id")); err == nil {
			id, _, _ = strings.Cut(strings.TrimSpace(string(data)), ";")
		}
		if time.Now().After(deadline) {
			os.WriteFile(filepath.Join(hold, "go"), nil, 0o644)
			t.Fatal("sbatch gave no job id in 30 s")
		}
	}
	cancelAtEnd(t, id)
	// Attempt 1 was given the id first; its job is long forgotten.
	writeSignedRecord(t, dir, keyA, id)
	if err := os.WriteFile(filepath.Join(hold, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	hA, hB := id, res.h
	if hB == hA {
		t.Errorf("attempt 2's handle is %q, attempt 1's too: nothing tells them apart", hB)
	}
	waitRunning(t, b, hB)

	if st, err := b.Status(testCtx(t), hA); err != nil || st.State != backend.Lost {
		t.Errorf("Status of attempt 1, whose id slurmctld gave to attempt 2's job = %+v, %v; want lost (its own job forgotten, no exit code)", st, err)
	}
	if err := b.Cancel(testCtx(t), hA); err != nil {
		t.Errorf("Cancel of attempt 1: %v", err)
	}
	if out, err := runCmd("squeue", "-h", "-t", "all", "-j", id, "-o", "%T"); err != nil || strings.TrimSpace(out) != "RUNNING" {
		t.Fatalf("attempt 2's job after Cancel of attempt 1: %q, %v; want it still running", out, err)
	}
	if rc, err := b.Logs(testCtx(t), hA); err == nil {
		data, _ := io.ReadAll(rc)
		rc.Close()
		if strings.Contains(string(data), "attempt-two") {
			t.Errorf("Logs of attempt 1 = %q: attempt 2's output", data)
		}
	}

	// Attempt 2's handle, from Submit again too, is its own job's.
	if h, err := b.Submit(testCtx(t), specB); err != nil || h != hB {
		t.Errorf("Submit of attempt 2 again = %q, %v; want %q", h, err, hB)
	}
	if h, ok, err := b.Find(testCtx(t), run, 2); err != nil || !ok || h != hB {
		t.Errorf("Find of attempt 2 = %q, %v, %v; want %q", h, ok, err, hB)
	}
	var out string
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out, "attempt-two") && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		rc, err := b.Logs(testCtx(t), hB)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		out = string(data)
	}
	if !strings.Contains(out, "attempt-two") {
		t.Errorf("Logs of attempt 2 = %q; want its output", out)
	}
	if err := b.Cancel(testCtx(t), hB); err != nil {
		t.Fatal(err)
	}
	waitLeft(id)
	if st, err := b.Status(testCtx(t), hB); err != nil || st.State != backend.Cancelled {
		t.Errorf("Status of attempt 2 after its Cancel = %+v, %v; want cancelled", st, err)
	}
}

// submitHold is a transport that, once slurmrestd has answered a job
// submit, calls hold with the job id before the backend sees the answer.
type submitHold struct {
	next http.RoundTripper
	hold func(id string)
}

func (s submitHold) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/job/submit") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var out struct {
		JobID int64 `json:"job_id"`
	}
	if json.Unmarshal(body, &out) == nil && out.JobID > 0 {
		s.hold(strconv.FormatInt(out.JobID, 10))
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// TestRESTAttemptsGivenOneJobIDAreToldApart: as
// TestAttemptsGivenOneJobIDAreToldApart, through slurmrestd: attempt 1's
// record of the id is written as slurmrestd answers attempt 2's submit
// with it. Attempt 2's record took the id's over, and attempt 1's handle
// then read attempt 2's job and cancelled it.
func TestRESTAttemptsGivenOneJobIDAreToldApart(t *testing.T) {
	site, _ := restCluster(t)
	dir := t.TempDir()
	run := uniqueRunID(t, "oneid")
	keyA := backend.Spec{RunID: run, Attempt: 1}.Key()
	specB := backend.Spec{RunID: run, Attempt: 2,
		Command: []string{"/bin/sh", "-c", "exec sleep 300"}, WorkDir: restWorkDir(t)}
	var id string
	b := newREST(t, site, dir, slurm.WithTransport(func(rt http.RoundTripper) http.RoundTripper {
		return submitHold{next: rt, hold: func(got string) {
			id = got
			// Attempt 1 was given the id first; its job is long forgotten.
			writeRecord(t, dir, keyA, got)
		}}
	}))
	hB, err := b.Submit(testCtx(t), specB)
	if err != nil {
		t.Fatal(err)
	}
	if id == "" {
		t.Fatal("no submit answer seen")
	}
	t.Cleanup(func() { b.Cancel(testCtx(t), hB); runCmd("scancel", id) })
	hA := id
	if hB == hA {
		t.Errorf("attempt 2's handle is %q, attempt 1's too: nothing tells them apart", hB)
	}
	if st, err := b.Status(testCtx(t), hA); err != nil || st.State != backend.Lost {
		t.Errorf("Status of attempt 1, whose id slurmctld gave to attempt 2's job = %+v, %v; want lost (its own job forgotten)", st, err)
	}
	if err := b.Cancel(testCtx(t), hA); err != nil {
		t.Errorf("Cancel of attempt 1: %v", err)
	}
	if st, err := b.Status(testCtx(t), hB); err != nil || st.State.Final() {
		t.Fatalf("attempt 2 after Cancel of attempt 1: %+v, %v; want it still pending or running", st, err)
	}
	if h, err := b.Submit(testCtx(t), specB); err != nil || h != hB {
		t.Errorf("Submit of attempt 2 again = %q, %v; want %q", h, err, hB)
	}
	if err := b.Cancel(testCtx(t), hB); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := b.Status(testCtx(t), hB)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == backend.Cancelled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("attempt 2 after its Cancel: %+v; want cancelled", st)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// TestHandlesOfOneJobIDWithoutSlurm: TestAttemptsGivenOneJobIDAreToldApart
// with Slurm's clients faked: job 4242 is attempt r1-2's (its batch
// script), and the id was recorded for attempt r1-1 first. r1-1's handle
// reads its own forgotten job and cancels nothing; r1-2's (4242:r1-2)
// reads and cancels job 4242; a handle ID:KEY that no record gives is not
// found and cancels nothing.
func TestHandlesOfOneJobIDWithoutSlurm(t *testing.T) {
	state := t.TempDir()
	cancels := filepath.Join(t.TempDir(), "scancel")
	squeue := `#!/bin/sh
printf '4242\037PENDING\0370\037N/A\037N/A\037\037Priority\037` + state + `/jobs/r1-2/output.log\037` + state + `/jobs/r1-2/job.sh\037` + ownUID + `\037\n'
`
	scancel := scancelEnds(cancels)
	b := fakeSlurm(t, state, map[string]string{"squeue": squeue, "scancel": scancel})
	slurm.WriteRecord(t, state, "jobs/r1-1/jobid", "4242")
	slurm.WriteRecord(t, state, "handles/4242", "r1-1")
	slurm.WriteRecord(t, state, "jobs/r1-2/jobid", "4242:r1-2")
	ctx := testCtx(t)
	scancelled := func() string {
		data, _ := os.ReadFile(cancels)
		return string(data)
	}

	if st, err := b.Status(ctx, "4242"); err != nil || st.State != backend.Lost {
		t.Errorf("Status of r1-1 = %+v, %v; want lost (its job forgotten)", st, err)
	}
	if err := b.Cancel(ctx, "4242"); err != nil || scancelled() != "" {
		t.Errorf("Cancel of r1-1 = %v, scancel run with %q; want nothing cancelled", err, scancelled())
	}
	for _, h := range []string{"4242:r1-3", "4243:r1-2", "4242:r1-2:x", "4242:../x-1"} {
		if st, err := b.Status(ctx, h); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Status(%q), which no record gives = %+v, %v; want not found", h, st, err)
		}
		if err := b.Cancel(ctx, h); !errors.Is(err, backend.ErrNotFound) || scancelled() != "" {
			t.Errorf("Cancel(%q), which no record gives = %v, scancel run with %q; want not found, nothing cancelled", h, err, scancelled())
		}
	}
	if h, ok, err := b.Find(ctx, "r1", 2); err != nil || !ok || h != "4242:r1-2" {
		t.Errorf("Find of r1-2 = %q, %v, %v; want 4242:r1-2", h, ok, err)
	}
	if st, err := b.Status(ctx, "4242:r1-2"); err != nil || st.State != backend.Pending {
		t.Errorf("Status of r1-2 = %+v, %v; want pending", st, err)
	}
	if err := b.Cancel(ctx, "4242:r1-2"); err != nil || scancelled() != "4242\n" {
		t.Errorf("Cancel of r1-2 = %v, scancel run with %q; want job 4242 cancelled", err, scancelled())
	}
}
