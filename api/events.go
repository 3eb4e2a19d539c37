package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// StreamEnd is the data of a run's event stream's last event, "end": the
// run is final, every event of its timeline was sent, and every attempt's
// agent reported its exit (or nothing was recorded for Streams.Linger).
type StreamEnd struct {
	State  run.State `json:"state"`
	Reason string    `json:"reason,omitempty"`
}

// The server-sent events of GET /v1/runs/{id}/events?follow=1:
//
//	event: event   id: the event's seq   data: a store.Event of the timeline
//	event: run     (no id)               data: the run (RunShown, without documents)
//	event: end     (no id)               data: StreamEnd; the stream closes
//	event: error   (no id)               data: ErrorBody, why the stream ends
//	                                     when a read it cannot go on without
//	                                     failed; the stream closes
//	: keepalive                          a comment every Streams.Heartbeat
//
// Only timeline events carry an id, so Last-Event-ID is the seq of the last
// timeline event received: a client that reconnects with it gets every
// later event once, in order, and then the run as it is now (a run event
// is the run's whole state, never a change to apply, so missing one loses
// nothing).
const (
	sseEvent = "event"
	sseRun   = "run"
	sseEnd   = "end"
)

// retryMillis is what the stream asks a client to wait before it
// reconnects (the SSE retry field).
const retryMillis = 2000

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if _, ok := queryFlag(w, r, "follow"); !ok {
		return
	}
	if followed(r) {
		s.followEvents(w, r)
		return
	}
	after, field, err := lastEventID(r)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "invalid", field, err.Error())
		return
	}
	limit, ok := queryInt(w, r, "limit", EventPage, 1, MaxEventPage, fmt.Sprintf("a number of events from 1 to %d", MaxEventPage))
	if !ok {
		return
	}
	page, next, err := s.eventPage(r.Context(), tenantOf(r), r.PathValue("id"), after, int(limit))
	if err != nil {
		fail(w, err)
		return
	}
	// EventList, from the events' JSON as eventPage measured it.
	writePage(w, "events", page.items, pageField{"next", next})
}

// eventPage reads the events of run id after after, up to limit of them
// and MaxEventPageBytes of their JSON (at least one), from the controller
// a read at a time (eventReads sizes them). next is the after= of the
// next page: the last event's seq when the page is full or was cut at the bound, else 0.
// Events carry what sites say (a reason of up to 8 KiB each): a page of
// MaxEventPage of them read at once ran to tens of megabytes, held in the
// server's memory and sent in one answer. The page is its events' JSON
// as measured: it is written from that, not encoded again.
func (s *Server) eventPage(ctx context.Context, tenant, id string, after int64, limit int) (page rawPage, next int64, err error) {
	var rd eventReads
	for len(page.items) < limit {
		ask := rd.ask(limit - len(page.items))
		evs, err := s.c.EventsAfter(ctx, tenant, id, after, ask)
		if err != nil {
			return rawPage{}, 0, err
		}
		rd.saw(evs)
		for _, e := range evs {
			if ok, err := page.add(e, MaxEventPageBytes); err != nil {
				return rawPage{}, 0, err
			} else if !ok {
				return page, after, nil
			}
			after = e.Seq
		}
		if len(evs) < ask {
			return page, 0, nil
		}
	}
	return page, after, nil
}

// EventPage is how many events GET /v1/runs/{id}/events answers unless
// asked for another number up to MaxEventPage; next names the rest.
const (
	EventPage    = 1000
	MaxEventPage = 5000
	// MaxEventPageBytes bounds the events' JSON in one answer: a page
	// that would pass it ends before, naming next (it holds at least one
	// event).
	MaxEventPageBytes = 4 << 20
)

// eventReadBytes is about the most one read of a timeline from the
// controller holds: a read asks for as many events as fit it when each
// is as long as eventBytes, or as the longest event this request has
// read, if longer. Events whose reasons a site made as long as it may
// (8 KiB) made a read of EventPage of them some 8 MiB, held whole
// however little of it one page or one write of a stream then took.
const eventReadBytes = 1 << 20

// eventBytes is about the most an event's fields hold: a reason of up to
// 8 KiB (the controller cuts longer ones), a short kind, states and data.
const eventBytes = 9 << 10

