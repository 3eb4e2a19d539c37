package api

import (
	"context"
	"io"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/run"
)

// panickyLogs is a run's output whose reader panics when read (a
// backend's bug, read again from the site), and counts its closings.
type panickyLogs struct {
	Controller
	opened, closed atomic.Int64
}

func (p *panickyLogs) OpenLogs(ctx context.Context, tenant, id string, off, limit int64) (io.ReadCloser, int64, error) {
	p.opened.Add(1)
	return panicOnRead{p}, 100, nil
}

func (p *panickyLogs) Brief(ctx context.Context, tenant, id string) (*run.Run, error) {
	return &run.Run{ID: id, Tenant: tenant, State: run.Running}, nil
}

type panicOnRead struct{ p *panickyLogs }

func (r panicOnRead) Read([]byte) (int, error) { panic("a backend's reader failed") }
func (r panicOnRead) Close() error             { r.p.closed.Add(1); return nil }

// TestFollowedLogPanicClosesReader: a followed log whose reader panics
// (the HTTP server recovers and goes on) still has its reader closed,
// which gives back the site output of its tenant's that it holds
// (run.logTenantHold). Before, the round's reader was closed only after
// the round's copy returned: each such panic left up to 16 MiB of the
// tenant's 32 taken until restart.
func TestFollowedLogPanicClosesReader(t *testing.T) {
	p := &panickyLogs{}
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { p.Controller = c; return p }})
	req := httptest.NewRequest("GET", "/v1/runs/run-panics/logs?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("the reader did not panic")
			}
		}()
		f.srv.Config.Handler.ServeHTTP(httptest.NewRecorder(), req)
	}()
	if o, c := p.opened.Load(), p.closed.Load(); o == 0 || c < o {
		t.Errorf("%d readers opened, %d closed; want each closed", o, c)
	}
}
