package slurm_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
)

// These are unit tests of the REST client's guards, against small test
// servers that misbehave on purpose; the real slurmrestd is met by
// TestRESTConformance and, replayed, by TestRESTReplayJWT.

// pingOK is slurmrestd's answer to a ping when slurmctld is up.
const pingOK = `{"meta":{},"errors":[],"pings":[{"hostname":"h","ping":"UP","status":0,"mode":"primary"}]}`

func TestRESTTokenFile(t *testing.T) {
	const secret = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.token-one"
	site := func(path string) catalog.BackendSpec {
		return catalog.BackendSpec{Type: "slurm", RestURL: "https://slurm.example:6820", TokenFile: path}
	}
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := func(name, target string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := func(name string) string {
		p := filepath.Join(dir, name)
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, path, want string
	}{
		// Checked on the file a link leads to, in the one open it is read
		// from.
		{"a link to a file others may read", link("link.jwt", write("target.jwt", secret, 0o644)), "chmod 600"},
		{"readable by others", write("open.jwt", secret, 0o644), "chmod 600"},
		{"readable by the group", write("group.jwt", secret, 0o640), "mode 0640"},
		{"missing", filepath.Join(dir, "missing.jwt"), "no such file"},
		{"a directory", dir, "not a regular file"},
		{"a FIFO", fifo("pipe.jwt"), "not a regular file"}, // and no open that waits for a writer
		{"empty", write("empty.jwt", "\n", 0o600), "empty"},
		{"two words", write("words.jwt", secret+" "+secret, 0o600), "cannot be in a token"},
		{"control character", write("ctl.jwt", secret+"\x1b", 0o600), "cannot be in a token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := slurm.NewREST(site(tt.path), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), "backend.tokenFile "+tt.path) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewREST = %v, want an error naming backend.tokenFile %s and %q", err, tt.path, tt.want)
			}
			if strings.Contains(err.Error(), "token-one") {
				t.Fatalf("the error shows the token: %v", err)
			}
		})
	}
	// A link to a private file is fine: a Kubernetes secret's files are
	// links.
	if _, err := slurm.NewREST(site(link("secret.jwt", write("secret-target.jwt", secret, 0o600))), t.TempDir()); err != nil {
		t.Fatalf("NewREST with a link to a private file: %v", err)
	}
	// A file that is 0400 is fine, and ~/ is the user's home.
	home := t.TempDir()
	t.Setenv("HOME", home)
	if err := os.WriteFile(filepath.Join(home, "slurm.jwt"), []byte(secret), 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := slurm.NewREST(site("~/slurm.jwt"), t.TempDir()); err != nil {
		t.Fatalf("NewREST with ~/slurm.jwt (0400): %v", err)
	}
}

