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
	"sync/atomic"
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
	max     int
}

// NewSSEReader reads events from r, each line at most MaxSSELine bytes.
func NewSSEReader(r io.Reader) *SSEReader {
	return NewSSEReaderSize(r, MaxSSELine)
}

// NewSSEReaderSize reads events from r, each line at most max bytes.
func NewSSEReaderSize(r io.Reader, max int) *SSEReader {
	return &SSEReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Next returns the next event; io.EOF when the stream ends, with an event
// not yet ended by a blank line dropped, as the format says. A line over
// the reader's bound is an error, and so is an event whose data lines
// together run over it: the data of one event is kept until its blank
// line, and a server that never sends one would otherwise grow it without
// end.
func (s *SSEReader) Next() (SSE, error) {
	var ev SSE
	var data []string
	size := 0
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
			// Each line counts whole, so that empty data lines count too.
			if size += len(line) + 1; size > s.max {
				return SSE{}, fmt.Errorf("event stream: an event's data over %d bytes", s.max)
			}
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
		if b = append(b, c); len(b) > s.max {
			return "", fmt.Errorf("event stream: a line over %d bytes", s.max)
		}
	}
}

// ErrNoStream is FollowEvents' error when the server answers with
// something other than an event stream (a server from before streams).
var ErrNoStream = errors.New("not an event stream")

// ErrStreamFailed is a stream's error when the server ended it with an
// error event, which says why.
var ErrStreamFailed = errors.New("the server ended the stream on an error")

// ErrEventOrder is FollowEvents' error when the server sends a timeline
// event whose seq is not past the last one the follow gave (one repeated,
// or one that goes back), on the same connection or after a reconnect
// that named the last in Last-Event-ID.
var ErrEventOrder = errors.New("the server sent the run's timeline out of order")

// RunStreamEvent is one event of a run's stream, decoded: exactly one of
// Event (a timeline event), Run (the run's state now) and End is set. Run
// is the run as the server shows it: marked when its row was changed
// outside Meridian (RunShown), as GetShown gives it.
type RunStreamEvent struct {
	Event *store.Event
	Run   *RunShown
	End   *StreamEnd
}

// FollowEvents streams run id's timeline after event seq after, and its
// state, to fn until the run ends (nil), fn returns an error, or ctx ends
// (ctx's error). A stream that breaks is opened again with Last-Event-ID,
// so fn sees each timeline event once and in order; it gives up after
// five failures in a row. An answer of 4xx, and one that is not an event
// stream (ErrNoStream), is returned at once, except a 429 to a reconnect.
// A timeline event whose seq is not past after, nor past the last one fn
// got, is not given to fn: the follow ends at once with ErrEventOrder.
// Before, a server that repeated events or went back had them shown again,
// or out of order.
func (c *Client) FollowEvents(ctx context.Context, id string, after int64, fn func(RunStreamEvent) error) error {
	return c.keepFollowing(ctx, "follow run "+id, func(wait *time.Duration) (bool, bool, error, error) {
		return c.followOnce(ctx, id, &after, wait, fn)
	})
}

