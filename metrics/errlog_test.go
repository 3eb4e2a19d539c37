package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/internal/syncbuf"
	"meridian.dev/meridian/store"
)

// TestScrapeStoreErrorLogged: a store that did not answer a scrape's
// reads was logged nowhere (the run counts' error went to the scraper
// alone, the audit length's was dropped), so that an operator saw
// figures go stale without a word. Each kind is now logged to the
// server's logger, once a minute at most: 100 scrapes a second of a
// store that is down make one line of each kind, and the next line, a
// minute on, says how many went unlogged. Both handlers share the limit.
func TestScrapeStoreErrorLogged(t *testing.T) {
	var buf syncbuf.Buffer
	var mu sync.Mutex
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	step := func(d time.Duration) { mu.Lock(); at = at.Add(d); mu.Unlock() }
	m := New(Sources{
		RunCounts: func(context.Context) ([]store.RunCount, error) { return nil, errors.New("run counts: store down") },
		AuditHead: func(context.Context) (int64, string, error) { return 0, "", errors.New("audit head: store down") },
		Now:       now,
		Log:       slog.New(slog.NewTextHandler(&buf, nil)),
	})
	handlers := []http.Handler{m.Handler(), m.Handler()}
	scrapes := func(n int) {
		for i := range n {
			rec := httptest.NewRecorder()
			scrape(handlers[i%2], rec)
			// A scrape between the store's reads repeats the last error.
			step(10 * time.Millisecond)
		}
	}
	lines := func(s string) []string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if strings.Contains(l, s) {
				out = append(out, l)
			}
		}
		return out
	}
	scrapes(100)
	gather, audit := lines("run counts: store down"), lines("audit head: store down")
	if len(gather) != 1 || len(audit) != 1 {
		t.Fatalf("100 scrapes of a store down logged %d lines of the run counts' error and %d of the audit length's; want 1 each:\n%s", len(gather), len(audit), buf.String())
	}
	if !strings.Contains(gather[0], "level=WARN") || !strings.Contains(gather[0], "error gathering metrics") {
		t.Errorf("line %q: want a warning saying what failed", gather[0])
	}
	step(logEvery)
	scrapes(1)
	gather, audit = lines("run counts: store down"), lines("audit head: store down")
	if len(gather) != 2 || len(audit) != 2 {
		t.Fatalf("a minute on, %d and %d lines; want 2 each:\n%s", len(gather), len(audit), buf.String())
	}
	if !strings.Contains(gather[1], "unlogged=99") {
		t.Errorf("line %q does not count the 99 scrapes' errors not logged", gather[1])
	}
}

// TestErrorLogKindsBounded: kinds past maxLogKinds share one limit, and
// an errorLog without a logger logs nothing and keeps nothing.
func TestErrorLogKindsBounded(t *testing.T) {
	var buf syncbuf.Buffer
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := &errorLog{log: slog.New(slog.NewTextHandler(&buf, nil)), now: func() time.Time { return at }}
	for i := range 3 * maxLogKinds {
		l.Println("kind "+strings.Repeat("x", i)+":", "failed")
	}
	if n := strings.Count(buf.String(), "\n"); n != maxLogKinds+1 {
		t.Errorf("%d kinds logged %d lines; want %d (the first %d, then one for the rest)", 3*maxLogKinds, n, maxLogKinds+1, maxLogKinds)
	}
	if len(l.kinds) > maxLogKinds+1 {
		t.Errorf("%d kinds kept; want at most %d", len(l.kinds), maxLogKinds+1)
	}
	var silent *errorLog
	silent.Println("error gathering metrics:", "failed")
	(&errorLog{now: time.Now}).Println("error gathering metrics:", "failed")
}