// TestRESTTokenRotation: a token written anew (as a renewal job does) is
// sent from the next request on, and a file made readable to others stops
// requests before the token leaves.
func TestRESTTokenRotation(t *testing.T) {
	var mu sync.Mutex
	var got []string
	url, trust := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("X-SLURM-USER-TOKEN"))
		mu.Unlock()
		io.WriteString(w, pingOK)
	}))
	tok := writeToken(t, "first.token.a")
	b := newREST(t, catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: tok}, t.TempDir(), trust)
	if err := b.Check(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	// Renewed by rename, as tools that write atomically do.
	next := tok + ".new"
	if err := os.WriteFile(next, []byte("SLURM_JWT=second.token.b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, tok); err != nil {
		t.Fatal(err)
	}
	if err := b.Check(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tok, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.Check(testCtx(t)); err == nil || !strings.Contains(err.Error(), "backend.tokenFile") {
		t.Fatalf("Check with a token file others can read = %v, want an error naming backend.tokenFile", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"first.token.a", "second.token.b"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("tokens sent %q, want %q", got, want)
	}
}

// TestRESTBounds: answers too large, too slow, failing on the way, or
// redirecting are bounded, retried only where that is safe, and never
// carry the token elsewhere.
func TestRESTBounds(t *testing.T) {
	tok := writeToken(t, "bounds.token")
	site := func(url string) catalog.BackendSpec {
		return catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: tok, Partition: "p"}
	}
	spec := backend.Spec{RunID: "bounds", Attempt: 1, WorkDir: "/w", Command: []string{"true"}}

	t.Run("large answer", func(t *testing.T) {
		url, trust := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"errors":[],"jobs":[{"job_id":1,"name":"`)
			chunk := strings.Repeat("x", 1<<20)
			for range 9 {
				io.WriteString(w, chunk)
			}
			io.WriteString(w, `"}]}`)
		}))
		b := newREST(t, site(url), t.TempDir(), trust)
		if _, err := b.Status(testCtx(t), "1"); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("Status with a 9 MiB answer = %v, want a size error", err)
		}
	})

	t.Run("long errors", func(t *testing.T) {
		// An answer of status 200 within maxBody whose errors run to 4 MiB:
		// the error that reports them stays short.
		url, trust := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"errors":[{"error":"`+strings.Repeat("é", 2<<20)+`","error_number":9999}],"jobs":[]}`)
		}))
		b := newREST(t, site(url), t.TempDir(), trust)
		_, err := b.Status(testCtx(t), "1")
		if err == nil || len(err.Error()) > 4<<10 || !utf8.ValidString(err.Error()) {
			n := 0
			if err != nil {
				n = len(err.Error())
			}
			t.Fatalf("Status answered with 4 MiB of errors: an error of %d bytes (%v), want one under 4 KiB", n, err != nil)
		}
	})

	t.Run("slow answer", func(t *testing.T) {
		release := make(chan struct{})
		url, trust := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer close(release)
		b := newREST(t, site(url), t.TempDir(), trust)
		b.SetLimits(200*time.Millisecond, 0)
		start := time.Now()
		err := b.Check(testCtx(t))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Check against a server that never answers = %v, want a deadline error", err)
		}
		// Without the request timeout, Check waits for testCtx (60 s);
		// 30 s tells the two apart on however loaded a machine.
		if d := time.Since(start); d > 30*time.Second {
			t.Fatalf("Check took %v with a 200ms request timeout", d)
		}
	})

	t.Run("retries GET, never POST", func(t *testing.T) {
		var gets, posts atomic.Int32
		url, trust := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodPost:
				posts.Add(1)
				http.Error(w, "busy", http.StatusServiceUnavailable)
			case strings.HasSuffix(r.URL.Path, "/ping") && gets.Add(1) <= 2:
				http.Error(w, "busy", http.StatusServiceUnavailable)
			case strings.HasSuffix(r.URL.Path, "/ping"):
				io.WriteString(w, pingOK)
			default: // the partition, before a submit
				io.WriteString(w, `{"errors":[],"partitions":[{"name":"p","state":"UP"}]}`)
			}
		}))
		b := newREST(t, site(url), t.TempDir(), trust)
		b.SetLimits(5*time.Second, 2)
		if err := b.Check(testCtx(t)); err != nil {
			t.Fatalf("Check after two 503s = %v, want success on the third try", err)
		}
		if n := gets.Load(); n != 3 {
			t.Fatalf("%d pings, want 3", n)
		}
		if _, err := b.Submit(testCtx(t), spec); err == nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("Submit answered 503 = %v, want the error", err)
		}
		if n := posts.Load(); n != 1 {
			t.Fatalf("a failed submit was sent %d times, want once (its answer may be all that was lost)", n)
		}
	})

	t.Run("redirect not followed", func(t *testing.T) {
		var leaked atomic.Int32
		elsewhere, _ := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			leaked.Add(1)
		}))
		url, trust := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere+r.URL.Path, http.StatusTemporaryRedirect)
		}))
		b := newREST(t, site(url), t.TempDir(), trust)
		if err := b.Check(testCtx(t)); err == nil || !strings.Contains(err.Error(), "307") {
			t.Fatalf("Check against a redirect = %v, want an error", err)
		}
		if leaked.Load() != 0 {
			t.Fatal("the redirect was followed, carrying the token")
		}
	})

	t.Run("not slurmrestd", func(t *testing.T) {
		url, trust := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.NotFound(w, r)
		}))
		b := newREST(t, site(url), t.TempDir(), trust)
		if err := b.Check(testCtx(t)); err == nil || !strings.Contains(err.Error(), "does not serve openapi/v0.0.38") {
			t.Fatalf("Check against a server without the API = %v, want an error saying so", err)
		}
	})
}

// TestRESTListElementBounded: a list (jobs, nodes) is streamed so that a
// cluster with many jobs costs time, not memory; one element of it is
// bounded like a whole answer about one thing. A slurmrestd that answers
// with a single job of hundreds of megabytes (a name, a reason) would
// otherwise be held whole in memory, twice, by every poll.
func TestRESTListElementBounded(t *testing.T) {
	tok := writeToken(t, "list.token")
	huge := func(w io.Writer) {
		chunk := strings.Repeat("x", 1<<20)
		for range 12 {
			io.WriteString(w, chunk)
		}
	}
	for _, tc := range []struct {
		what string
		body func(w io.Writer)
	}{
		{"a huge job", func(w io.Writer) {
			io.WriteString(w, `{"errors":[],"jobs":[{"job_id":7,"name":"meridian-big-1"},{"job_id":8,"name":"`)
			huge(w)
			io.WriteString(w, `"}]}`)
		}},
		{"a huge field beside the list", func(w io.Writer) {
			io.WriteString(w, `{"meta":{"x":"`)
			huge(w)
			io.WriteString(w, `"},"errors":[],"jobs":[]}`)
		}},
		{"a huge key", func(w io.Writer) {
			io.WriteString(w, `{"`)
			huge(w)
			io.WriteString(w, `":1,"errors":[],"jobs":[]}`)
		}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			url, trust := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tc.body(w)
			}))
			b := newREST(t, catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: tok}, t.TempDir(), trust)
			_, _, err := b.Find(testCtx(t), "big", 1)
			if err == nil || !strings.Contains(err.Error(), "larger than") {
				t.Fatalf("Find with a 12 MiB element in the jobs list = %v, want a size error", err)
			}
		})
	}
}
