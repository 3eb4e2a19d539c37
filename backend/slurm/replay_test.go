package slurm_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/atomicfile"
)

// The JWT path that real clusters use cannot run here (Debian's Slurm has
// no auth/jwt for slurmctld), so it is tested against exchanges recorded
// once from the test cluster's real slurmrestd and replayed by an https
// test server that also checks the token headers. To record them again
// (root, the cluster of scripts/slurm-up.sh up and its env.sh sourced):
//
//	MERIDIAN_TEST_SLURM=1 MERIDIAN_SLURMREST_RECORD=1 go test -run TestRESTRecordExchanges ./backend/slurm
const (
	exchangesFile = "testdata/rest/v0.0.38-exchanges.json"
	refusedFile   = "testdata/rest/v0.0.38-refused-token.json"
	// recordedWorkRoot stands for the recording's job directory in the
	// files (paths of the machine that recorded them stay out).
	recordedWorkRoot = "/cluster/work"
)

// exchange is one request to slurmrestd and its answer.
type exchange struct {
	Method      string          `json:"method"`
	Path        string          `json:"path"`
	RequestBody json.RawMessage `json:"requestBody,omitempty"`
	Status      int             `json:"status"`
	ContentType string          `json:"contentType,omitempty"`
	// Body is the answer when it is JSON, BodyText when it is not.
	Body     json.RawMessage `json:"body,omitempty"`
	BodyText string          `json:"bodyText,omitempty"`
}

// recording is a file of exchanges and what the scenario that made them used.
type recording struct {
	Note      string     `json:"note"`
	Slurm     string     `json:"slurm"`
	Recorded  string     `json:"recorded"`
	RunPrefix string     `json:"runPrefix,omitempty"`
	Partition string     `json:"partition,omitempty"`
	Gres      string     `json:"gres,omitempty"`
	Exchanges []exchange `json:"exchanges"`
}

// recorder is an http.RoundTripper that keeps each exchange, redacted:
// the job directory becomes recordedWorkRoot, the machine's host name and
// kernel leave, and job lists keep only the scenario's jobs.
type recorder struct {
	next      http.RoundTripper
	workRoot  string
	runPrefix string
	host      string

	mu  sync.Mutex
	got []exchange
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	ex := exchange{Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
	if len(reqBody) > 0 {
		ex.RequestBody = r.redact(reqBody)
	}
	if json.Valid(body) {
		ex.Body = r.redact(body)
	} else {
		ex.BodyText = string(body)
	}
	r.mu.Lock()
	r.got = append(r.got, ex)
	r.mu.Unlock()
	return resp, nil
}

// last is the request the recorder passed on last.
func (r *recorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		return ""
	}
	ex := r.got[len(r.got)-1]
	return ex.Method + " " + ex.Path
}

func (r *recorder) redact(data []byte) json.RawMessage {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		panic(err)
	}
	v = r.walk("", v)
	out, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		panic(err)
	}
	return out
}

func (r *recorder) walk(key string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = r.walk(k, e)
		}
		if jobs, ok := x["jobs"].([]any); ok {
			// Other tests' and users' jobs stay out of the file.
			kept := []any{}
			for _, j := range jobs {
				if m, ok := j.(map[string]any); ok && strings.HasPrefix(fmt.Sprint(m["name"]), "meridian-"+r.runPrefix) {
					kept = append(kept, j)
				}
			}
			x["jobs"] = kept
		}
	case []any:
		for i, e := range x {
			x[i] = r.walk(key, e)
		}
	case string:
		switch {
		case key == "operating_system":
			return "Linux"
		case key == "hostname" && x == r.host:
			return "slurm-controller"
		}
		return strings.ReplaceAll(x, r.workRoot, recordedWorkRoot)
	}
	return v
}

// scenarioIDs are the run ids the scenario submits.
func scenarioIDs(prefix string) (failing, sleeping string) {
	return prefix + "-exit3", prefix + "-sleep"
}

