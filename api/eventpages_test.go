package api

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// longTimeline is a running run whose timeline has three full pages of
// events. Reading the second page waits until the client has received
// the first page's last event, or until a guard passes (then it notes
// that the first page was held back).
type longTimeline struct {
	Controller
	firstSeen chan struct{}
	heldBack  atomic.Bool
}

func (l *longTimeline) Brief(ctx context.Context, tenant, id string) (*run.Run, error) {
	return &run.Run{ID: id, Tenant: tenant, State: run.Running}, nil
}

func (l *longTimeline) EventsAfter(ctx context.Context, tenant, id string, after int64, limit int) ([]store.Event, error) {
	if after == EventPage {
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
		if next == EventPage {
			close(l.firstSeen)
		}
		next++
	}
	if next <= 3*EventPage {
		t.Fatalf("the stream ended at event %d: %v", next, sc.Err())
	}
	if l.heldBack.Load() {
		t.Errorf("the second page of the timeline was read before the first was sent")
	}
}
