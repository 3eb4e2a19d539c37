package api

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// endedLoudTimeline is a finished run whose timeline has n events, each
// with as long a reason as a site may give (8 KiB) of characters JSON
// escapes (six bytes each).
type endedLoudTimeline struct {
	Controller
	n int64
}

func (l *endedLoudTimeline) Brief(ctx context.Context, tenant, id string) (*run.Run, error) {
	return &run.Run{ID: id, Tenant: tenant, State: run.Failed}, nil
}

func (l *endedLoudTimeline) EventsAfter(ctx context.Context, tenant, id string, after int64, limit int) ([]store.Event, error) {
	var evs []store.Event
	for seq := after + 1; seq <= l.n && len(evs) < limit; seq++ {
		evs = append(evs, store.Event{RunID: id, Seq: seq, Kind: "staging-failed", Reason: strings.Repeat("<", 8<<10)})
	}
	return evs, nil
}

// writeSizes is a ResponseWriter that keeps what is written to it and the
// size of its largest write.
type writeSizes struct {
	h       http.Header
	body    bytes.Buffer
	largest int
	writes  int
}

func (w *writeSizes) Header() http.Header { return w.h }
func (w *writeSizes) WriteHeader(int)     {}
func (w *writeSizes) Flush()              {}
func (w *writeSizes) Write(b []byte) (int, error) {
	w.writes++
	w.largest = max(w.largest, len(b))
	return w.body.Write(b)
}

// TestFollowedEventsWriteBytes: a followed timeline was written a page of
// EventPage events at a time, and events whose reasons a site made as
// long as it may made one write of some 48 MiB, held whole in memory and
// given one write wait to reach the client. Each write now ends once it
// holds streamWriteBytes, and the stream still holds every event once,
// in order.
func TestFollowedEventsWriteBytes(t *testing.T) {
	const n = EventPage + 10
	l := &endedLoudTimeline{n: n}
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { l.Controller = c; return l }})
	req := httptest.NewRequest("GET", "/v1/runs/run-loud/events?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	w := &writeSizes{h: http.Header{}}
	f.srv.Config.Handler.ServeHTTP(w, req)

	// One event's frame is the most a write may pass the bound by.
	one := 8<<10*6 + 1024
	if w.largest > streamWriteBytes+one {
		t.Errorf("a write of %d bytes, want at most about %d", w.largest, streamWriteBytes)
	}
	sc := bufio.NewScanner(&w.body)
	sc.Buffer(nil, 1<<20)
	next, ended := int64(1), false
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
			if id != strconv.FormatInt(next, 10) {
				t.Fatalf("event %s, want %d", id, next)
			}
			next++
		}
		if sc.Text() == "event: end" {
			ended = true
		}
	}
	if next != n+1 || !ended {
		t.Errorf("the stream held %d events (end: %v), want %d and its end", next-1, ended, n)
	}
}
