package slurm_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// TestRESTNodeTextBounded: what slurmrestd says of the nodes (a down
// node's reason, the GRES of a partition's nodes) is kept and repeated
// within a bound, however much of it the site sends. Before, Status kept
// every down node's state and reason whole for as long as it trusted the
// node list, and said a 4 MiB reason whole; Check's error listed every node
// of the partition with its GRES, megabytes of them from a site of many
// nodes.
func TestRESTNodeTextBounded(t *testing.T) {
	tok := writeToken(t, "nodetext.token")
	longReason := strings.Repeat("r", 4<<20)
	const manyNodes = 50000
	url, trust := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/slurm/v0.0.38/job/7":
			json.NewEncoder(w).Encode(map[string]any{"errors": []any{}, "jobs": []any{map[string]any{
				"job_id": 7, "name": "meridian-r1-1", "comment": "meridian run r1 attempt 1",
				"job_state": "RUNNING", "exit_code": 0, "start_time": 1796234415, "nodes": "n1",
				"job_resources": map[string]any{"allocated_nodes": []any{map[string]any{"nodename": "n1"}}}}}})
		case "/slurm/v0.0.38/ping":
			io.WriteString(w, `{"errors":[],"pings":[{"ping":"UP","status":0}]}`)
		case "/slurm/v0.0.38/partition/p":
			io.WriteString(w, `{"errors":[],"partitions":[{"name":"p","state":"UP"}]}`)
		case "/slurm/v0.0.38/nodes":
			io.WriteString(w, `{"errors":[],"nodes":[`)
			fmt.Fprintf(w, `{"name":"n1","state":"down","state_flags":[],"partitions":["p"],"gres":"gpu:a100:8","reason":%q}`, longReason)
			for i := range manyNodes {
				fmt.Fprintf(w, `,{"name":"node-with-a-long-name-%08d","state":"idle","partitions":["p"],"gres":"gpu:a100:8(S:0-1),mic:phi:2"}`, i)
			}
			io.WriteString(w, `]}`)
		default:
			http.Error(w, "not served by this fake", http.StatusNotFound)
		}
	}))
	site := catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: tok, Partition: "p", Gres: "gpu:h100"}
	state := t.TempDir()
	recordRESTJob(t, state, "7", "r1-1")
	b := newREST(t, site, state, trust)

	st, err := b.Status(testCtx(t), "7")
	if err != nil || st.State != backend.Lost || !strings.Contains(st.Reason, "n1") {
		t.Fatalf("Status of a job on a down node = %s, %v; want lost naming the node", st.State, err)
	}
	if n := len(st.Reason); n > 1<<10 {
		t.Errorf("the lost job's reason is %d bytes, want at most 1 KiB", n)
	}

	err = b.Check(testCtx(t))
	if err == nil || !strings.Contains(err.Error(), "backend.gres") {
		t.Fatalf("Check of a partition without the GRES = %v, want a backend.gres error", err)
	}
	if n := len(err.Error()); n > 8<<10 {
		t.Errorf("Check's error is %d bytes, want at most 8 KiB", n)
	}
}

