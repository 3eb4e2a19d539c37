package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/run"
)

// answerTransport answers each request with the next of its bodies (the
// last one again once they run out), all with one status: a server that
// answers whatever it likes, page after page.
type answerTransport struct {
	status   int
	ctype    string
	bodies   [][]byte
	requests int
}

func (a *answerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	b := a.bodies[min(a.requests, len(a.bodies)-1)]
	a.requests++
	h := http.Header{}
	h.Set("Content-Type", a.ctype)
	return &http.Response{StatusCode: a.status, Header: h, Body: io.NopCloser(bytes.NewReader(b)),
		ContentLength: int64(len(b)), Request: req}, nil
}

// fuzzClientCall is one of the client's calls whose answer it decodes; it
// checks what a success promises of the decoded value.
type fuzzClientCall struct {
	name string
	call func(ctx context.Context, c *Client) error
}

var fuzzClientCalls = []fuzzClientCall{
	{"ListShown", func(ctx context.Context, c *Client) error {
		l, err := c.ListShown(ctx)
		if err == nil {
			for i, r := range l {
				if r == nil || r.Run == nil {
					return errors.New("ListShown succeeded with a nil run " + string(rune('0'+i%10)))
				}
			}
		}
		return errPass(err)
	}},
	{"List", func(ctx context.Context, c *Client) error {
		l, err := c.List(ctx)
		if err == nil {
			for _, r := range l {
				if r == nil {
					return errors.New("List succeeded with a nil run")
				}
			}
		}
		return errPass(err)
	}},
	{"Queue", func(ctx context.Context, c *Client) error { _, err := c.Queue(ctx); return errPass(err) }},
	{"Events", func(ctx context.Context, c *Client) error { _, err := c.Events(ctx, "r-1"); return errPass(err) }},
	{"Audit", func(ctx context.Context, c *Client) error { _, err := c.Audit(ctx, "r-1"); return errPass(err) }},
	{"AuditAll", func(ctx context.Context, c *Client) error { _, err := c.AuditAll(ctx); return errPass(err) }},
	{"Get", func(ctx context.Context, c *Client) error {
		r, err := c.Get(ctx, "r-1")
		if err == nil && r == nil {
			return errors.New("Get succeeded with no run")
		}
		return errPass(err)
	}},
	{"GetShown", func(ctx context.Context, c *Client) error {
		r, err := c.GetShown(ctx, "r-1")
		if err == nil && (r == nil || r.Run == nil) {
			return errors.New("GetShown succeeded with no run")
		}
		return errPass(err)
	}},
	{"Logs", func(ctx context.Context, c *Client) error {
		b, next, err := c.Logs(ctx, "r-1", 0)
		if err == nil && next < int64(len(b)) {
			return errors.New("Logs: the next offset is before the end of what was read")
		}
		return errPass(err)
	}},
	{"Ledger", func(ctx context.Context, c *Client) error { _, err := c.Ledger(ctx, "d"); return errPass(err) }},
	{"RulesHistory", func(ctx context.Context, c *Client) error { _, err := c.RulesHistory(ctx); return errPass(err) }},
	{"RulesDiff", func(ctx context.Context, c *Client) error { _, err := c.RulesDiff(ctx, 1, 2); return errPass(err) }},
	{"Verify", func(ctx context.Context, c *Client) error { _, err := c.Verify(ctx); return errPass(err) }},
	{"Sites", func(ctx context.Context, c *Client) error { _, err := c.Sites(ctx); return errPass(err) }},
	{"Resources", func(ctx context.Context, c *Client) error { _, err := c.Resources(ctx); return errPass(err) }},
	{"Tenants", func(ctx context.Context, c *Client) error { _, err := c.Tenants(ctx); return errPass(err) }},
	{"Health", func(ctx context.Context, c *Client) error { _, err := c.Health(ctx); return errPass(err) }},
	{"Submit", func(ctx context.Context, c *Client) error {
		r, err := c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: "kind: Job\n"}}})
		if err == nil && r == nil {
			return errors.New("Submit succeeded with no run")
		}
		return errPass(err)
	}},
}

// errPass is nil for any error a call may return for a bad answer, but
// a server's error whose text the client kept unclipped.
func errPass(err error) error {
	var se *StatusError
	if errors.As(err, &se) {
		for _, s := range []string{se.Err.Message, se.Err.Field, se.Err.Code} {
			if len(s) > maxErrorText+64 {
				return fmt.Errorf("the server's error kept whole, %d bytes", len(s))
			}
		}
	}
	return nil
}

// FuzzClientAnswer: whatever a server answers (any status but 429, any
// body, one page or a different one each time), each of the client's
// calls returns without a panic, within its bounds on pages, and an
// answer of 4xx or 5xx is a *StatusError whose text is clipped.
func FuzzClientAnswer(f *testing.F) {
	f.Add(uint8(0), uint8(0), []byte(`{"runs":[{"id":"r-1","state":"queued"}],"next":"r-1"}`+"\x00\x00"+`{"runs":[{"id":"r-2"}],"next":""}`))
	f.Add(uint8(0), uint8(0), []byte(`{"runs":[null]}`))
	f.Add(uint8(1), uint8(0), []byte(`{"runs":[{"id":"r-1"}],"next":"r-1"}`))
	f.Add(uint8(2), uint8(0), []byte(`{"entries":[{"runId":"r-1"}],"next":"x"}`))
	f.Add(uint8(3), uint8(0), []byte(`{"events":[{"seq":1}],"next":1}`+"\x00\x00"+`{"events":[{"seq":1}],"next":1}`))
	f.Add(uint8(4), uint8(0), []byte(`{"entries":[{"seq":1}],"next":1}`))
	f.Add(uint8(8), uint8(0), []byte("some log"))
	f.Add(uint8(7), uint8(3), []byte(`{"error":{"code":"invalid","field":"x","message":"`+strings.Repeat("m", 2000)+`"}}`))
	f.Add(uint8(11), uint8(0), []byte(`{"from":1,"to":2}`))
	f.Fuzz(func(t *testing.T, which, status uint8, data []byte) {
		statuses := []int{200, 200, 201, 202, 400, 404, 409, 500, 502, 503}
		tr := &answerTransport{status: statuses[int(status)%len(statuses)], ctype: "application/json", bodies: bytes.Split(data, []byte("\x00\x00"))}
		if status&0x80 != 0 {
			tr.ctype = "text/plain"
		}
		c := &Client{Base: "http://server", Token: tokA, HTTP: &http.Client{Transport: tr}}
		call := fuzzClientCalls[int(which)%len(fuzzClientCalls)]
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := call.call(ctx, c); err != nil {
			t.Fatalf("%s (status %d): %v", call.name, tr.status, err)
		}
		if ctx.Err() != nil {
			t.Fatalf("%s (status %d): took over 5 s", call.name, tr.status)
		}
		if tr.requests > MaxListPages+1 {
			t.Fatalf("%s: %d requests for one call", call.name, tr.requests)
		}
	})
}