// eventReads sizes a request's reads of a timeline by bytes.
type eventReads struct {
	longest int // the most bytes one event read so far held
}

// ask is how many events the next read asks for: at most want,
// EventPage and what fits eventReadBytes; at least one.
func (r *eventReads) ask(want int) int {
	n := eventReadBytes / max(eventBytes, r.longest)
	return max(1, min(want, EventPage, n))
}

// saw notes the events a read returned.
func (r *eventReads) saw(evs []store.Event) {
	for _, e := range evs {
		r.longest = max(r.longest, eventSize(e))
	}
}

// eventSize is about how many bytes e holds in memory.
func eventSize(e store.Event) int {
	return len(e.RunID) + len(e.Kind) + len(e.From) + len(e.To) + len(e.Reason) + len(e.Data) + 64
}

// streamWriteBytes is about the most a followed timeline writes at once:
// a write ends with the event that brings it to this size (an event
// longer than it goes alone).
const streamWriteBytes = 256 << 10

// lastEventID reads where a client resumes: the Last-Event-ID header, else
// ?after=; 0 (the whole timeline) when neither is set.
func lastEventID(r *http.Request) (int64, string, error) {
	field, v := "Last-Event-ID", r.Header.Get("Last-Event-ID")
	if v == "" {
		field, v = "after", r.URL.Query().Get("after")
	}
	if v == "" {
		return 0, "", nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, field, fmt.Errorf("%s: want the seq of a timeline event (an integer of 0 or more)", clip(v))
	}
	return n, field, nil
}

