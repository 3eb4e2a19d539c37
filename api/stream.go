package api

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Streams bound what the server's streams (logs?follow=1, events?follow=1)
// may cost it. A zero field takes its value from DefaultStreams.
type Streams struct {
	// PerTenant is the most streams one tenant may hold open at once on
	// this server; one more is refused with 429.
	PerTenant int
	// WriteWait is how long one write of a stream may take. Each write
	// moves the connection's write deadline to now + WriteWait, so a
	// stream outlives the server's write timeout while a reader that stops
	// reading is cut off after WriteWait instead of holding the handler.
	WriteWait time.Duration
	// Heartbeat is how often an event stream with nothing to say sends a
	// comment line, so that proxies keep the connection open.
	Heartbeat time.Duration
	// Poll is how often an event stream reads its run again without being
	// told of a change: changes that another replica records reach this
	// one's streams no later than that, and sooner where the store
	// announces them (run.Controller.ListenStore).
	Poll time.Duration
	// ListPoll is Poll for a tenant's runs stream (GET /v1/runs?follow=1),
	// which reads the runs that can still change each time, and the
	// whole list every FullList-th time (a run that ended changes no
	// more; one missed is sent then).
	ListPoll time.Duration
	FullList int
	// Linger is how long a run's event stream stays open after the run is
	// final and nothing more was recorded, while an attempt's agent has
	// not reported its workload's exit (it may, just after a cancel).
	Linger time.Duration
	// Recheck is how often a stream's token is checked again: a stream
	// whose token was revoked (or its tenant's) ends within Recheck
	// (and the cache's CacheFor), as does one whose token the store
	// cannot vouch for across streamRecheckFails checks in a row.
	Recheck time.Duration
}

// DefaultStreams are the limits `meridian serve` uses.
var DefaultStreams = Streams{PerTenant: 16, WriteWait: 30 * time.Second, Heartbeat: 15 * time.Second, Poll: time.Second, ListPoll: 5 * time.Second, FullList: 12, Linger: 3 * time.Second, Recheck: 15 * time.Second}

func (l Streams) withDefaults() Streams {
	if l.PerTenant <= 0 {
		l.PerTenant = DefaultStreams.PerTenant
	}
	if l.WriteWait <= 0 {
		l.WriteWait = DefaultStreams.WriteWait
	}
	if l.Heartbeat <= 0 {
		l.Heartbeat = DefaultStreams.Heartbeat
	}
	if l.Poll <= 0 {
		l.Poll = DefaultStreams.Poll
	}
	if l.ListPoll <= 0 {
		l.ListPoll = DefaultStreams.ListPoll
	}
	if l.Linger <= 0 {
		l.Linger = DefaultStreams.Linger
	}
	if l.FullList <= 0 {
		l.FullList = DefaultStreams.FullList
	}
	if l.Recheck <= 0 {
		l.Recheck = DefaultStreams.Recheck
	}
	return l
}

// streamRecheckFails is how many checks of a stream's token in a row may
// fail to reach the store before the stream ends: a moment's outage does
// not end every stream at once, a long one does not leave a revoked
// token's stream open.
const streamRecheckFails = 4

// keepAuthorized cancels a stream (cancel) once the token whose hash is
// h no longer speaks for tenant: revoked, its tenant's tokens revoked, or
// not vouched for by the store for streamRecheckFails checks in a row. It
// returns when ctx ends. Before, a stream outlived its token by up to
// MaxStream: a token revoked, because it leaked or its holder left, went
// on receiving its tenant's runs, timelines and output for hours.
func (s *Server) keepAuthorized(ctx context.Context, cancel context.CancelFunc, h, tenant string) {
	t := time.NewTicker(s.opts.Streams.Recheck)
	defer t.Stop()
	fails := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p, ok, err := s.auth.principalHash(ctx, h)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if fails++; fails < streamRecheckFails {
				continue
			}
		}
		if err != nil || !ok || p.Tenant != tenant {
			cancel()
			return
		}
		fails = 0
	}
}

// streams counts the open streams per tenant and ends them all when the
// server shuts down.
type streams struct {
	slots
	done     chan struct{}
	doneOnce sync.Once
}

// OpenStreams returns how many streams tenant holds open on this server.
func (s *Server) OpenStreams(tenant string) int {
	return s.streams.held(tenant)
}

// EndStreams ends every open stream and refuses new ones (503). An
// http.Server made by NewHTTPServer calls it when it shuts down: Shutdown
// waits for handlers to return, and a stream would otherwise last as long
// as its run.
func (s *Server) EndStreams() {
	s.streams.doneOnce.Do(func() { close(s.streams.done) })
}

// streamContext bounds a stream's context by MaxStream and ends it when
// the server shuts down.
func (s *Server) streamContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, MaxStream)
	go func() {
		select {
		case <-s.streams.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// streamWriter writes a stream: each write first moves the connection's
// write deadline to now + wait, then flushes what it wrote.
type streamWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	wait time.Duration
	now  func() time.Time
}

func (s *Server) streamWriter(w http.ResponseWriter) *streamWriter {
	return &streamWriter{w: w, rc: http.NewResponseController(w), wait: s.opts.Streams.WriteWait, now: s.now}
}

// extend gives the next write wait more time.
func (sw *streamWriter) extend() {
	sw.rc.SetWriteDeadline(sw.now().Add(sw.wait))
}

func (sw *streamWriter) Write(b []byte) (int, error) {
	sw.extend()
	n, err := sw.w.Write(b)
	if err != nil {
		return n, err
	}
	return n, sw.rc.Flush()
}

// followed says whether a request to a Follow route asks for the stream:
// follow=1 (or true, see queryFlag), or an Accept header that names
// text/event-stream.
func followed(r *http.Request) bool {
	if on, _ := flagValue(r.URL.Query().Get("follow")); on {
		return true
	}
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(mt), "text/event-stream") {
				return true
			}
		}
	}
	return false
}
