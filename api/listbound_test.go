package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/audit"
)

// endlessPages is a hostile server: each answer of every paged listing is
// a page of one item that names a next page, for far more pages than the
// client reads (stop, after which it ends the listing, so that a client
// without a bound returns rather than hangs); with pad set each page also
// carries that many bytes in a field the client does not keep.
type endlessPages struct {
	stop  int64
	pad   int
	empty bool // pages hold no item, yet name a next one
	stuck bool // each page names as the next the page just read
	asked atomic.Int64
}

func (e *endlessPages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := e.asked.Add(1)
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if r.URL.Query().Get("after") != "" && r.URL.Path == "/v1/runs" {
		after, _ = strconv.ParseInt(strings.TrimPrefix(r.URL.Query().Get("after"), "run-"), 10, 64)
	}
	seq := after + 1
	if e.stuck && after > 0 {
		seq = after
	}
	page := map[string]any{"pad": strings.Repeat("x", e.pad)}
	more := n < e.stop
	var item any
	switch r.URL.Path {
	case "/v1/runs":
		id := fmt.Sprintf("run-%d", seq)
		item = map[string]any{"id": id}
		page["runs"] = []any{item}
		if more {
			page["next"] = id
		}
	case "/v1/queue":
		item = map[string]any{"position": seq, "run": fmt.Sprintf("run-%d", seq)}
		page["queue"] = []any{item}
		if more {
			page["next"] = strconv.FormatInt(seq, 10)
		}
	case "/v1/audit", "/v1/ledger":
		item = map[string]any{"seq": seq}
		page["entries"] = []any{item}
	default: // a run's events
		item = map[string]any{"seq": seq}
		page["events"] = []any{item}
	}
	if r.URL.Path != "/v1/runs" && r.URL.Path != "/v1/queue" && more {
		page["next"] = seq
	}
	if e.empty {
		for _, k := range []string{"runs", "entries", "events", "queue"} {
			if _, ok := page[k]; ok {
				page[k] = []any{}
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(page)
}

// TestListingsBounded: a server that never stops naming a next page, in
// pages of one item or of many megabytes, or in empty pages, is read up to
// MaxListPages pages or MaxListBytes bytes, and then refused with an error
// that names the bound; before, the client read every page the server
// gave, keeping them all, and a server that never stopped filled the
// memory of whoever pointed the CLI at it.
func TestListingsBounded(t *testing.T) {
	ctx := context.Background()
	lists := map[string]func(c *Client) (int, error){
		"runs":  func(c *Client) (int, error) { l, err := c.List(ctx); return len(l), err },
		"queue": func(c *Client) (int, error) { l, err := c.Queue(ctx); return len(l), err },
		"events": func(c *Client) (int, error) {
			l, err := c.Events(ctx, "run-1")
			return len(l), err
		},
		"audit": func(c *Client) (int, error) { l, err := c.AuditAll(ctx); return len(l), err },
		"ledger": func(c *Client) (int, error) {
			l, err := c.Ledger(ctx, "")
			if l == nil {
				return 0, err
			}
			return len(l.Entries), err
		},
	}
	for name, list := range lists {
		t.Run(name+"/pages", func(t *testing.T) {
			e := &endlessPages{stop: 2 * MaxListPages}
			srv := httptest.NewServer(e)
			defer srv.Close()
			n, err := list(NewClient(srv.URL, tokA))
			if !errors.Is(err, ErrListTooLong) || !strings.Contains(err.Error(), strconv.Itoa(MaxListPages)+" pages") {
				t.Fatalf("%d pages of one item: %d items, error %v; want ErrListTooLong naming %d pages", e.stop, n, err, MaxListPages)
			}
			if got := e.asked.Load(); got != MaxListPages {
				t.Errorf("the client asked for %d pages, want %d", got, MaxListPages)
			}
		})
		t.Run(name+"/bytes", func(t *testing.T) {
			pad := 8 << 20
			e := &endlessPages{stop: MaxListBytes/int64(pad) + 8, pad: pad}
			srv := httptest.NewServer(e)
			defer srv.Close()
			n, err := list(NewClient(srv.URL, tokA))
			if !errors.Is(err, ErrListTooLong) || !strings.Contains(err.Error(), "over "+strconv.Itoa(MaxListBytes)+" bytes") {
				t.Fatalf("%d pages of %d bytes: %d items, error %v; want ErrListTooLong naming %d bytes", e.stop, pad, n, err, MaxListBytes)
			}
			if got, most := e.asked.Load(), int64(MaxListBytes/pad+1); got > most {
				t.Errorf("the client asked for %d pages of %d bytes, want at most %d", got, pad, most)
			}
		})
		// An empty page may name a next one (the ledger of one dataset
		// is the tenant's records filtered page by page): the client
		// reads on while the cursor moves forward, within the same
		// bounds. A run list's next page starts after the page's last
		// run, so an empty page of runs cannot name one.
		t.Run(name+"/empty", func(t *testing.T) {
			e := &endlessPages{stop: 2 * MaxListPages, empty: true}
			srv := httptest.NewServer(e)
			defer srv.Close()
			_, err := list(NewClient(srv.URL, tokA))
			if name == "runs" || name == "queue" {
				if err == nil || !strings.Contains(err.Error(), "empty but names a next page") {
					t.Fatalf("empty pages of %s that name a next one: error %v, want one saying so", name, err)
				}
				if got := e.asked.Load(); got != 1 {
					t.Errorf("the client asked for %d empty pages of %s, want 1", got, name)
				}
				return
			}
			if !errors.Is(err, ErrListTooLong) {
				t.Fatalf("endless empty pages: error %v, want ErrListTooLong", err)
			}
			if got := e.asked.Load(); got != MaxListPages {
				t.Errorf("the client asked for %d empty pages, want %d", got, MaxListPages)
			}
			e = &endlessPages{stop: 50, empty: true}
			srv2 := httptest.NewServer(e)
			defer srv2.Close()
			if n, err := list(NewClient(srv2.URL, tokA)); err != nil || n != 0 {
				t.Errorf("49 empty pages that name a next one, then an empty last page: %d items, %v", n, err)
			}
		})
		// A server that names the same page again is not read again.
		t.Run(name+"/stuck", func(t *testing.T) {
			e := &endlessPages{stop: 2 * MaxListPages, stuck: true}
			srv := httptest.NewServer(e)
			defer srv.Close()
			list(NewClient(srv.URL, tokA))
			if got := e.asked.Load(); got > 2 {
				t.Errorf("the client asked for %d pages of a server that names the same page again, want at most 2", got)
			}
		})
	}
	// A listing within the bounds is read whole.
	e := &endlessPages{stop: 50}
	srv := httptest.NewServer(e)
	defer srv.Close()
	for name, list := range lists {
		e.asked.Store(0)
		if n, err := list(NewClient(srv.URL, tokA)); err != nil || n != 50 {
			t.Errorf("%s: 50 pages of one item: %d items, %v", name, n, err)
		}
	}
}

// TestAuditEachUnbounded: AuditEach and AuditAllEach hand each page on and
// keep none, so they read a log of more than MaxListPages pages whole; a
// server that names the same page again is still not read again.
func TestAuditEachUnbounded(t *testing.T) {
	ctx := context.Background()
	each := map[string]func(c *Client, fn func([]audit.Entry) error) error{
		"one tenant's": func(c *Client, fn func([]audit.Entry) error) error { return c.AuditEach(ctx, "", fn) },
		"whole chain":  func(c *Client, fn func([]audit.Entry) error) error { return c.AuditAllEach(ctx, fn) },
	}
	for name, read := range each {
		e := &endlessPages{stop: MaxListPages + 5}
		srv := httptest.NewServer(e)
		n, pages := 0, 0
		err := read(NewClient(srv.URL, tokA), func(p []audit.Entry) error { n += len(p); pages++; return nil })
		if err != nil || n != MaxListPages+5 || pages != MaxListPages+5 {
			t.Errorf("%s: %d entries in %d pages, %v; want %d", name, n, pages, err, MaxListPages+5)
		}
		srv.Close()

		e = &endlessPages{stop: 2 * MaxListPages, stuck: true}
		srv = httptest.NewServer(e)
		err = read(NewClient(srv.URL, tokA), func([]audit.Entry) error { return nil })
		if err == nil || e.asked.Load() > 2 {
			t.Errorf("%s: a server that names the same page again: asked %d pages, error %v", name, e.asked.Load(), err)
		}
		srv.Close()

		// An error of fn ends the reading.
		e = &endlessPages{stop: 10}
		srv = httptest.NewServer(e)
		stop := errors.New("stop")
		if err := read(NewClient(srv.URL, tokA), func([]audit.Entry) error { return stop }); err != stop || e.asked.Load() != 1 {
			t.Errorf("%s: fn's error: %v after %d pages", name, err, e.asked.Load())
		}
		srv.Close()
	}
}
