package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// SSE is one server-sent event as a client reads it.
type SSE struct {
	// ID is the event's id field, or "" when it had none.
	ID    string
	Event string
	Data  string
	// Retry is the reconnection delay the server asked for (0: none).
	Retry time.Duration
}

// MaxSSELine bounds one line of a stream that SSEReader reads: an event's
// data is one line of JSON, a run at most a few kilobytes.
const MaxSSELine = 4 << 20

// SSEReader reads server-sent events (the WHATWG event stream format:
// lines ending in LF, CRLF or CR; data, event, id and retry fields;
// comment lines; an event ends at a blank line).
type SSEReader struct {
	r       *bufio.Reader
	afterCR bool
}

// NewSSEReader reads events from r.
func NewSSEReader(r io.Reader) *SSEReader {
	return &SSEReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next event; io.EOF when the stream ends, with an event
// not yet ended by a blank line dropped, as the format says. A line over
// MaxSSELine is an error.
func (s *SSEReader) Next() (SSE, error) {
	var ev SSE
	var data []string
	hasData, hasID := false, false
	for {
		line, err := s.line()
		if err != nil {
			return SSE{}, err
		}
		if line == "" {
			if !hasData && ev.Event == "" && !hasID && ev.Retry == 0 {
				continue
			}
			ev.Data = strings.Join(data, "\n")
			return ev, nil
		}
		if line[0] == ':' {
			continue // a comment: a heartbeat
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "data":
			data = append(data, value)
			hasData = true
		case "event":
			ev.Event = value
		case "id":
			if !strings.ContainsRune(value, 0) {
				ev.ID, hasID = value, true
			}
		case "retry":
			if n, err := strconv.ParseUint(value, 10, 31); err == nil {
				ev.Retry = time.Duration(n) * time.Millisecond
			}
		}
	}
}

// line reads one line without its end (LF, CRLF or CR).
func (s *SSEReader) line() (string, error) {
	var b []byte
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			if err == io.EOF && len(b) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		if s.afterCR {
			s.afterCR = false
			if c == '\n' {
				continue // the LF of a CRLF
			}
		}
		switch c {
		case '\r':
			s.afterCR = true
			return string(b), nil
		case '\n':
			return string(b), nil
		}
		if b = append(b, c); len(b) > MaxSSELine {
			return "", fmt.Errorf("event stream: a line over %d bytes", MaxSSELine)
		}
	}
}

// ErrNoStream is FollowEvents' error when the server answers with
// something other than an event stream (a server from before streams).
var ErrNoStream = errors.New("not an event stream")

// RunStreamEvent is one event of a run's stream, decoded: exactly one of
// Event (a timeline event), Run (the run's state now) and End is set.
type RunStreamEvent struct {
	Event *store.Event
	Run   *run.Run
	End   *StreamEnd
}

// FollowEvents streams run id's timeline after event seq after, and its
// state, to fn until the run ends (nil), fn returns an error, or ctx ends
// (ctx's error). A stream that breaks is opened again with Last-Event-ID,
// so fn sees each timeline event once and in order; it gives up after
// five failures in a row. An answer of 4xx other than 429, and one that is
// not an event stream (ErrNoStream), is returned at once.
func (c *Client) FollowEvents(ctx context.Context, id string, after int64, fn func(RunStreamEvent) error) error {
	wait, fails := time.Duration(retryMillis)*time.Millisecond, 0
	for {
		ended, got, stop, err := c.followOnce(ctx, id, &after, &wait, fn)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case stop != nil:
			return stop
		case ended:
			return nil
		}
		var se *StatusError
		if errors.As(err, &se) && se.Status < 500 && se.Status != http.StatusTooManyRequests || errors.Is(err, ErrNoStream) {
			return err
		}
		if got {
			fails = 0
		}
		if fails++; fails > 5 {
			return fmt.Errorf("follow run %s: %w", id, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// followOnce reads one connection's stream: ended when "end" came, got
// when any event did, stop when fn returned an error.
func (c *Client) followOnce(ctx context.Context, id string, after *int64, wait *time.Duration, fn func(RunStreamEvent) error) (ended, got bool, stop, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+"/v1/runs/"+url.PathEscape(id)+"/events?follow=1", nil)
	if err != nil {
		return false, false, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "text/event-stream")
	if *after > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(*after, 10))
	}
	hc := *c.HTTP
	hc.Timeout = 0 // a stream lasts as long as the run
	resp, err := hc.Do(req)
	if err != nil {
		return false, false, nil, fmt.Errorf("meridian server at %s: %w", c.Base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e ErrorBody
		if json.Unmarshal(data, &e) != nil || e.Error.Message == "" {
			e.Error.Message = strings.TrimSpace(string(data))
		}
		return false, false, nil, &StatusError{Status: resp.StatusCode, Err: e.Error}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return false, false, nil, fmt.Errorf("follow run %s: the server answered %q: %w", id, ct, ErrNoStream)
	}
	rd := NewSSEReader(resp.Body)
	for {
		ev, err := rd.Next()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the stream broke before "end"
			}
			return false, got, nil, err
		}
		if ev.Retry > 0 {
			*wait = ev.Retry
		}
		var out RunStreamEvent
		switch ev.Event {
		case sseEvent:
			out.Event = &store.Event{}
			err = json.Unmarshal([]byte(ev.Data), out.Event)
		case sseRun:
			out.Run = &run.Run{}
			err = json.Unmarshal([]byte(ev.Data), out.Run)
		case sseEnd:
			out.End = &StreamEnd{}
			err = json.Unmarshal([]byte(ev.Data), out.End)
		default:
			continue // retry-only events, and kinds this client does not know
		}
		if err != nil {
			return false, got, nil, fmt.Errorf("follow run %s: event %q: %w", id, ev.Event, err)
		}
		got = true
		if err := fn(out); err != nil {
			return false, got, err, nil
		}
		if out.Event != nil {
			*after = out.Event.Seq
		}
		if out.End != nil {
			return true, got, nil, nil
		}
	}
}
