package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/store"
)

// series counts the series of name in m, and the sum of their values.
func series(t *testing.T, m *Metrics, name string) (int, float64, map[[2]string]float64) {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	n, sum := 0, 0.0
	by := map[[2]string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, c := range mf.GetMetric() {
			v := c.GetCounter().GetValue() + c.GetGauge().GetValue()
			n++
			sum += v
			var k [2]string
			for i, p := range c.GetLabel() {
				if i < 2 {
					k[i] = p.GetValue()
				}
				if !utf8.ValidString(p.GetValue()) || len(p.GetValue()) > maxLabelBytes {
					t.Errorf("%s: label %s=%.40q (%d bytes) is not UTF-8 or over %d bytes", name, p.GetName(), p.GetValue(), len(p.GetValue()), maxLabelBytes)
				}
			}
			by[k] += v
		}
	}
	return n, sum, by
}

// TestLabelNotUTF8Counted: a site name, a country or a rule id that is
// not UTF-8 (a run's site read back from a store that someone wrote
// beside the server) made the counter's WithLabelValues panic, which
// ended the controller's step or the plan that counted it. Such a value
// is counted with its bad bytes replaced, and a scrape serves it.
func TestLabelNotUTF8Counted(t *testing.T) {
	m := New(Sources{})
	calls := map[string]func(){
		"SiteLost": func() { m.SiteLost("lost-\xff") },
		"Migrated": func() { m.Migrated("from-\xff", "to-\xfe") },
		"Staged":   func() { m.Staged("S\xffG", "D\xfeE", 10) },
		"ObservePlan": func() {
			m.ObservePlan("api", 0, &planner.Plan{Summary: planner.Summary{RejectedByRule: map[string]int{"rule-\xff": 3}}})
		},
	}
	for name, f := range calls {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s with a label that is not UTF-8 panicked: %v", name, p)
				}
			}()
			f()
		}()
	}
	for name, want := range map[string]float64{"meridian_site_losses_total": 1, "meridian_migrations_total": 1, "meridian_staged_bytes_total": 10, "meridian_law_denials_total": 3} {
		if _, sum, _ := series(t, m, name); sum != want {
			t.Errorf("%s: %v counted, want %v", name, sum, want)
		}
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	if !strings.Contains(string(body), "meridian_site_losses_total{site=\"lost-\ufffd\"} 1") || !utf8.Valid(body) {
		t.Errorf("the scrape does not serve the site lost, its bad byte replaced:\n%s", body)
	}
	// A quote, a backslash or a line break in a value is escaped, not
	// taken for the end of the value or of the line.
	m.SiteLost("a\"} 1\nmeridian_leader 1\\")
	rec = httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ = io.ReadAll(rec.Result().Body)
	if !strings.Contains(string(body), `meridian_site_losses_total{site="a\"} 1\nmeridian_leader 1\\"} 1`) || strings.Contains(string(body), "\nmeridian_leader 1") {
		t.Errorf("a site of a quote, a line break and a backslash is not escaped:\n%s", body)
	}
}

// TestLabelSeriesBounded: the sites, countries and rule ids that label
// a series come from the operator's catalog and law, but the sites are
// read back from the shared store (a run's site; the run counts, at every
// scrape), where whoever writes the database beside the server may put
// a million of them, each of a megabyte: each became a series kept for
// the server's life (the counters) or made at each scrape (the run
// counts). The first maxSeries values of each keep their own series, the
// rest are counted under "other", nothing goes uncounted, and a value is
// cut to maxLabelBytes.
func TestLabelSeriesBounded(t *testing.T) {
	const many = 3 * maxSeries
	var counts []store.RunCount
	for i := range many {
		counts = append(counts, store.RunCount{State: "running", Site: "site-" + strconv.Itoa(i), N: 1},
			store.RunCount{State: "state-" + strconv.Itoa(i), Site: "site-0", N: 2})
	}
	counts = append(counts, store.RunCount{State: "running", Site: strings.Repeat("x", 1<<20), N: 1})
	m := New(Sources{RunCounts: func(context.Context) ([]store.RunCount, error) { return counts, nil }})
	for round := range 2 {
		for i := range many {
			site := "site-" + strconv.Itoa(i)
			m.SiteLost(site)
			m.Staged("c-"+strconv.Itoa(i), "d-"+strconv.Itoa(round), 1)
			m.ObservePlan("api", 0, &planner.Plan{Summary: planner.Summary{RejectedByRule: map[string]int{"rule-" + strconv.Itoa(i): 1}}})
		}
		m.SiteLost(strings.Repeat("y", 1<<20))
	}
	for name, want := range map[string]float64{
		"meridian_site_losses_total":  2*many + 2,
		"meridian_staged_bytes_total": 2 * many,
		"meridian_law_denials_total":  2 * many,
		"meridian_runs":               3*many + 1,
	} {
		n, sum, by := series(t, m, name)
		if n > maxSeries+1 {
			t.Errorf("%s: %d series from %d values, want at most %d", name, n, many, maxSeries+1)
		}
		if sum != want {
			t.Errorf("%s: %v counted, want %v", name, sum, want)
		}
		if name == "meridian_site_losses_total" && by[[2]string{"site-0"}] != 2 {
			t.Errorf("%s: site-0, seen first: %v, want its own series at 2", name, by[[2]string{"site-0"}])
		}
	}
}