// restScenario drives b through what the controller does: check the
// settings, submit, watch, cancel, find after losing state, and meet an
// unknown job and an unknown partition. The recording runs it against
// slurmrestd, the replay against the recorded answers; both check the same
// outcomes. newBackend makes a backend with other settings on the same
// server (a fresh state directory each); lastRequest says which request
// (method and path under the site's URL) the server got last.
func restScenario(t *testing.T, newBackend func(partition string) *slurm.REST, lastRequest func() string, prefix, workRoot, partition string, poll time.Duration) {
	t.Helper()
	// Submit asks for the job it made as it answers, to keep the job's
	// identity before its workload can rename or requeue it.
	tookIdentity := func(h string) {
		t.Helper()
		if got, want := lastRequest(), "GET /slurm/v0.0.38/job/"+h; got != want {
			t.Fatalf("last request of Submit = %q, want %q", got, want)
		}
	}
	ctx := testCtx(t)
	b := newBackend(partition)
	if err := b.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	failingID, sleepingID := scenarioIDs(prefix)

	failing := backend.Spec{RunID: failingID, Attempt: 1, Accelerators: 1, WorkDir: workRoot + "/a",
		Command: []string{"/bin/sh", "-c", "echo failing; exit 3"}, Env: map[string]string{"MODE": "test"}}
	hf, err := b.Submit(ctx, failing)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	tookIdentity(hf)
	st := waitUntil(t, b, hf, poll, func(s backend.Status) bool { return s.State.Final() })
	if st.State != backend.Failed || st.ExitCode != 3 {
		t.Fatalf("status of the failing job = %+v, want failed with exit code 3", st)
	}

	sleeping := backend.Spec{RunID: sleepingID, Attempt: 1, WorkDir: workRoot + "/b",
		Command: []string{"/bin/sh", "-c", "exec sleep 300"}}
	hs, err := b.Submit(ctx, sleeping)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	tookIdentity(hs)
	waitUntil(t, b, hs, poll, func(s backend.Status) bool { return s.State == backend.Running })
	if err := b.Cancel(ctx, hs); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if st := waitUntil(t, b, hs, poll, func(s backend.Status) bool { return s.State.Final() }); st.State != backend.Cancelled {
		t.Fatalf("status after Cancel = %+v, want cancelled", st)
	}

	// A controller that lost its state finds the job by name.
	if got, ok, err := newBackend(partition).Find(ctx, failingID, 1); err != nil || !ok || got != hf {
		t.Fatalf("Find after losing state = %q, %v, %v; want %q", got, ok, err, hf)
	}
	if _, err := b.Status(ctx, "999999999"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Status of a job slurmctld never had = %v, want ErrNotFound", err)
	}
	_, err = newBackend("no-such-partition").Submit(ctx, backend.Spec{RunID: prefix + "-nopart", Attempt: 1, WorkDir: workRoot + "/c", Command: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "backend.partition") || !strings.Contains(err.Error(), `"no-such-partition"`) {
		t.Fatalf("Submit to an unknown partition = %v, want an error naming backend.partition", err)
	}
}

func waitUntil(t *testing.T, b backend.Backend, h string, poll time.Duration, pred func(backend.Status) bool) backend.Status {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := b.Status(context.Background(), h)
		if err != nil {
			t.Fatalf("Status(%s): %v", h, err)
		}
		if pred(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: still %+v after 60s", h, st)
		}
		time.Sleep(poll) // polling interval against the real server; none in a replay
	}
}

