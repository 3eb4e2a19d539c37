package api

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/run"
)

// shrinkingLogs is a run's output that gets shorter after it was first
// read, as a site scheduler's copy does when the run is cancelled (its Job
// deleted, its output then read as empty) or its pod's log is rotated: the
// first opening finds size bytes, each later one 10.
type shrinkingLogs struct {
	longLogs
	opened, briefs atomic.Int64
}

func (s *shrinkingLogs) OpenLogs(ctx context.Context, tenant, id string, off, limit int64) (io.ReadCloser, int64, error) {
	if s.opened.Add(1) > 1 {
		s.longLogs.size = 10
	}
	return s.longLogs.OpenLogs(ctx, tenant, id, off, limit)
}

// Brief says the run runs on for one poll, then that it ended.
func (s *shrinkingLogs) Brief(ctx context.Context, tenant, id string) (*run.Run, error) {
	st := run.Running
	if s.briefs.Add(1) > 1 {
		st = run.Cancelled
	}
	return &run.Run{ID: id, Tenant: tenant, State: st}, nil
}

// TestFollowedLogThatShrinks: a followed log whose output gets shorter
// than what was already sent ends cleanly with what was sent; before, the
// route asked for a negative length and panicked, and the client's stream
// broke off without its end.
func TestFollowedLogThatShrinks(t *testing.T) {
	s := &shrinkingLogs{longLogs: longLogs{size: 1000}}
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { s.Controller = c; return s }})
	req, _ := http.NewRequest("GET", f.srv.URL+"/v1/runs/run-shrinks/logs?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	w := &checkWriter{}
	n, err := io.Copy(w, resp.Body)
	if err != nil || resp.StatusCode != 200 || n != 1000 || w.bad != 0 {
		t.Errorf("followed log that shrank from 1000 to 10 bytes: %d, %d bytes (%v), first wrong byte at %d; want the 1000 sent, ended cleanly", resp.StatusCode, n, err, w.bad-1)
	}
	if s.opened.Load() < 2 {
		t.Errorf("the output was opened %d times: the route never read it again after it shrank", s.opened.Load())
	}
}
