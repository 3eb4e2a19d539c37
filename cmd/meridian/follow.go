package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/store"
)

// followEvery is how often run --follow asks the server.
var followEvery = 500 * time.Millisecond

// followRun streams a run's timeline to errw and its output to w until
// the run ends: each new event as a line, the attempts' output as it
// arrives. It returns nil when the run succeeds and an error (exit 1) when
// it fails or is cancelled; an interrupt stops following, not the run.
func followRun(ctx context.Context, w, errw io.Writer, c *api.Client, id string) error {
	seen := 0
	var off int64
	color := colorOn(errw)
	for {
		evs, err := c.Events(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return apiErr(err)
		}
		for _, e := range evs[min(seen, len(evs)):] {
			fmt.Fprintln(errw, eventLine(e, color))
		}
		seen = max(seen, len(evs))
		b, size, err := c.Logs(ctx, id, off)
		if err == nil {
			w.Write(b)
			off = size
		}
		r, err := c.Get(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return apiErr(err)
		}
		if r.State.Final() {
			// What arrived between the last read and the end.
			if b, _, err := c.Logs(ctx, id, off); err == nil {
				w.Write(b)
			}
			if evs, err := c.Events(ctx, id); err == nil {
				for _, e := range evs[min(seen, len(evs)):] {
					fmt.Fprintln(errw, eventLine(e, color))
				}
			}
			if r.State == "succeeded" {
				fmt.Fprintf(errw, "run %s succeeded\n", r.ID)
				return nil
			}
			return fmt.Errorf("run %s %s: %s", r.ID, r.State, r.Reason)
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
	kind := e.Kind
	if e.Kind == "state" {
		kind = e.From + " → " + e.To
		if color {
			kind = paint(kind, stateColor(e.To))
		}
	}
	return fmt.Sprintf("%s  %s  %s", e.Time.UTC().Format("15:04:05"), kind, e.Reason)
}
