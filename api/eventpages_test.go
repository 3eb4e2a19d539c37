package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// longTimeline is a running run whose timeline has 3*EventPage events.
// The read after the first waits until the client has received the
// first read's last event, or until a guard passes (then it notes that
// the first read was held back).
type longTimeline struct {
	Controller
	firstEnd  atomic.Int64 // the seq of the first read's last event
	firstSeen chan struct{}
	heldBack  atomic.Bool
}

func (l *longTimeline) Brief(ctx context.Context, tenant, id string) (*run.Run, error) {
	return &run.Run{ID: id, Tenant: tenant, State: run.Running}, nil
}

func (l *longTimeline) EventsAfter(ctx context.Context, tenant, id string, after int64, limit int) ([]store.Event, error) {
	if end := l.firstEnd.Load(); end > 0 && after == end {
		select {
		case <-l.firstSeen:
		case <-time.After(5 * time.Second):
			l.heldBack.Store(true)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var evs []store.Event
	for seq := after + 1; seq <= 3*EventPage && len(evs) < limit; seq++ {
		evs = append(evs, store.Event{RunID: id, Seq: seq, Kind: "progress", Reason: strings.Repeat("x", 100)})
	}
	if after == 0 && len(evs) > 0 {
		l.firstEnd.Store(evs[len(evs)-1].Seq)
	}
	return evs, nil
}

// TestFollowedEventsWritePageByPage: a followed timeline read from its
// start is sent a page at a time, each page before the next is read;
// before, every page of the timeline was read into the server's memory
// before any of it was sent.
func TestFollowedEventsWritePageByPage(t *testing.T) {
	l := &longTimeline{firstSeen: make(chan struct{})}
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { l.Controller = c; return l }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/v1/runs/run-long/events?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	next := int64(1)
	for sc.Scan() && next <= 3*EventPage {
		id, ok := strings.CutPrefix(sc.Text(), "id: ")
		if !ok {
			continue
		}
		if id != strconv.FormatInt(next, 10) {
			t.Fatalf("event %s, want %d", id, next)
		}
		if next == l.firstEnd.Load() {
			close(l.firstSeen)
		}
		next++
	}
	if next <= 3*EventPage {
		t.Fatalf("the stream ended at event %d: %v", next, sc.Err())
	}
	if l.heldBack.Load() {
		t.Errorf("the second read of the timeline was made before the first was sent")
	}
}

// loudTimeline is a run whose timeline has n events, each with as long a
// reason as a site may give (8 KiB). asked is the most events a read
// asked the controller for.
type loudTimeline struct {
	Controller
	n     int64
	asked atomic.Int64
}

func (l *loudTimeline) EventsAfter(ctx context.Context, tenant, id string, after int64, limit int) ([]store.Event, error) {
	if int64(limit) > l.asked.Load() {
		l.asked.Store(int64(limit))
	}
	var evs []store.Event
	for seq := after + 1; seq <= l.n && len(evs) < limit; seq++ {
		evs = append(evs, store.Event{RunID: id, Seq: seq, Kind: "staging-failed", Reason: strings.Repeat("x", 8<<10)})
	}
	return evs, nil
}

// TestEventPageBytes: a page of a run's timeline was bounded by count
// only, and MaxEventPage events whose reasons a site made as long as it
// may (8 KiB) made one answer of 40 MiB (six times that for a reason of
// characters JSON escapes), read whole into the server's memory first. A
// page now ends before its events pass MaxEventPageBytes, naming next,
// and the controller is read EventPage events at a time; the pages hold
// every event once, in order.
func TestEventPageBytes(t *testing.T) {
	const n = 5100
	l := &loudTimeline{n: n}
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { l.Controller = c; return l }})
	after, seen := int64(0), int64(0)
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatalf("pages never end: %d events read", seen)
		}
		code, body := getBody(t, f.srv.URL+"/v1/runs/run-loud/events?limit="+strconv.Itoa(MaxEventPage)+"&after="+strconv.FormatInt(after, 10), tokA)
		if code != http.StatusOK {
			t.Fatalf("page %d: status %d: %.200s", pages, code, body)
		}
		if len(body) > MaxEventPageBytes+4096 {
			t.Fatalf("page %d: %d bytes, over the bound of %d", pages, len(body), MaxEventPageBytes)
		}
		var page EventList
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			if e.Seq != seen+1 {
				t.Fatalf("page %d holds event %d after %d", pages, e.Seq, seen)
			}
			seen = e.Seq
		}
		if page.Next == 0 {
			break
		}
		if page.Next <= after {
			t.Fatalf("page %d names next %d, not after %d", pages, page.Next, after)
		}
		after = page.Next
	}
	if seen != n {
		t.Errorf("the pages held %d events, want %d", seen, n)
	}
	if a := l.asked.Load(); a > EventPage {
		t.Errorf("a page asked the controller for %d events at once, want at most %d", a, EventPage)
	}
	// The client reads every page.
	evs, err := NewClient(f.srv.URL, tokA).Events(context.Background(), "run-loud")
	if err != nil || len(evs) != n {
		t.Errorf("client: %d events (%v), want %d", len(evs), err, n)
	}
}