// followEvents streams run id's timeline and state as server-sent events
// until the run is final and quiet (then "end" and the stream closes), the
// client goes, the server shuts down or MaxStream passes. It reads what the store
// recorded each time the controller signals a change to the run (or every
// Streams.Poll, for changes other replicas record), so a client sees
// exactly what GET …/events and GET /v1/runs/{id} would answer, and the
// server keeps no queue per client: a reader that does not take a write
// within Streams.WriteWait is disconnected and resumes with Last-Event-ID.
func (s *Server) followEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tenant, id := tenantOf(r), r.PathValue("id")
	last, field, err := lastEventID(r)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "invalid", field, err.Error())
		return
	}
	if _, err := s.c.Brief(ctx, tenant, id); err != nil {
		fail(w, err)
		return
	}
	// Watch before the first read: a change between the read and the
	// watch would otherwise wait for the next poll.
	var changed <-chan struct{}
	if rw, ok := s.c.(RunWatcher); ok {
		ch, stop := rw.WatchRun(id)
		defer stop()
		changed = ch
	}
	sw, err := s.openSSE(w)
	if err != nil {
		return
	}
	lim := s.opts.Streams
	poll, beat := time.NewTicker(lim.Poll), time.NewTicker(lim.Heartbeat)
	defer poll.Stop()
	defer beat.Stop()
	var sent []byte // the run as last sent
	var quietT *time.Timer
	defer func() {
		if quietT != nil {
			quietT.Stop()
		}
	}()
	var buf bytes.Buffer
	var lastAt time.Time // when the last event sent was recorded
	var rd eventReads    // reads of the timeline, sized by bytes
	// A read the stream cannot go on without ends it with an error event
	// that says why, after the events it read before.
	var why error
	defer func() {
		if why == nil {
			return
		}
		if buf.Len() > 0 {
			if _, err := sw.Write(buf.Bytes()); err != nil {
				return
			}
		}
		streamFailed(ctx, w, sw, why)
	}()
	for wakes := 0; ; wakes++ {
		// The run first, then its events: they are written in one
		// transaction with the run's row, so the events read hold every
		// one up to the run's state, and a run that did not change (the
		// same row, updatedAt included) has no new event: most polls read
		// the run alone. Every tenth wake reads the events regardless (two
		// changes in one clock tick would leave updatedAt the same).
		cur, err := s.c.Brief(ctx, tenant, id) // as in the list: GET /v1/runs/{id} has the documents
		if err != nil {
			why = err
			return
		}
		// Marked as the list marks it when its row was changed outside
		// Meridian: from what the witness keeps, no audit read per wake.
		b, err := json.Marshal(s.shown(ctx, cur, false))
		if err != nil {
			why = err
			return
		}
		buf.Reset()
		if moved := !bytes.Equal(b, sent); moved || wakes%10 == 0 {
			// The events not sent yet, a page at a time: not the whole
			// timeline on every change. Each full page is written before
			// the next is read: a client that starts from the beginning
			// of a long timeline held it all in the server's memory
			// before the first byte of it was sent. Within a page, the
			// events go out in writes of about streamWriteBytes: a page of
			// events whose reasons a site made long is megabytes, which one
			// write held in memory and had to get through to a slow client
			// within one write wait. A page is one read, sized by
			// eventReads: what a read holds is bounded by bytes too.
			for {
				ask := rd.ask(EventPage)
				evs, err := s.c.EventsAfter(ctx, tenant, id, last, ask)
				if err != nil {
					why = err
					return
				}
				rd.saw(evs)
				for _, e := range evs {
					frame(&buf, sseEvent, strconv.FormatInt(e.Seq, 10), e)
					last, lastAt = e.Seq, e.Time
					if buf.Len() >= streamWriteBytes {
						if _, err := sw.Write(buf.Bytes()); err != nil {
							return
						}
						buf.Reset()
						beat.Reset(lim.Heartbeat)
					}
				}
				if len(evs) < ask {
					break
				}
				if buf.Len() > 0 {
					if _, err := sw.Write(buf.Bytes()); err != nil {
						return
					}
					buf.Reset()
					beat.Reset(lim.Heartbeat)
				}
			}
			if moved {
				frameRaw(&buf, sseRun, "", b)
				sent = b
			}
		}
		// A final run may still record an event: an attempt's agent
		// reporting its workload's exit after the cancel. While one has
		// not reported, the stream ends only once nothing was recorded for
		// Streams.Linger.
		var quiet <-chan time.Time
		final := cur.State.Final()
		if final && exitPending(cur) {
			changedAt := cur.UpdatedAt
			if lastAt.After(changedAt) {
				changedAt = lastAt
			}
			if left := lim.Linger - s.now().Sub(changedAt); left > 0 {
				if quietT != nil {
					quietT.Stop()
				}
				quietT = time.NewTimer(left)
				quiet = quietT.C
			}
		}
		if final && quiet == nil {
			frame(&buf, sseEnd, "", StreamEnd{State: cur.State, Reason: cur.Reason})
		}
		if buf.Len() > 0 {
			if _, err := sw.Write(buf.Bytes()); err != nil {
				return
			}
			beat.Reset(lim.Heartbeat)
		}
		if final && quiet == nil {
			return
		}
		if _, ok := waitChange(ctx, sw, changed, poll.C, quiet, beat); !ok {
			return
		}
	}
}

// exitPending says whether an attempt that was launched has no exit
// reported by its agent yet.
func exitPending(r *run.Run) bool {
	for _, a := range r.Attempts {
		if a.Handle != "" && a.Exit == nil {
			return true
		}
	}
	return false
}

// openSSE answers 200 with an event stream and sends its retry field;
// every write through the writer it returns has Streams.WriteWait.
func (s *Server) openSSE(w http.ResponseWriter) (*streamWriter, error) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Accel-Buffering", "no") // nginx: pass each event on
	w.WriteHeader(http.StatusOK)
	sw := s.streamWriter(w)
	_, err := fmt.Fprintf(sw, "retry: %d\n\n", retryMillis)
	return sw, err
}

// waitChange waits for a signal that the run changed, the poll's tick or
// quiet's, sending a comment line each heartbeat meanwhile; polled says
// the poll's tick woke it, ok is false when the stream must end (the
// client went, the server shuts down, a write failed).
func waitChange(ctx context.Context, sw io.Writer, changed <-chan struct{}, poll, quiet <-chan time.Time, beat *time.Ticker) (polled, ok bool) {
	for {
		select {
		case <-ctx.Done():
			return false, false
		case <-changed:
			return false, true
		case <-poll:
			return true, true
		case <-quiet:
			return false, true
		case <-beat.C:
			if _, err := sw.Write([]byte(": keepalive\n\n")); err != nil {
				return false, false
			}
		}
	}
}

