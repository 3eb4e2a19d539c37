package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/store"
)

// full returns metrics whose every labelled vector holds as many series
// as it may: the largest exposition a scrape can be made to serve.
func full(tb testing.TB) *Metrics {
	tb.Helper()
	var counts []store.RunCount
	for i := range 2 * maxSeries {
		counts = append(counts, store.RunCount{State: "running", Site: "site-" + strconv.Itoa(i), N: 1})
	}
	m := New(Sources{RunCounts: func(context.Context) ([]store.RunCount, error) { return counts, nil }})
	for i := range 2 * maxSeries {
		s := "site-" + strconv.Itoa(i)
		m.SiteLost(s)
		m.Migrated(s, "to-"+s)
		m.Staged("c-"+strconv.Itoa(i), "d", 1)
		m.ObservePlan("api", 0, &planner.Plan{Summary: planner.Summary{RejectedByRule: map[string]int{"rule-" + s: 1}}})
	}
	return m
}

// BenchmarkScrapeFull is one scrape of the largest exposition: its bytes
// (B/op: the memory one scrape in flight takes) and its time.
func BenchmarkScrapeFull(b *testing.B) {
	h := full(b).Handler()
	b.ReportAllocs()
	var size int
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "exposition-bytes")
}

// guard is how long a test waits for what must happen at once before it
// fails: it bounds a failing run, it times nothing that passes.
const guard = 30 * time.Second

// scrape asks h for the metrics, into w.
func scrape(h http.Handler, w http.ResponseWriter) {
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
}

// TestScrapesInFlightBounded: --metrics-listen answers whoever reaches
// it, and a scrape in flight holds about 3 MB while it is gathered; the
// scrapes in flight were bounded only by the listener's 1,024
// connections. With the store slow to answer (every scrape waits for
// it), maxScrapesInFlight scrapes wait and every other is refused at
// once with 503; once the store answers, those that waited are served.
func TestScrapesInFlightBounded(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	m := New(Sources{RunCounts: func(context.Context) ([]store.RunCount, error) {
		<-release
		return []store.RunCount{{State: "running", Site: "alpha", N: 1}}, nil
	}})
	h := m.Handler()
	const n = 8 * maxScrapesInFlight
	codes := make(chan int, n)
	for range n {
		go func() {
			rec := httptest.NewRecorder()
			scrape(h, rec)
			codes <- rec.Code
		}()
	}
	for refused := 0; refused < n-maxScrapesInFlight; {
		select {
		case c := <-codes:
			if c != http.StatusServiceUnavailable {
				t.Fatalf("a scrape answered %d while the store had not answered, want 503", c)
			}
			refused++
		case <-time.After(guard):
			t.Fatalf("%d of %d scrapes refused while the store had not answered; want all but %d refused at once", refused, n, maxScrapesInFlight)
		}
	}
	free()
	for range maxScrapesInFlight {
		if c := <-codes; c != http.StatusOK {
			t.Errorf("a scrape that waited for the store answered %d, want 200", c)
		}
	}
}

// stuckWriter is a client that reads nothing: its first Write says so on
// entered and waits for unblock.
type stuckWriter struct {
	header  http.Header
	entered chan<- struct{}
	unblock <-chan struct{}
	once    sync.Once
}

func (w *stuckWriter) Header() http.Header { return w.header }
func (w *stuckWriter) WriteHeader(int)     {}
func (w *stuckWriter) Write(b []byte) (int, error) {
	w.once.Do(func() { w.entered <- struct{}{} })
	<-w.unblock
	return len(b), nil
}

// TestSlowReaderHoldsNoScrape: the handler wrote its answer as it
// gathered it, within its place among the maxScrapesInFlight, so that
// maxScrapesInFlight clients that read nothing held every place for as
// long as the write deadline and every other scraper was refused. The
// answer is gathered into a buffer and written after the scrape has left
// its place: with that many clients stuck on their answers, a scrape is
// served.
func TestSlowReaderHoldsNoScrape(t *testing.T) {
	h := New(Sources{}).Handler()
	entered, unblock := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(unblock) })
	for range maxScrapesInFlight {
		go scrape(h, &stuckWriter{header: http.Header{}, entered: entered, unblock: unblock})
	}
	for i := range maxScrapesInFlight {
		select {
		case <-entered:
		case <-time.After(guard):
			t.Fatalf("%d of %d stuck clients were written to", i, maxScrapesInFlight)
		}
	}
	rec := httptest.NewRecorder()
	scrape(h, rec)
	if rec.Code != http.StatusOK {
		t.Fatalf("with %d clients stuck on their answers a scrape answered %d, want 200: %s", maxScrapesInFlight, rec.Code, rec.Body)
	}
}

// TestExpositionBounded: whatever reaches a label (a site, a country, a
// rule id, a run's state or site read back from the store) grows a
// scrape's answer by a bounded amount: 10,000 distinct values of each
// serve no more than the first maxSeries did, give or take the digits of
// the counts, and none past them is named.
func TestExpositionBounded(t *testing.T) {
	const many = 10000
	var counts []store.RunCount
	m := New(Sources{RunCounts: func(context.Context) ([]store.RunCount, error) { return counts, nil },
		Now: func() time.Time { return time.Time{} }}) // every scrape reads the store
	feed := func(from, to int) {
		for i := from; i < to; i++ {
			v := "chosen-" + strconv.Itoa(i)
			counts = append(counts, store.RunCount{State: v, Site: v, N: 1})
			m.SiteLost(v)
			m.Migrated(v, v)
			m.Staged(v, v, 1)
			m.ObservePlan("api", 0, &planner.Plan{Summary: planner.Summary{RejectedByRule: map[string]int{v: 1}}})
		}
	}
	body := func() string {
		rec := httptest.NewRecorder()
		scrape(m.Handler(), rec)
		return rec.Body.String()
	}
	feed(0, maxSeries+1)
	before := body()
	feed(maxSeries+1, many)
	after := body()
	t.Logf("exposition: %d bytes after %d values of each label, %d after %d", len(before), maxSeries+1, len(after), many)
	if len(after) > len(before)+4096 {
		t.Errorf("exposition grew from %d to %d bytes between %d and %d values of each label", len(before), len(after), maxSeries+1, many)
	}
	for _, v := range []string{"chosen-" + strconv.Itoa(maxSeries+1), "chosen-" + strconv.Itoa(many-1)} {
		if strings.Contains(after, `"`+v+`"`) {
			t.Errorf("the exposition names %s, a value past the first %d", v, maxSeries)
		}
	}
}
