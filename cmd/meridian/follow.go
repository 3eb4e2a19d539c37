package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/store"
)

// followEvery is how often run --follow asks the server when it cannot
// have the run's event stream.
var followEvery = 500 * time.Millisecond

// followRun streams a run's timeline to errw and its output to w (a
// workloadOutput) until
// the run ends: each new event as a line, the attempts' output as it
// arrives. It returns nil when the run succeeds and an error (exit 1) when
// it fails or is cancelled; an interrupt stops following, not the run.
//
// It reads the run's event stream (GET …/events?follow=1) and its
// followed log side by side; when the server gives no stream (one from
// before streams, or the tenant's streams are all taken) it asks every
// followEvery instead, from where the stream left off.
func followRun(ctx context.Context, w, errw io.Writer, c *api.Client, id string) error {
	color := colorOn(errw)
	// Each line of Meridian's starts a row of its own, not the row the
	// workload's output left open (its text after a carriage return would
	// show as the end of Meridian's line).
	errw = ownLinesTo(w, errw)
	out := &countWriter{w: w}
	lctx, stopLogs := context.WithCancel(ctx)
	logsDone := make(chan error, 1)
	go func() { logsDone <- c.FollowLogs(lctx, id, 0, out) }()
	var seen int64
	var end *api.StreamEnd
	// The run's state comes as the server shows it: one marked changed
	// outside Meridian gets describe's WARNING line, once for each reason.
	warned := changeWarns{}
	err := c.FollowEvents(ctx, id, 0, func(ev api.RunStreamEvent) error {
		switch {
		case ev.Event != nil:
			fmt.Fprintln(errw, eventLine(*ev.Event, color))
			seen = ev.Event.Seq
		case ev.Run != nil:
			warned.warn(errw, ev.Run, true)
		case ev.End != nil:
			end = ev.End
		}
		return nil
	})
	if ctx.Err() != nil {
		stopLogs()
		<-logsDone
		fmt.Fprintf(errw, "stopped following run %s; it goes on: meridian logs %s -f\n", id, id)
		return nil
	}
	if end != nil {
		// The log stream ends with the run, with its last output; when it
		// broke or was refused, what it missed is read now.
		if err := <-logsDone; err != nil {
			if _, err := c.CopyLogs(ctx, id, out.n, w); err != nil {
				stopLogs()
				return fmt.Errorf("run %s %s, but the end of its output was not read: %w", id, end.State, apiErr(err))
			}
		}
		stopLogs()
		if end.State == "succeeded" {
			fmt.Fprintf(errw, "run %s succeeded\n", id)
			return nil
		}
		return fmt.Errorf("run %s %s: %s", id, end.State, shown(end.Reason))
	}
	stopLogs()
	<-logsDone
	var se *api.StatusError
	if errors.As(err, &se) && se.Status != http.StatusTooManyRequests || errors.Is(err, api.ErrEventOrder) {
		// A server whose timeline repeats or goes back is not read on,
		// by its stream or by polling.
		return apiErr(err)
	}
	return pollRunWarned(ctx, w, errw, c, id, int(seen), out.n, color, warned)
}

// countWriter counts what it writes on to w.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// pollRun is followRun by asking every followEvery, the first seen events
// and off bytes of output shown already.
func pollRun(ctx context.Context, w, errw io.Writer, c *api.Client, id string, seen int, off int64, color bool) error {
	return pollRunWarned(ctx, w, errw, c, id, seen, off, color, changeWarns{})
}

// pollRunWarned is pollRun with warned, the WARNING lines (that the run's
// record was changed outside Meridian) written already. seen is the seq
// of the last event shown: only later ones are shown, each once and in
// order, whatever a server's list repeats or puts back (they were taken by
// their place in the list).
func pollRunWarned(ctx context.Context, w, errw io.Writer, c *api.Client, id string, seen int, off int64, color bool, warned changeWarns) error {
	last := int64(seen)
	showNew := func(evs []store.Event) {
		for _, e := range evs {
			if e.Seq > last {
				fmt.Fprintln(errw, eventLine(e, color))
				last = e.Seq
			}
		}
	}
	for {
		evs, err := c.Events(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return apiErr(err)
		}
		showNew(evs)
		off, _ = c.CopyLogs(ctx, id, off, w)
		sr, err := c.GetShown(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return apiErr(err)
		}
		warned.warn(errw, sr, true)
		r := sr.Run
		if r.State.Final() {
			// What arrived between the last read and the end. Without it
			// the output shown lacks its end: that is an error, not a
			// quiet success.
			if _, err := c.CopyLogs(ctx, id, off, w); err != nil {
				return fmt.Errorf("run %s %s, but the end of its output was not read: %w", r.ID, r.State, apiErr(err))
			}
			if evs, err := c.Events(ctx, id); err == nil {
				showNew(evs)
			}
			if r.State == "succeeded" {
				fmt.Fprintf(errw, "run %s succeeded\n", r.ID)
				return nil
			}
			return fmt.Errorf("run %s %s: %s", r.ID, r.State, shown(r.Reason))
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(errw, "stopped following run %s (%s); it goes on: meridian logs %s -f\n", id, r.State, id)
			return nil
		case <-time.After(followEvery):
		}
	}
}

// eventLine is one event of a run's timeline: time, what happened, why.
func eventLine(e store.Event, color bool) string {
	kind := shown(e.Kind)
	if e.Kind == "state" {
		kind = shown(e.From + " → " + e.To)
		if color {
			kind = paint(kind, stateColor(e.To))
		}
	}
	return fmt.Sprintf("%s  %s  %s", e.Time.UTC().Format("15:04:05"), kind, shown(e.Reason))
}