// TestRESTRecordExchanges records the replayed exchanges from the test
// cluster's real slurmrestd: the scenario over the unix socket
// (rest_auth/local), and a refused token from a second slurmrestd that this
// test starts with rest_auth/jwt on loopback. It runs only when asked to
// (MERIDIAN_SLURMREST_RECORD=1): it rewrites files under testdata.
func TestRESTRecordExchanges(t *testing.T) {
	if os.Getenv("MERIDIAN_SLURMREST_RECORD") != "1" {
		t.Skip("recording mode: set MERIDIAN_SLURMREST_RECORD=1 (with MERIDIAN_TEST_SLURM=1) to record testdata/rest again")
	}
	site, _ := restCluster(t)
	host, _ := os.Hostname()
	workRoot := restWorkDir(t)
	prefix := fmt.Sprintf("rec-%d", time.Now().Unix())
	rec := &recorder{workRoot: workRoot, runPrefix: prefix, host: host}
	wrap := slurm.WithTransport(func(rt http.RoundTripper) http.RoundTripper { rec.next = rt; return rec })
	restScenario(t, func(partition string) *slurm.REST {
		s := site
		s.Partition = partition
		b := newREST(t, s, t.TempDir(), wrap)
		b.NodeTTL = 0 // every Status of a running job asks for the nodes: the same requests in the replay
		return b
	}, rec.last, prefix, workRoot, site.Partition, 50*time.Millisecond)
	meta := recording{
		Note:      "Recorded by TestRESTRecordExchanges from slurmrestd 22.05.8 (Debian 12) over its unix socket with rest_auth/local; the job directory is shown as " + recordedWorkRoot + ", job lists keep only the scenario's jobs, and the host name and kernel are left out.",
		Slurm:     "22.05.8",
		Recorded:  time.Now().UTC().Format("2006-01-02"),
		RunPrefix: prefix,
		Partition: site.Partition,
		Gres:      site.Gres,
		Exchanges: rec.got,
	}
	writeRecording(t, exchangesFile, meta, host, workRoot)

	// A refused token: a real slurmrestd with rest_auth/jwt, which
	// Debian's Slurm refuses whatever the token (slurmctld has no auth/jwt).
	port := freePort(t)
	cmd := exec.Command("slurmrestd", "-u", "slurm", "-g", "slurm", "-a", "rest_auth/jwt", "-s", "openapi/v0.0.38", fmt.Sprintf("127.0.0.1:%d", port))
	var logb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logb, &logb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitPort(t, port)
	tok := writeToken(t, "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJhbGljZSJ9.recorded-test-token")
	rrec := &recorder{host: host, workRoot: workRoot, runPrefix: prefix}
	jb := newREST(t, catalog.BackendSpec{Type: "slurm", RestURL: fmt.Sprintf("http://127.0.0.1:%d", port), TokenFile: tok, User: "alice"}, t.TempDir(),
		slurm.WithTransport(func(rt http.RoundTripper) http.RoundTripper { rrec.next = rt; return rrec }))
	err := jb.Check(testCtx(t))
	if !errors.Is(err, slurm.ErrAuth) {
		t.Fatalf("Check with a token slurmrestd refuses = %v, want ErrAuth; slurmrestd says:\n%s", err, logb.String())
	}
	writeRecording(t, refusedFile, recording{
		Note:      "Recorded by TestRESTRecordExchanges from slurmrestd 22.05.8 (Debian 12) started with -a rest_auth/jwt on loopback: it refuses every token, since Debian ships no auth/jwt for slurmctld.",
		Slurm:     "22.05.8",
		Recorded:  time.Now().UTC().Format("2006-01-02"),
		Exchanges: rrec.got,
	}, host, workRoot)
}

func writeRecording(t *testing.T, path string, r recording, host, workRoot string) {
	t.Helper()
	data, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, '\n')
	for _, leak := range []string{workRoot, `"` + host + `"`, os.Getenv("MERIDIAN_SLURMREST_SOCKET")} {
		if leak != `""` && leak != "" && bytes.Contains(data, []byte(leak)) {
			t.Fatalf("the recording still holds %q", leak)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d exchanges", path, len(r.Exchanges))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitPort(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond) // waiting for the daemon to listen
	}
	t.Fatalf("nothing listens on 127.0.0.1:%d", port)
}

