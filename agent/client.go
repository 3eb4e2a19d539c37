package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// client talks to the server's agent routes with the attempt credential.
type client struct {
	base    string
	run     string
	attempt int
	token   string
	http    *http.Client
	// heard is when the server last answered a request with success (an
	// answer that decoded), in Unix nanoseconds.
	heard atomic.Int64
	// ended is when the server first answered that the attempt has ended
	// (errEnded), in Unix nanoseconds; 0 until it has.
	ended atomic.Int64
}

// quiet is how long the server has not answered with success.
func (c *client) quiet() time.Duration {
	return time.Since(time.Unix(0, c.heard.Load()))
}

// errAuth means the attempt's credential was refused: 401 or 403 (not
// recognised), or 410 (errEnded beside it).
var errAuth = errors.New("the server refused the attempt credential")

// refusal reports whether err is a refusal of the credential that does not
// say the attempt has ended (401, 403). Something in front of the server
// (a proxy whose token cache was flushed, one restarting) answers so too,
// for a while, and a server that has lost no attempt never forgets a
// credential it made: the agent takes it as no answer from the server,
// retries it as it retries a 503, and stops only once it persists.
func refusal(err error) bool { return errors.Is(err, errAuth) && !errors.Is(err, errEnded) }

// errEnded, beside errAuth, means the server answered that the attempt has
// ended (410 Gone): the run has moved on to another attempt, which may run
// already, or has ended. The server says so only once the attempt is over
// for good, and never takes its credential again. A refusal without it
// (401, 403: a credential the server does not recognise) may come from
// something that stands in front of the server, and says less.
var errEnded = errors.New("the attempt has ended")

// over reports whether the server has answered that the attempt has ended.
func (c *client) over() bool { return c.ended.Load() != 0 }

func (c *client) url(route string) string {
	r := strings.ReplaceAll(route, "{run}", c.run)
	r = strings.ReplaceAll(r, "{attempt}", strconv.Itoa(c.attempt))
	return strings.TrimRight(c.base, "/") + r
}

// maxReply bounds what the agent reads from the server.
const maxReply = 1 << 20

// do sends one request and decodes a JSON reply into out (when not nil).
func (c *client) do(ctx context.Context, method, route string, body io.Reader, contentType string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.url(route), body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusGone:
		c.ended.CompareAndSwap(0, time.Now().UnixNano())
		return fmt.Errorf("%s %s: %w: %w (%s)", method, route, errAuth, errEnded, replyText(b))
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%s %s: %w (%s)", method, route, errAuth, replyText(b))
	case resp.StatusCode >= 300:
		return &statusError{code: resp.StatusCode, msg: replyText(b)}
	case len(b) > maxReply:
		return fmt.Errorf("%s %s: the server's answer is over %d bytes", method, route, maxReply)
	}
	// Heard only once the answer reads as the server's: whatever stands
	// in its place (a captive portal, a proxy's page) may answer 200 with
	// nothing or with HTML, and counted, it kept the agent's lease alive
	// with no server behind it. Every agent route answers JSON.
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: the server's answer (status %d) is not the JSON it sends (%v): %s", method, route, resp.StatusCode, err, replyText(b))
		}
	}
	c.heard.Store(time.Now().UnixNano())
	return nil
}

// maxReplyText bounds how much of a failed request's answer the agent
// keeps in its error: the error is logged on every retry, to the site's
// log and the output shipped to the server, and whatever answers in the
// server's place (a proxy's error page) may send a megabyte.
const maxReplyText = 512

// replyText is the text of a failed request's answer, cut to maxReplyText
// bytes (at a character's start).
func replyText(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) <= maxReplyText {
		return string(b)
	}
	cut := maxReplyText
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes or more in all)", b[:cut], len(b))
}

type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return fmt.Sprintf("server answered %d: %s", e.code, e.msg) }

// permanent reports whether retrying err cannot help: the attempt has
// ended, or the server refused the request itself. A refusal of the
// credential alone (refusal) is retried.
func permanent(err error) bool {
	var se *statusError
	return errors.Is(err, errEnded) || errors.As(err, &se) && se.code >= 400 && se.code < 500 && se.code != http.StatusTooManyRequests
}

// unanswered reports whether err says the server could not be reached, or
// was reached only through something that stood in for it (a proxy's
// 502 or 504, a 503 while it restarts, a 429 asking to come back later),
// rather than that it answered the request with a fault of its own.
func unanswered(err error) bool {
	var se *statusError
	if !errors.As(err, &se) {
		return !errors.Is(err, errAuth)
	}
	switch se.code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retry calls fn until it succeeds, fails permanently, or patience runs out,
// backing off from 100 ms to 5 s.
func retry(ctx context.Context, patience time.Duration, fn func(context.Context) error) error {
	deadline := time.Now().Add(patience)
	wait := 100 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := fn(cctx)
		cancel()
		if err == nil || permanent(err) || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func (c *client) manifest(ctx context.Context, patience time.Duration) (*Manifest, error) {
	var m Manifest
	// The last answer the server itself gave (a fault of its own), if
	// any: an attempt whose server answered with its own fault within the
	// patience reached it, even if its last try then timed out. A refusal
	// of the credential that then cleared is not one: what is in front of
	// the server may have said it. One that lasts to the end of the
	// patience is the answer (the attempt's own failure to start).
	var answered error
	err := retry(ctx, patience, func(ctx context.Context) error {
		err := c.do(ctx, http.MethodGet, RouteManifest, nil, "", &m)
		if err != nil && !unanswered(err) && !refusal(err) {
			answered = err
		}
		return err
	})
	if err != nil {
		if answered != nil && unanswered(err) {
			return nil, errors.Join(answered, err)
		}
		return nil, err
	}
	return &m, nil
}

func (c *client) postJSON(ctx context.Context, route string, v any, patience time.Duration) (Reply, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Reply{}, err
	}
	var rep Reply
	err = retry(ctx, patience, func(ctx context.Context) error {
		return c.do(ctx, http.MethodPost, route, bytes.NewReader(b), "application/json", &rep)
	})
	return rep, err
}

// postLogs sends output from offset on; the server keeps what it has not
// seen, so a repeated send after a lost reply appends nothing twice.
func (c *client) postLogs(ctx context.Context, offset int64, data []byte) (Reply, error) {
	var rep Reply
	err := c.do(ctx, http.MethodPost, RouteLogs+"?offset="+strconv.FormatInt(offset, 10), bytes.NewReader(data), "application/octet-stream", &rep)
	return rep, err
}