// frame appends one server-sent event with v as JSON data.
func frame(buf *bytes.Buffer, event, id string, v any) {
	b, _ := json.Marshal(v) // store.Event and StreamEnd always marshal
	frameRaw(buf, event, id, b)
}

// frameRaw appends one server-sent event. data is JSON, which holds no
// newline, so it is one data line.
func frameRaw(buf *bytes.Buffer, event, id string, data []byte) {
	if id != "" {
		buf.WriteString("id: " + id + "\n")
	}
	buf.WriteString("event: " + event + "\ndata: ")
	buf.Write(data)
	buf.WriteString("\n\n")
}

// The server-sent events of GET /v1/runs?follow=1:
//
//	event: runs   data: RunList, the tenant's runs as GET /v1/runs answers
//	              without limit; with pages=1, its first page (RunPage runs)
//	              and in next where the rest starts, for GET /v1/runs?after=
//	event: run    data: one run (RunShown, without documents), new or
//	              changed since the stream last sent it
//	event: error  data: ErrorBody, as an error answer has it: why the stream
//	              ends, when a read it cannot go on without failed; the
//	              stream closes after it
//	: keepalive   a comment every Streams.Heartbeat
//
// The list comes first, then a run event for each run that changes after
// it was read (for a paged list, after the stream opened: a run the client
// reads in a later page that changed since comes as a run event too). No
// event has an id: a client that reconnects gets the list again. Without
// pages=1 a tenant with more than MaxRunPage runs is answered 400 naming
// limit, as GET /v1/runs without limit is: never a first page passed off
// as the whole, and never more than a page of runs read for one stream.
const sseRuns = "runs"

// sseError is the runs stream's last event when a read it cannot go on
// without fails: the error, as the answer to a request would carry it.
// Before, the stream ended without a word, and a client that opened it
// again met the same failure with nothing to show for it.
const sseError = "error"

// versionPage is how many runs' versions the runs stream reads at once:
// its check of the whole list reads them a page at a time, however many
// runs the tenant has (ended ones included: they are never deleted).
// Tests lower it.
var versionPage = 5000

