package api

import (
	"bufio"
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// heavyTimeline is a finished run whose timeline has n events, each with
// a reason of reason bytes. held is the most reason bytes one read
// returned, reads how many reads there were.
type heavyTimeline struct {
	Controller
	n      int64
	reason int
	held   atomic.Int64
	reads  atomic.Int64
}

func (l *heavyTimeline) Brief(ctx context.Context, tenant, id string) (*run.Run, error) {
	return &run.Run{ID: id, Tenant: tenant, State: run.Failed}, nil
}

func (l *heavyTimeline) EventsAfter(ctx context.Context, tenant, id string, after int64, limit int) ([]store.Event, error) {
	l.reads.Add(1)
	var evs []store.Event
	held := int64(0)
	for seq := after + 1; seq <= l.n && len(evs) < limit; seq++ {
		evs = append(evs, store.Event{RunID: id, Seq: seq, Kind: "staging-failed", Reason: strings.Repeat("x", l.reason)})
		held += int64(l.reason)
	}
	if held > l.held.Load() {
		l.held.Store(held)
	}
	return evs, nil
}

// TestEventReadBytes: every read of a timeline asked the controller for
// EventPage events, so events whose reasons a site made as long as it
// may (8 KiB) were read 8 MiB at a time, held whole in the server's
// memory, for a page of the timeline and for a followed one alike. A read
// now holds about eventReadBytes, and the events still all come, once
// and in order.
func TestEventReadBytes(t *testing.T) {
	const n = 2*EventPage + 7
	for _, follow := range []bool{false, true} {
		l := &heavyTimeline{n: n, reason: 8 << 10}
		f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { l.Controller = c; return l }})
		var seen int64
		if follow {
			req := httptest.NewRequest("GET", "/v1/runs/run-heavy/events?follow=1", nil)
			req.Header.Set("Authorization", "Bearer "+tokA)
			w := &writeSizes{h: map[string][]string{}}
			f.srv.Config.Handler.ServeHTTP(w, req)
			sc := bufio.NewScanner(&w.body)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
					if id != strconv.FormatInt(seen+1, 10) {
						t.Fatalf("followed: event %s after %d", id, seen)
					}
					seen++
				}
			}
		} else {
			evs, err := NewClient(f.srv.URL, tokA).Events(context.Background(), "run-heavy")
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				if e.Seq != seen+1 {
					t.Fatalf("paged: event %d after %d", e.Seq, seen)
				}
				seen++
			}
		}
		if seen != n {
			t.Errorf("follow=%v: %d events, want %d", follow, seen, n)
		}
		t.Logf("follow=%v: at most %d bytes of reasons in one read, %d reads", follow, l.held.Load(), l.reads.Load())
		if h := l.held.Load(); h > eventReadBytes {
			t.Errorf("follow=%v: a read held %d bytes of reasons, want at most about %d", follow, h, eventReadBytes)
		}
	}
}

// TestEventReadsLonger: an event longer than eventBytes (one stored
// before reasons were cut) makes the reads after it smaller, so they
// still hold about eventReadBytes.
func TestEventReadsLonger(t *testing.T) {
	var rd eventReads
	first := rd.ask(EventPage)
	evs := []store.Event{{Reason: strings.Repeat("x", 64<<10)}}
	rd.saw(evs)
	next := rd.ask(EventPage)
	if next >= first || next*(64<<10) > eventReadBytes {
		t.Errorf("after an event of 64 KiB a read asks for %d events (first %d), want at most %d", next, first, eventReadBytes/(64<<10))
	}
	if n := rd.ask(3); n > 3 {
		t.Errorf("asked for %d events where 3 are wanted", n)
	}
	rd.saw([]store.Event{{Reason: strings.Repeat("x", 64<<20)}})
	if n := rd.ask(EventPage); n != 1 {
		t.Errorf("after an event over eventReadBytes a read asks for %d, want 1", n)
	}
}