// writeToken writes a token file readable by its owner only.
func writeToken(t *testing.T, token string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "slurm.jwt")
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func loadRecording(t *testing.T, path string) recording {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read recorded exchanges (record them with MERIDIAN_SLURMREST_RECORD=1): %v", err)
	}
	var r recording
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(r.Exchanges) == 0 {
		t.Fatalf("%s holds no exchanges", path)
	}
	return r
}

// replayer is an https test server that answers each request with the
// next recorded exchange, after checking that the request is the recorded
// one (method, path under the site's URL prefix, JSON body) and that it
// carries the token and user name.
type replayer struct {
	t      *testing.T
	prefix string
	token  func() string
	user   string

	mu   sync.Mutex
	next int
	exs  []exchange
	seen []string
}

func (p *replayer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if got := req.Header.Get("X-SLURM-USER-TOKEN"); got != p.token() {
		p.t.Errorf("%s %s: X-SLURM-USER-TOKEN %q, want the token file's %q", req.Method, req.URL.Path, got, p.token())
	}
	if got := req.Header.Get("X-SLURM-USER-NAME"); got != p.user {
		p.t.Errorf("%s %s: X-SLURM-USER-NAME %q, want %q", req.Method, req.URL.Path, got, p.user)
	}
	p.seen = append(p.seen, req.Method+" "+req.URL.Path)
	if p.next >= len(p.exs) {
		p.t.Errorf("request %d (%s %s) beyond the %d recorded", p.next+1, req.Method, req.URL.Path, len(p.exs))
		http.Error(w, "no more recorded exchanges", http.StatusTeapot)
		return
	}
	ex := p.exs[p.next]
	p.next++
	if req.Method != ex.Method || req.URL.Path != p.prefix+ex.Path {
		p.t.Errorf("request %d: %s %s, recorded %s %s%s", p.next, req.Method, req.URL.Path, ex.Method, p.prefix, ex.Path)
	}
	if len(ex.RequestBody) > 0 {
		body, _ := io.ReadAll(req.Body)
		var got, want any
		if err := json.Unmarshal(body, &got); err != nil {
			p.t.Errorf("request %d: body is not JSON: %v", p.next, err)
		}
		json.Unmarshal(ex.RequestBody, &want)
		if diff := cmp.Diff(want, got); diff != "" {
			p.t.Errorf("request %d (%s %s) body differs from the recorded one (-recorded +sent):\n%s", p.next, req.Method, req.URL.Path, diff)
		}
	}
	serve(w, ex)
}

// last is the request the replayer got last, its path under the site's URL.
func (p *replayer) last() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.seen) == 0 {
		return ""
	}
	method, path, _ := strings.Cut(p.seen[len(p.seen)-1], " ")
	return method + " " + strings.TrimPrefix(path, p.prefix)
}

func (p *replayer) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next != len(p.exs) {
		p.t.Errorf("%d of %d recorded exchanges were asked for; requests: %v", p.next, len(p.exs), p.seen)
	}
}

// tlsServer starts an https test server and returns its URL and the
// option that makes the backend trust its certificate (the backend's own
// transport, with the test server's CA).
func tlsServer(t *testing.T, h http.Handler) (string, slurm.RESTOption) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	trust := slurm.WithTransport(func(rt http.RoundTripper) http.RoundTripper {
		tr := rt.(*http.Transport).Clone()
		tr.TLSClientConfig.RootCAs = pool
		return tr
	})
	return srv.URL, trust
}

// serve writes a recorded answer.
func serve(w http.ResponseWriter, ex exchange) {
	if ex.ContentType != "" {
		w.Header().Set("Content-Type", ex.ContentType)
	}
	w.WriteHeader(ex.Status)
	if len(ex.Body) > 0 {
		w.Write(ex.Body)
	} else {
		io.WriteString(w, ex.BodyText)
	}
}