// TestRESTFinalStatusKeptWhateverTheReason: the final status of a job is
// kept for when slurmctld forgets it, but a reason of megabytes from the
// site made a record the backend then refused to read back (it reads its
// records within a bound), and the job, once forgotten, read as lost
// rather than failed. A status's reason from the site is now bounded.
func TestRESTFinalStatusKeptWhateverTheReason(t *testing.T) {
	var forgotten atomic.Bool
	url, trust := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/slurm/v0.0.38/job/8" {
			http.Error(w, "not served by this fake", http.StatusNotFound)
			return
		}
		if forgotten.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"errors":[{"error":"Invalid job id specified","error_number":2017}]}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"errors": []any{}, "jobs": []any{map[string]any{
			"job_id": 8, "name": "meridian-r1-1", "comment": "meridian run r1 attempt 1", "job_state": "FAILED", "state_reason": strings.Repeat("why ", 512<<10), "exit_code": 9 << 8,
			"start_time": 1796234415, "end_time": 1796234480}}})
	}))
	site := catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: writeToken(t, "final.token")}
	state := t.TempDir()
	if err := os.MkdirAll(filepath.Join(state, "jobs", "r1-1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(state, "handles"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "handles", "8"), []byte("r1-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := newREST(t, site, state, trust)
	if st, err := b.Status(testCtx(t), "8"); err != nil || st.State != backend.Failed || st.ExitCode != 9 {
		t.Fatalf("Status of the failed job = %s %d, %v; want failed with exit code 9", st.State, st.ExitCode, err)
	}
	forgotten.Store(true)
	st, err := b.Status(testCtx(t), "8")
	if err != nil || st.State != backend.Failed || st.ExitCode != 9 {
		t.Fatalf("Status of the failed job once forgotten = %s %d, %v; want failed with exit code 9, as kept", st.State, st.ExitCode, err)
	}
	if n := len(st.Reason); n > 1<<10 {
		t.Errorf("the failed job's reason is %d bytes, want at most 1 KiB", n)
	}
}

// TestRESTCheckPingBounded: Check's error for a slurmrestd that answers
// but reaches no slurmctld quoted every entry of the ping answer, of any
// number and length; it now quotes a few, each within a bound.
func TestRESTCheckPingBounded(t *testing.T) {
	url, trust := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"errors":[],"pings":[`)
		for i := range 20000 {
			if i > 0 {
				io.WriteString(w, ",")
			}
			fmt.Fprintf(w, `{"hostname":"ctld-%d","ping":"DOWN %s","status":-1}`, i, strings.Repeat("d", 200))
		}
		io.WriteString(w, `]}`)
	}))
	b := newREST(t, catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: writeToken(t, "ping.token")}, t.TempDir(), trust)
	err := b.Check(testCtx(t))
	if err == nil || !strings.Contains(err.Error(), "no slurmctld") {
		t.Fatalf("Check with every slurmctld down = %v, want an error saying so", err)
	}
	if n := len(err.Error()); n > 8<<10 {
		t.Errorf("Check's error is %d bytes, want at most 8 KiB", n)
	}
}

// TestRESTUnknownJobStateBounded: a job state this backend does not know
// is reported as pending with the state quoted in the reason, and the
// quote was the whole of what slurmrestd sent, megabytes included, at
// every poll of the job. It is now bounded as the other words of the site
// are.
func TestRESTUnknownJobStateBounded(t *testing.T) {
	state := strings.Repeat("WEIRD", 1<<20)
	url, trust := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/slurm/v0.0.38/job/7" {
			http.Error(w, "not served by this fake", http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"errors": []any{}, "jobs": []any{map[string]any{
			"job_id": 7, "name": "meridian-r1-1", "comment": "meridian run r1 attempt 1",
			"job_state": []string{state}, "state_reason": "None", "exit_code": 0}}})
	}))
	site := catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: writeToken(t, "state.token")}
	dir := t.TempDir()
	recordRESTJob(t, dir, "7", "r1-1")
	b := newREST(t, site, dir, trust)
	st, err := b.Status(testCtx(t), "7")
	if err != nil || st.State != backend.Pending || !strings.Contains(st.Reason, "unknown Slurm state \"WEIRDWEIRD") {
		t.Fatalf("Status of a job in a state not known = %s %.80q, %v; want pending, quoting the state", st.State, st.Reason, err)
	}
	if n := len(st.Reason); n > 1<<10 {
		t.Errorf("the reason is %d bytes, want at most 1 KiB", n)
	}
}

// TestRESTTokenNotRepeatedFromAnAnswerOf200: an error answer of slurmrestd
// that echoed the token had it taken out of the error, but only when the
// answer's status was not 200; slurmrestd lists errors in answers of
// status 200 too, and those were repeated whole, the token in the
// error that is logged and may become a run's reason. Both are redacted
// now, of one thing (Status) and of a list (Find).
func TestRESTTokenNotRepeatedFromAnAnswerOf200(t *testing.T) {
	const token = "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJzbHVybSJ9.c2VjcmV0LXNpZ25hdHVyZQ"
	url, trust := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		echo := "no such session " + r.Header.Get("X-SLURM-USER-TOKEN")
		json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{
			"error": echo, "description": echo, "error_number": 1}}})
	}))
	site := catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: writeToken(t, token)}
	b := newREST(t, site, t.TempDir(), trust)
	_, err := b.Status(testCtx(t), "7")
	if err == nil || !strings.Contains(err.Error(), "no such session") {
		t.Fatalf("Status = %v; want the answer's error", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("Status's error repeats the token: %v", err)
	}
	_, _, err = b.Find(testCtx(t), "r1", 1)
	if err == nil || !strings.Contains(err.Error(), "no such session") {
		t.Fatalf("Find = %v; want the answer's error", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("Find's error repeats the token: %v", err)
	}
}

// TestRESTPartitionStateBounded: Submit to a partition that is not up
// said the state slurmrestd gave whole, up to an answer's bound (8 MiB),
// in its error, which becomes the run's reason. It now says a bounded
// part of it.
func TestRESTPartitionStateBounded(t *testing.T) {
	state := strings.Repeat("D", 1<<20)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slurm/v0.0.38/partition/p", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"errors":[],"partitions":[{"name":"p","state":%q}]}`, state)
	})
	site := catalog.BackendSpec{Type: "slurm", RestURL: serveREST(t, mux), Partition: "p"}
	b := newREST(t, site, t.TempDir())
	_, err := b.Submit(testCtx(t), backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}, WorkDir: "/scratch/r1"})
	if !errors.Is(err, backend.ErrSiteDown) || !strings.Contains(err.Error(), "DDDD") {
		t.Fatalf("Submit to a partition not up = %.200v; want ErrSiteDown naming the state", err)
	}
	if n := len(err.Error()); n > 1<<10 {
		t.Errorf("Submit's error is %d bytes, want at most 1 KiB", n)
	}
}

