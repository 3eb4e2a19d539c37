package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// streamTransport answers the first request with stream as an event
// stream, whose end cancels the call (so that no reconnect waits), and
// each later one (a page the runs stream's list names) with the next of
// pages as JSON.
type streamTransport struct {
	stream   string
	pages    [][]byte
	requests int
	ended    func()
}

type endBody struct {
	r     io.Reader
	ended func()
}

func (b *endBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.ended()
	}
	return n, err
}

func (b *endBody) Close() error { b.ended(); return nil }

func (s *streamTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	s.requests++
	h := http.Header{}
	if s.requests == 1 {
		h.Set("Content-Type", "text/event-stream")
		return &http.Response{StatusCode: 200, Header: h, Body: &endBody{r: strings.NewReader(s.stream), ended: s.ended}, Request: req}, nil
	}
	h.Set("Content-Type", "application/json")
	b := s.pages[min(s.requests-2, len(s.pages)-1)]
	return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(bytes.NewReader(b)), Request: req}, nil
}

// FuzzFollowStream: whatever a server streams (and answers for the pages
// a runs list names), FollowEvents and FollowRuns return without a panic
// or a hang, and hand fn only events as documented: exactly one of a
// timeline event, a run (with its run set) or the end, nothing after the
// end, timeline events in order of seq, each once; a list or a run, each
// run of a list set.
func FuzzFollowStream(f *testing.F) {
	f.Add(false, "id: 1\nevent: event\ndata: {\"seq\":1,\"kind\":\"x\"}\n\nevent: run\ndata: {\"id\":\"r-1\"}\n\nevent: end\ndata: {\"state\":\"succeeded\"}\n\n", []byte("{}"))
	f.Add(false, "event: run\ndata: null\n\nevent: run\ndata: {}\n\nretry: 5\n\n", []byte("{}"))
	f.Add(true, "event: runs\ndata: {\"runs\":[{\"id\":\"r-1\"}],\"next\":\"r-1\"}\n\nevent: run\ndata: {\"id\":\"r-2\"}\n\n", []byte(`{"runs":[{"id":"r-2"}],"next":"r-2"}`+"\x00\x00"+`{"runs":[{"id":"r-1"}]}`))
	f.Add(true, "event: runs\ndata: {\"runs\":[null]}\n\n", []byte("{}"))
	f.Add(true, "event: runs\ndata: {\"runs\":[],\"next\":\"x\"}\n\n", []byte(`{"runs":[{"id":"x"}],"next":"x"}`))
	f.Fuzz(func(t *testing.T, runs bool, stream string, pages []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tr := &streamTransport{stream: stream, pages: bytes.Split(pages, []byte("\x00\x00")), ended: cancel}
		c := &Client{Base: "http://server", Token: tokA, HTTP: &http.Client{Transport: tr}}
		var bad error
		if runs {
			c.FollowRuns(ctx, func(ev RunsStreamEvent) error {
				switch {
				case (ev.List == nil) == (ev.Run == nil):
					bad = fmt.Errorf("runs event with list %v and run %v", ev.List, ev.Run)
				case ev.Run != nil && ev.Run.Run == nil:
					bad = errors.New("a run event without its run")
				}
				for i, r := range ev.List {
					if r == nil || r.Run == nil {
						bad = fmt.Errorf("list's run %d is nil", i)
					}
				}
				return nil
			})
		} else {
			ended, last := false, int64(0)
			c.FollowEvents(ctx, "r-1", 0, func(ev RunStreamEvent) error {
				n := 0
				for _, set := range []bool{ev.Event != nil, ev.Run != nil, ev.End != nil} {
					if set {
						n++
					}
				}
				switch {
				case ended:
					bad = errors.New("an event after the end")
				case n != 1:
					bad = fmt.Errorf("event with %d of event, run and end set", n)
				case ev.Run != nil && ev.Run.Run == nil:
					bad = errors.New("a run event without its run")
				case ev.Event != nil && ev.Event.Seq <= last:
					bad = fmt.Errorf("event %d after event %d", ev.Event.Seq, last)
				}
				if ev.Event != nil {
					last = ev.Event.Seq
				}
				ended = ev.End != nil
				return nil
			})
		}
		if bad != nil {
			t.Fatal(bad)
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("still following after 5 s (%d requests)", tr.requests)
		}
		if tr.requests > MaxListPages+1 {
			t.Fatalf("%d requests", tr.requests)
		}
	})
}