// keepFollowing calls once, a stream's connection, again while it breaks:
// after the wait the server last asked for, giving up after five
// failures in a row without an event. It returns nil when once saw the
// stream's end, once's stop, ctx's error, or at once an answer of 4xx and
// ErrNoStream; but a 429 to a reconnect is retried, since the server may
// not yet have freed the broken stream's place. A 429 to the first
// connection is returned, so that the caller can do without the stream
// (ask now and then) rather than wait.
func (c *Client) keepFollowing(ctx context.Context, what string, once func(wait *time.Duration) (ended, got bool, stop, err error)) error {
	wait, fails := time.Duration(retryMillis)*time.Millisecond, 0
	for first := true; ; first = false {
		ended, got, stop, err := once(&wait)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case stop != nil:
			return stop
		case ended:
			return nil
		}
		var se *StatusError
		if errors.As(err, &se) && se.Status < 500 && (se.Status != http.StatusTooManyRequests || first) || errors.Is(err, ErrNoStream) {
			return err
		}
		if got {
			fails = 0
		}
		if fails++; fails > 5 {
			return fmt.Errorf("%s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// openStream asks for path as an event stream, with Last-Event-ID lastID
// when it is not "": an answer of 4xx or 5xx is a *StatusError, one that
// is not an event stream ErrNoStream. The caller closes the body.
func (c *Client) openStream(ctx context.Context, path, lastID string) (resp *http.Response, err error) {
	// A stream has no overall timeout; instead it is cut once nothing
	// arrives for StreamIdle, so that a server that went silent (or a
	// connection lost without a word) is noticed and the stream opened
	// again.
	idle := c.StreamIdle
	if idle <= 0 {
		idle = DefaultStreamIdle
	}
	ctx, cancel := context.WithCancel(ctx)
	ib := &idleBody{idle: idle, cancel: cancel}
	ib.timer = time.AfterFunc(idle, ib.expire)
	defer func() {
		if err != nil {
			ib.stop()
			if ib.expired.Load() {
				err = fmt.Errorf("GET %s: %w", path, ib.err())
			}
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	hc := *c.HTTP
	hc.Timeout = 0 // a stream lasts as long as what it follows
	resp, err = hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("meridian server at %s: %w", c.Base, err)
	}
	ib.rc = resp.Body
	resp.Body = ib
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, statusError(resp.StatusCode, data)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: the server answered %q: %w", path, ct, ErrNoStream)
	}
	return resp, nil
}

// idleBody is a stream's body that ends (its request cancelled) once no
// byte arrived for idle.
type idleBody struct {
	rc      io.ReadCloser
	idle    time.Duration
	timer   *time.Timer
	cancel  context.CancelFunc
	expired atomic.Bool
}

func (b *idleBody) expire() {
	b.expired.Store(true)
	b.cancel()
}

func (b *idleBody) err() error {
	return fmt.Errorf("event stream: nothing for %s (the server sends a heartbeat more often than that)", b.idle)
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 && !b.expired.Load() {
		b.timer.Reset(b.idle)
	}
	if err != nil && b.expired.Load() {
		err = b.err()
	}
	return n, err
}

func (b *idleBody) stop() {
	b.timer.Stop()
	b.cancel()
}

func (b *idleBody) Close() error {
	b.stop()
	return b.rc.Close()
}

// MinStreamRetry and MaxStreamRetry bound the wait before a broken
// stream is opened again that a stream's retry field may ask for, as the
// console bounds it. The field may say up to 2^31 ms (about 24 days): a
// server, hostile or broken, could have a follow sit that long before it
// tried again, or (1 ms) reconnect in a loop.
const (
	MinStreamRetry = time.Second
	MaxStreamRetry = 5 * time.Minute
)

// nextEvent reads rd's next event, taking up the wait it asks for, held
// to MinStreamRetry .. MaxStreamRetry; the end of the stream is
// io.ErrUnexpectedEOF, since a stream that ends on purpose says so in an
// event first.
func nextEvent(rd *SSEReader, wait *time.Duration) (SSE, error) {
	ev, err := rd.Next()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && ev.Retry > 0 {
		*wait = min(max(ev.Retry, MinStreamRetry), MaxStreamRetry)
	}
	return ev, err
}

// followOnce reads one connection's stream: ended when "end" came, got
// when any event did, stop when fn returned an error.
func (c *Client) followOnce(ctx context.Context, id string, after *int64, wait *time.Duration, fn func(RunStreamEvent) error) (ended, got bool, stop, err error) {
	last := ""
	if *after > 0 {
		last = strconv.FormatInt(*after, 10)
	}
	resp, err := c.openStream(ctx, "/v1/runs/"+url.PathEscape(id)+"/events?follow=1", last)
	if err != nil {
		return false, false, nil, err
	}
	defer resp.Body.Close()
	rd := NewSSEReader(resp.Body)
	for {
		ev, err := nextEvent(rd, wait)
		if err != nil {
			return false, got, nil, err
		}
		var out RunStreamEvent
		switch ev.Event {
		case sseEvent:
			out.Event = &store.Event{}
			err = json.Unmarshal([]byte(ev.Data), out.Event)
		case sseRun:
			out.Run, err = decodeShown(ev.Data)
		case sseEnd:
			out.End = &StreamEnd{}
			err = json.Unmarshal([]byte(ev.Data), out.End)
		case sseError:
			// The server says why it ends the stream: the connection's
			// error, which a follow that gives up returns.
			se := statusError(0, []byte(ev.Data))
			return false, got, nil, fmt.Errorf("follow run %s: %w: %s (%s)", id, ErrStreamFailed, se.Err.Message, clipText(se.Err.Code))
		default:
			continue // retry-only events, and kinds this client does not know
		}
		if err != nil {
			return false, got, nil, fmt.Errorf("follow run %s: event %q: %w", id, ev.Event, err)
		}
		if out.Event != nil && out.Event.Seq <= *after {
			// A stream that repeats or goes back is a broken or hostile
			// server's: ended (as fn's stop), not read on or opened again.
			return false, got, fmt.Errorf("follow run %s: event %d came after event %d: %w", id, out.Event.Seq, max(*after, 0), ErrEventOrder), nil
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

// decodeShown is a run event's run, as the server shows it: the mark and
// its reason kept, and a run (empty) even where the data held null or no
// field of one. The data is one event's, within the reader's bound.
func decodeShown(data string) (*RunShown, error) {
	r := &RunShown{Run: &run.Run{}}
	if err := json.Unmarshal([]byte(data), r); err != nil {
		return nil, err
	}
	if r.Run == nil {
		r.Run = &run.Run{}
	}
	return r, nil
}

// decodeShownList is the runs event's list: each run as the server shows
// it (RunShown), and where its next page starts. A list that names null
// as a run is an error, as a page of GET /v1/runs that does.
func decodeShownList(data string) ([]*RunShown, string, error) {
	var l RunShownList
	if err := json.Unmarshal([]byte(data), &l); err != nil {
		return nil, "", err
	}
	for i, r := range l.Runs {
		if r == nil {
			return nil, "", fmt.Errorf("the list names null as run %d", i)
		}
		if r.Run == nil { // {}: a run with no field set
			r.Run = &run.Run{}
		}
	}
	if l.Runs == nil {
		l.Runs = []*RunShown{}
	}
	return l.Runs, l.Next, nil
}

// restOfList is first, the first page of the runs stream's list, with the
// runs after it read a page at a time, each as the server shows it.
func (c *Client) restOfList(ctx context.Context, first []*RunShown, next string) ([]*RunShown, error) {
	if len(first) == 0 || first[len(first)-1].ID != next {
		return nil, fmt.Errorf("the list's next page starts after %q, not after its last run", next)
	}
	seen := make(map[string]bool, len(first))
	for _, r := range first {
		if seen[r.ID] {
			return nil, fmt.Errorf("the list names run %s twice", r.ID)
		}
		seen[r.ID] = true
	}
	rest, err := c.shownAfter(ctx, next, seen)
	if err != nil {
		return nil, err
	}
	return append(first, rest...), nil
}

// RunsStreamEvent is one event of a tenant's runs stream, decoded: List,
// all of the tenant's runs, comes first on each connection; then Run, a
// run that is new or changed since the stream last sent it. Each run is
// as the server shows it: marked when its row was changed outside
// Meridian (RunShown), as ListShown gives it.
type RunsStreamEvent struct {
	List []*RunShown
	Run  *RunShown
}

// FollowRuns streams the tenant's runs (GET /v1/runs?follow=1) to fn
// until fn returns an error (that error) or ctx ends (ctx's error). A
// stream that breaks, or that the server ends, is opened again, and fn
// gets the whole list again; it gives up after five failures in a row. An
// answer of 4xx, and one that is not an event stream (ErrNoStream), is
// returned at once, except a 429 to a reconnect.
func (c *Client) FollowRuns(ctx context.Context, fn func(RunsStreamEvent) error) error {
	return c.keepFollowing(ctx, "follow runs", func(wait *time.Duration) (bool, bool, error, error) {
		return c.followRunsOnce(ctx, wait, fn)
	})
}

// followRunsOnce reads one connection's runs stream; a runs stream has no
// end, so it returns when the stream breaks (err) or fn stops it (stop).
func (c *Client) followRunsOnce(ctx context.Context, wait *time.Duration, fn func(RunsStreamEvent) error) (ended, got bool, stop, err error) {
	resp, err := c.openStream(ctx, "/v1/runs?follow=1&pages=1", "")
	if err != nil {
		return false, false, nil, err
	}
	defer resp.Body.Close()
	// The list is one line, as long as GET /v1/runs's answer may be (a
	// page of it, with pages=1).
	rd := NewSSEReaderSize(resp.Body, maxAnswer)
	for {
		ev, err := nextEvent(rd, wait)
		if err != nil {
			return false, got, nil, err
		}
		var out RunsStreamEvent
		switch ev.Event {
		case sseRuns:
			var next string
			out.List, next, err = decodeShownList(ev.Data)
			if err == nil && next != "" {
				// The list's first page: the rest is read with GET, and
				// each run that changes from here on comes as a run event.
				out.List, err = c.restOfList(ctx, out.List, next)
			}
		case sseRun:
			out.Run, err = decodeShown(ev.Data)
		case sseError:
			// The server says why it ends the stream: the connection's
			// error, which a follow that gives up returns.
			se := statusError(0, []byte(ev.Data))
			return false, got, nil, fmt.Errorf("follow runs: %w: %s (%s)", ErrStreamFailed, se.Err.Message, clipText(se.Err.Code))
		default:
			continue
		}
		if err != nil {
			return false, got, nil, fmt.Errorf("follow runs: event %q: %w", ev.Event, err)
		}
		got = true
		if err := fn(out); err != nil {
			return false, got, err, nil
		}
	}
}