// eachVersions calls fn with each page of tenant's runs' versions after
// run after (from the first when after is empty), oldest first, until
// the last page or fn's error.
func eachVersions(ctx context.Context, vl VersionLister, tenant, after string, fn func([]store.RunVersion) error) error {
	for {
		page, err := vl.ListVersions(ctx, tenant, after, versionPage)
		if err != nil {
			return err
		}
		if err := fn(page); err != nil {
			return err
		}
		if len(page) < versionPage || page[len(page)-1].ID == after {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// errStreamGone is a stream's write that failed: its reader is gone, or
// too slow, and nothing more can reach it.
var errStreamGone = errors.New("the stream's reader is gone")

// errorCapture holds the answer fail gives an error, for a stream that
// already answered 200: the status and headers stay its own, and the
// request's log line (which fail reaches through Unwrap) records the
// fault as for an answer.
type errorCapture struct {
	w      http.ResponseWriter
	header http.Header
	body   bytes.Buffer
}

func (c *errorCapture) Header() http.Header {
	if c.header == nil {
		c.header = http.Header{}
	}
	return c.header
}
func (c *errorCapture) WriteHeader(int)             {}
func (c *errorCapture) Write(b []byte) (int, error) { return c.body.Write(b) }
func (c *errorCapture) Unwrap() http.ResponseWriter { return c.w }

// streamFailed writes an error event for err, which ended the stream
// whose ResponseWriter is w, unless the stream's reader is gone or its
// context ended (the client went, the server ends its streams): there
// is nobody to tell, or the server says so itself.
func streamFailed(ctx context.Context, w http.ResponseWriter, sw io.Writer, err error) {
	if err == nil || errors.Is(err, errStreamGone) || ctx.Err() != nil {
		return
	}
	c := &errorCapture{w: w}
	fail(c, err)
	var buf bytes.Buffer
	frameRaw(&buf, sseError, "", bytes.TrimSpace(c.body.Bytes()))
	sw.Write(buf.Bytes())
}

// followRuns streams tenant's runs: the list, then each run as it
// changes, until the client goes, the server shuts down or MaxStream
// passes. On the controller's signal it reads the runs that changed (on
// PostgreSQL, whichever replica changed them), or the whole list when the
// controller cannot say which. Every Streams.ListPoll it reads the runs
// that can still change (the tenant's runs that have not ended, and those
// it last sent as not ended), and every Streams.FullList-th time the whole
// list, as versions (VersionLister) where it can. What it keeps per stream
// is one hash and one version per run, not the runs.
func (s *Server) followRuns(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tenant := tenantOf(r)
	// Watch before the first read: a change between the read and the
	// watch would otherwise wait for the next poll.
	var tw *run.TenantWatch
	var changed <-chan struct{}
	if tws, ok := s.c.(TenantWatcher); ok {
		var stop func()
		tw, stop = tws.WatchTenant(tenant)
		defer stop()
		changed = tw.Changed()
	}
	paged := false
	switch v := r.URL.Query().Get("pages"); v {
	case "":
	case "1":
		paged = true
	default:
		writeErr(w, http.StatusBadRequest, "invalid", "pages", fmt.Sprintf("%s: 1 (the list comes a page at a time) or absent", clip(v)))
		return
	}
	size := MaxRunPage
	if paged {
		size = RunPage
	}
	// The list is a page as GET /v1/runs answers it: at most size runs
	// and MaxRunPageBytes of them.
	runs, raw, more, err := s.runPage(ctx, tenant, "", size)
	if err != nil {
		fail(w, err)
		return
	}
	next := ""
	if more {
		if !paged {
			writeErr(w, http.StatusBadRequest, "invalid", "limit", fmt.Sprintf(
				"the tenant has more runs than the stream's list holds (%d, or %d bytes of them): follow with pages=1 and read the rest of the list with GET /v1/runs?after=", MaxRunPage, MaxRunPageBytes))
			return
		}
		next = runs[len(runs)-1].ID
	}
	vl, _ := s.c.(VersionLister)
	// vers holds the row version of each run as last read, for the check
	// that reads only the runs whose version moved on.
	vers := make(map[string]int64, len(runs))
	// The versions of the runs after the page, as of now, a page at a
	// time: the client reads them with GET, and the stream sends those
	// that change from here on.
	if next != "" && vl != nil {
		if err := eachVersions(ctx, vl, tenant, next, func(vs []store.RunVersion) error {
			for _, v := range vs {
				vers[v.ID] = v.Version
			}
			return nil
		}); err != nil {
			fail(w, err)
			return
		}
	}
	sw, err := s.openSSE(w)
	if err != nil {
		return
	}
	lim := s.opts.Streams
	poll, beat := time.NewTicker(lim.ListPoll), time.NewTicker(lim.Heartbeat)
	defer poll.Stop()
	defer beat.Stop()
	// The list, as RunList, from each run's JSON, which is hashed too.
	// live holds the runs last sent as not ended: a poll reads those
	// again, and the tenant's runs not ended, not its whole history.
	sent := make(map[string]uint64, len(runs))
	live := map[string]bool{}
	ll, _ := s.c.(LiveLister)
	polls := 0
	var list, buf bytes.Buffer
	list.WriteString(`{"runs":[`)
	for i, x := range runs {
		b := raw.items[i] // the run's JSON, without its documents, as runPage measured it
		if i > 0 {
			list.WriteByte(',')
		}
		list.Write(b)
		sent[x.ID], vers[x.ID] = runHash(b), x.RowVersion()
		if !x.State.Final() {
			live[x.ID] = true
		}
	}
	list.WriteString("]")
	if next != "" {
		nb, _ := json.Marshal(next)
		list.WriteString(`,"next":`)
		list.Write(nb)
	}
	list.WriteString("}")
	frameRaw(&buf, sseRuns, "", list.Bytes())
	// send frames x unless it is what the stream last sent of it.
	send := func(x *run.Run) bool {
		b, err := json.Marshal(s.shown(ctx, x, false)) // marked as in the list: no audit read
		if err != nil {
			return false
		}
		if h := runHash(b); sent[x.ID] != h {
			frameRaw(&buf, sseRun, "", b)
			sent[x.ID] = h
		}
		vers[x.ID] = x.RowVersion()
		if x.State.Final() {
			delete(live, x.ID)
		} else {
			live[x.ID] = true
		}
		return true
	}
	// out writes what buf holds; the reads below call it as they go, so
	// that the stream holds at most a page of runs' events, however many
	// changed.
	out := func() bool {
		if buf.Len() == 0 {
			return true
		}
		_, err := sw.Write(buf.Bytes())
		buf.Reset()
		beat.Reset(lim.Heartbeat)
		return err == nil
	}
	// briefs reads and sends each run of ids (one that is gone is passed
	// by): errStreamGone when a write failed.
	briefs := func(ids []string) error {
		for _, id := range ids {
			x, err := s.c.Brief(ctx, tenant, id)
			if errors.Is(err, run.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			x.Documents = nil
			if !send(x) {
				return errors.New("a run's JSON could not be made")
			}
			if buf.Len() > maxStreamBuffer && !out() {
				return errStreamGone
			}
		}
		return nil
	}
	// A read the stream cannot go on without ends it with an error
	// event that says why.
	var why error
	defer func() {
		if why != nil && !errors.Is(why, errStreamGone) && out() {
			streamFailed(ctx, w, sw, why)
		}
	}()
	for {
		if !out() {
			return
		}
		polled, ok := waitChange(ctx, sw, changed, poll.C, nil, beat)
		if !ok {
			return
		}
		buf.Reset()
		var ids []string
		cantSay := false
		if tw != nil {
			ids, cantSay = tw.Take()
		}
		if polled {
			polls++
		}
		// The whole list when the watch cannot say which runs changed,
		// and on every Streams.FullList-th poll: as each run's version
		// when the controller gives them, and then only the runs whose
		// version is not the one last read are read. On the other polls,
		// the runs that can still change: those not ended, and those sent
		// last as not ended (they may have ended since).
		full := cantSay || polled && (ll == nil || polls%lim.FullList == 0) || tw == nil && ll == nil
		switch {
		case full && vl != nil:
			// The versions a page at a time, each page's changed runs
			// read and sent before the next page is read: a check holds
			// at most a page of versions, however many runs the tenant
			// has. The runs the watch named are read below.
			named := make(map[string]bool, len(ids))
			for _, id := range ids {
				named[id] = true
			}
			var moved []string
			if why = eachVersions(ctx, vl, tenant, "", func(vs []store.RunVersion) error {
				moved = moved[:0]
				for _, v := range vs {
					if have, ok := vers[v.ID]; (!ok || have != v.Version) && !named[v.ID] {
						moved = append(moved, v.ID)
					}
				}
				if err := briefs(moved); err != nil {
					return err
				}
				if !out() {
					return errStreamGone
				}
				return nil
			}); why != nil {
				return
			}
		case full:
			// A page at a time: one stream holds at most a page of runs.
			for after := ""; ; {
				page, err := s.c.ListPage(ctx, tenant, after, RunPage)
				if err != nil {
					why = err
					return
				}
				for _, x := range page {
					x.Documents = nil
					if !send(x) {
						why = errors.New("a run's JSON could not be made")
						return
					}
				}
				if !out() {
					return
				}
				if len(page) < RunPage || page[len(page)-1].ID == after {
					break
				}
				after = page[len(page)-1].ID
			}
			continue
		case polled:
			runs, err := ll.ListLive(ctx, tenant)
			if err != nil {
				why = err
				return
			}
			seen := make(map[string]bool, len(runs))
			for _, x := range runs {
				x.Documents = nil
				seen[x.ID] = true
				if !send(x) {
					why = errors.New("a run's JSON could not be made")
					return
				}
				if buf.Len() > maxStreamBuffer && !out() {
					return
				}
			}
			ids = slices.DeleteFunc(ids, func(id string) bool { return seen[id] })
			for id := range live {
				if !seen[id] && !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
		}
		if why = briefs(ids); why != nil {
			return
		}
	}
}

// maxStreamBuffer is how many bytes of events a runs stream gathers before
// it writes them.
const maxStreamBuffer = 1 << 20

// runHash is what followRuns remembers of a run it sent.
func runHash(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}
