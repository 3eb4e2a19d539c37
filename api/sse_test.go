package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/run"
)

func readAll(t testing.TB, in string) ([]SSE, error) {
	rd := NewSSEReader(strings.NewReader(in))
	var out []SSE
	for {
		ev, err := rd.Next()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return out, err
		}
		out = append(out, ev)
	}
}

func TestSSEReader(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []SSE
		err      error
	}{
		{"one", "id: 3\nevent: event\ndata: {}\n\n", []SSE{{ID: "3", Event: "event", Data: "{}"}}, nil},
		{"crlf and cr", "event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\r", []SSE{{Event: "a", Data: "1"}, {Event: "b", Data: "2"}}, nil},
		{"comments and blank lines", ": keepalive\n\n\n: again\nretry: 2000\n\ndata: x\n\n", []SSE{{Retry: 2 * time.Second}, {Data: "x"}}, nil},
		{"data lines join", "data: a\ndata:b\ndata\n\n", []SSE{{Data: "a\nb\n"}}, nil},
		{"no space after the colon", "event:run\ndata:{}\n\n", []SSE{{Event: "run", Data: "{}"}}, nil},
		{"an id with NUL is ignored", "id: 1\x002\ndata: x\n\n", []SSE{{Data: "x"}}, nil},
		{"bad retry is ignored", "retry: soon\ndata: x\n\n", []SSE{{Data: "x"}}, nil},
		{"unknown fields", "colour: red\ndata: x\n\n", []SSE{{Data: "x"}}, nil},
		{"cut off mid-event", "data: x\n\ndata: y\n", []SSE{{Data: "x"}}, nil},
		{"cut off mid-line", "data: x\n\ndata: y", []SSE{{Data: "x"}}, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(t, tc.in)
			if !errors.Is(err, tc.err) {
				t.Errorf("error %v, want %v", err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	long := "data: " + strings.Repeat("x", MaxSSELine) + "\n\n"
	if _, err := readAll(t, long); err == nil || !strings.Contains(err.Error(), "over") {
		t.Errorf("a line over MaxSSELine: %v", err)
	}
}

// FuzzSSEReader: any input reads without a panic, and what the server's
// framing writes reads back as it was.
func FuzzSSEReader(f *testing.F) {
	f.Add("id: 3\nevent: event\ndata: {\"seq\":3}\n\n", "run", `{"id":"run-1"}`)
	f.Add(": keepalive\r\n\r\nretry: 2000\r\rdata\r\n", "end", `{"state":"cancelled"}`)
	f.Add("data: a\ndata: b\n\nevent", "event", "{}")
	f.Fuzz(func(t *testing.T, in, event, data string) {
		readAll(t, in)
		if strings.ContainsAny(event+data, "\r\n") || event == "" || strings.HasPrefix(event, " ") || strings.HasPrefix(data, " ") {
			return // the server never frames these: names are constants, data is JSON
		}
		var buf bytes.Buffer
		frameRaw(&buf, event, "7", []byte(data))
		got, err := readAll(t, buf.String())
		if err != nil || len(got) != 1 || got[0] != (SSE{ID: "7", Event: event, Data: data}) {
			t.Errorf("frame %q read back as %+v (%v)", buf.String(), got, err)
		}
	})
}

// pipeListener serves connections made with net.Pipe, which buffers
// nothing: a client that stops reading blocks the server's next write at
// once, as a slow reader does once the socket buffers are full.
type pipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestEventStreamSlowReader: a client that stops reading holds the
// stream's handler no longer than Streams.WriteWait: its write fails, the
// stream ends and its slot is free. The server keeps no queue for it.
func TestEventStreamSlowReader(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Streams: Streams{Heartbeat: 50 * time.Millisecond, WriteWait: 200 * time.Millisecond}})
	r, err := NewClient(f.srv.URL, tokA).Submit(context.Background(), run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
	if err != nil {
		t.Fatal(err)
	}
	ln := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	hs, lln := NewHTTPServer(f.h, ln, DefaultLimits)
	go hs.Serve(lln)
	defer hs.Close()
	hc := &http.Client{Transport: &http.Transport{DialContext: ln.dial}}
	req, _ := http.NewRequest("GET", "http://pipe/v1/runs/"+r.ID+"/events?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// Read the first event, then stop reading.
	if _, err := NewSSEReader(resp.Body).Next(); err != nil {
		t.Fatal(err)
	}
	if n := f.h.OpenStreams("a"); n != 1 {
		t.Fatalf("%d streams open", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.h.OpenStreams("a") > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := f.h.OpenStreams("a"); n != 0 {
		t.Errorf("a reader that stopped reading still holds its stream after 10 s (write wait 200 ms)")
	}
}

// TestFollowEventsHostileServer: a server that sends data lines and never
// the blank line that ends the event cannot make the client keep them
// without end: each connection is cut once the event's data passes
// MaxSSELine, and the follow gives up with that error.
func TestFollowEventsHostileServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "retry: 1\n\n")
		line := []byte("data: " + strings.Repeat("x", 64<<10) + "\n")
		// Three times the bound, then wait for the client to go: a client
		// that keeps every line waits here with them until its deadline.
		for n := 0; n < 3*MaxSSELine; n += len(line) {
			if _, err := w.Write(line); err != nil {
				return
			}
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := NewClient(srv.URL, tokA).FollowEvents(ctx, "r1", 0, func(RunStreamEvent) error { return nil })
	if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "data over") {
		t.Fatalf("FollowEvents against an event that never ends: %v, want the event's data refused as over %d bytes", err, MaxSSELine)
	}
	// Many empty data lines count too.
	in := strings.Repeat("data\n", 300) + "\n"
	if _, err := NewSSEReaderSize(strings.NewReader(in), 1000).Next(); err == nil {
		t.Errorf("300 empty data lines (1,500 bytes) read under a 1,000-byte bound")
	}
}

// TestFollowEventsSilentServer: a stream that goes silent (a server that
// stopped, or a connection cut without a word) is given up after
// Client.StreamIdle without a byte, heartbeats being bytes, and opened
// again; the follow ends with that error after five such tries, rather
// than waiting for ever.
func TestFollowEventsSilentServer(t *testing.T) {
	var opened atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if opened.Add(1) == 1 {
			<-r.Context().Done() // not even the headers
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "retry: 1\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	c := NewClient(srv.URL, tokA)
	c.StreamIdle = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := c.FollowEvents(ctx, "r1", 0, func(RunStreamEvent) error { return nil })
	if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "nothing") {
		t.Fatalf("FollowEvents against a silent server: %v, want the stream given up as silent", err)
	}
	if n := opened.Load(); n < 6 {
		t.Errorf("%d connections, want 6 (the first and five more)", n)
	}
}