// TestRESTReplayJWT runs the scenario over https with a JWT against the
// answers the real slurmrestd gave, checking the token headers on every
// request and that the requests are the recorded ones. The token and
// backend.user name the user the recorded jobs ran as (slurmrestd's own,
// "slurm"), since a lookup takes only that user's jobs.
func TestRESTReplayJWT(t *testing.T) {
	rec := loadRecording(t, exchangesFile)
	// Its claims are {"sun":"slurm"}.
	const token = "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJzbHVybSJ9.replay-token"
	tok := writeToken(t, "SLURM_JWT="+token) // as `scontrol token` prints it
	p := &replayer{t: t, prefix: "/gw", token: func() string { return token }, user: "slurm", exs: rec.Exchanges}
	srvURL, trust := tlsServer(t, p)
	url := srvURL + p.prefix // behind a gateway's path
	restScenario(t, func(partition string) *slurm.REST {
		b := newREST(t, catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: tok, User: "slurm", Partition: partition, Gres: rec.Gres}, t.TempDir(), trust)
		b.NodeTTL = 0
		return b
	}, p.last, rec.RunPrefix, recordedWorkRoot, rec.Partition, 0)
	p.done()
}

// TestRESTRefusedToken: a token slurmrestd refuses (the recorded 401 of a
// real slurmrestd; 403 and Slurm's own authentication error, which this
// machine cannot produce, made from it) yields ErrAuth with an error naming
// the site's tokenFile and restURL, and never the token.
func TestRESTRefusedToken(t *testing.T) {
	rec := loadRecording(t, refusedFile)
	refused := rec.Exchanges[0]
	if refused.Status != http.StatusUnauthorized {
		t.Fatalf("recorded refusal has status %d, want 401", refused.Status)
	}
	forbidden := refused
	forbidden.Status = http.StatusForbidden
	slurmAuth := refused
	slurmAuth.Status, slurmAuth.BodyText = http.StatusInternalServerError, ""
	slurmAuth.ContentType = "application/json"
	slurmAuth.Body = json.RawMessage(`{"meta":{},"errors":[{"error":"Protocol authentication error","error_number":1007,"source":"slurm_ping"}],"pings":[]}`)
	for name, ex := range map[string]exchange{"recorded 401": refused, "403": forbidden, "slurm error 1007": slurmAuth} {
		t.Run(name, func(t *testing.T) {
			const token = "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJib2IifQ.refused-token"
			tok := writeToken(t, token)
			// Every request gets the refusal.
			url, trust := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-SLURM-USER-TOKEN") != token || r.Header.Get("X-SLURM-USER-NAME") != "bob" {
					t.Errorf("%s %s without the token headers", r.Method, r.URL.Path)
				}
				serve(w, ex)
			}))
			b := newREST(t, catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: tok, User: "bob", Partition: "p"}, t.TempDir(), trust)
			spec := backend.Spec{RunID: "refused", Attempt: 1, WorkDir: "/w", Command: []string{"true"}}
			for op, err := range map[string]error{
				"Check":  b.Check(testCtx(t)),
				"Submit": second(b.Submit(testCtx(t), spec)),
				"Status": second(b.Status(testCtx(t), "17")),
				"Cancel": b.Cancel(testCtx(t), "17"),
			} {
				if !errors.Is(err, slurm.ErrAuth) {
					t.Errorf("%s: %v, want ErrAuth", op, err)
					continue
				}
				msg := err.Error()
				for _, want := range []string{"backend.tokenFile " + tok, "backend.restURL", url} {
					if !strings.Contains(msg, want) {
						t.Errorf("%s: error %q does not name %q", op, msg, want)
					}
				}
				if strings.Contains(msg, token) || strings.Contains(msg, "refused-token") {
					t.Errorf("%s: error shows the token: %s", op, msg)
				}
				if op == "Check" && testing.Verbose() {
					t.Logf("%s: %s", op, msg)
				}
			}
		})
	}
}