// TestRESTCheckGresCostsTheAnswer: Check split each node's GRES into a
// slice of its entries, and each entry into a slice of its fields: a node
// whose GRES is 4 MiB of commas cost 160 MB. It now reads the
// entries one at a time, for a bound of the answer's size; what it finds
// is unchanged.
func TestRESTCheckGresCostsTheAnswer(t *testing.T) {
	commas := strings.Repeat(",", 4<<20)
	for _, tc := range []struct {
		gres, want string // want: "" for no error
	}{
		{"gpu:h100:8" + commas, ""},
		{commas + "gpu:h100:8(S:0-1),mic:phi:2", ""},
		{"gpu:h100" + commas, "backend.gres"}, // no count: not of the type
		{"gpu:a100:8" + commas, "backend.gres"},
	} {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /slurm/v0.0.38/ping", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"errors":[],"pings":[{"ping":"UP","status":0}]}`)
		})
		mux.HandleFunc("GET /slurm/v0.0.38/partition/p", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"errors":[],"partitions":[{"name":"p","state":"UP"}]}`)
		})
		mux.HandleFunc("GET /slurm/v0.0.38/nodes", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"errors":[],"nodes":[{"name":"n1","state":"idle","partitions":["p"],"gres":%q}]}`, tc.gres)
		})
		site := catalog.BackendSpec{Type: "slurm", RestURL: serveREST(t, mux), Partition: "p", Gres: "gpu:h100"}
		b := newREST(t, site, t.TempDir())
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := b.Check(testCtx(t))
		runtime.ReadMemStats(&after)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Check of a node with GRES %.40q… = %.200v; want %q", strings.Trim(tc.gres, ","), err, tc.want)
		}
		if built := after.TotalAlloc - before.TotalAlloc; built > 64<<20 {
			t.Errorf("Check allocated %d MB for an answer of %d MB", built>>20, len(tc.gres)>>20)
		}
	}
}
