package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/store"
)

// counter scrapes m as Prometheus would and returns the value of name.
func counter(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in:\n%s", name, body)
	return 0
}

// TestAuditAppendsNeverGoesDown: a scrape while the store does not
// answer reads the chain's last length, not 0, which Prometheus would
// take for a counter reset and the next scrape for the whole chain
// appended at once.
func TestAuditAppendsNeverGoesDown(t *testing.T) {
	heads := []struct {
		seq int64
		err error
	}{{10, nil}, {0, errors.New("database is locked")}, {12, nil}, {0, context.DeadlineExceeded}}
	i := 0
	clock := time.Unix(1e9, 0)
	m := New(Sources{AuditHead: func(context.Context) (int64, string, error) {
		h := heads[i]
		i++
		return h.seq, "", h.err
	}, Now: func() time.Time { return clock }})
	var got []float64
	for range heads {
		got = append(got, counter(t, m, "meridian_audit_appends_total"))
		clock = clock.Add(storeEvery)
	}
	want := []float64{10, 10, 12, 12}
	for k := range want {
		if got[k] != want[k] {
			t.Fatalf("scrapes read %v, want %v", got, want)
		}
	}
}

// TestScrapesReadStoreAtMostOncePerSecond: /metrics answers whoever
// reaches --metrics-listen, without a token, as often as they ask; each
// scrape read the audit chain's head from the store (and, while the store
// failed, the run counts too), so that anyone on that network set the
// pace of queries on every replica's store. Within a second of the last
// read, scrapes answer the last figures (or the last error), and read
// again once the second has passed.
func TestScrapesReadStoreAtMostOncePerSecond(t *testing.T) {
	clock := time.Unix(1e9, 0)
	heads, counts := 0, 0
	countErr := errors.New("database is locked")
	m := New(Sources{
		AuditHead: func(context.Context) (int64, string, error) { heads++; return int64(heads), "", nil },
		RunCounts: func(context.Context) ([]store.RunCount, error) { counts++; return nil, countErr },
		Now:       func() time.Time { return clock },
	})
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body, _ := io.ReadAll(rec.Result().Body)
		return string(body)
	}
	for range 50 {
		scrape()
		clock = clock.Add(storeEvery / 100)
	}
	if heads != 1 || counts != 1 {
		t.Fatalf("50 scrapes within a second read the audit head %d times and the run counts %d times, want once each", heads, counts)
	}
	if body := scrape(); !strings.Contains(body, "meridian_audit_appends_total 1\n") || strings.Contains(body, "meridian_runs{") {
		t.Fatalf("a scrape within the second: want the last audit length and no run counts (the last read failed):\n%s", body)
	}
	clock = clock.Add(storeEvery)
	scrape()
	if heads != 2 || counts != 2 {
		t.Fatalf("a scrape a second later read the audit head %d times and the run counts %d times in all, want twice each", heads, counts)
	}
}

// TestMigrationSeriesBounded: runs moving among many sites add at most
// maxMigrationRoutes+1 series to meridian_migrations_total (a pair per old
// and new site would grow with the sites squared); the first pairs keep
// their own series, and no migration goes uncounted.
func TestMigrationSeriesBounded(t *testing.T) {
	m := New(Sources{})
	const sites = 40 // 1,560 pairs
	total := 0
	for range 2 {
		for i := range sites {
			for j := range sites {
				if i != j {
					m.Migrated("site-"+strconv.Itoa(i), "site-"+strconv.Itoa(j))
					total++
				}
			}
		}
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	series, sum := 0, 0.0
	var other, first float64
	for _, mf := range mfs {
		if mf.GetName() != "meridian_migrations_total" {
			continue
		}
		for _, c := range mf.GetMetric() {
			series++
			sum += c.GetCounter().GetValue()
			l := map[string]string{}
			for _, p := range c.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			switch {
			case l["from"] == otherRoute && l["to"] == otherRoute:
				other = c.GetCounter().GetValue()
			case l["from"] == "site-0" && l["to"] == "site-1":
				first = c.GetCounter().GetValue()
			}
		}
	}
	if series > maxMigrationRoutes+1 {
		t.Errorf("%d series for %d site pairs, want at most %d", series, sites*(sites-1), maxMigrationRoutes+1)
	}
	if int(sum) != total {
		t.Errorf("counted %v migrations, want %d", sum, total)
	}
	if first != 2 {
		t.Errorf("site-0 → site-1, seen first: %v, want its own series at 2", first)
	}
	if want := float64(total - 2*maxMigrationRoutes); other != want {
		t.Errorf("other: %v, want %v", other, want)
	}
}

// TestRunCountsWithBadLabelKeepTheOthers: the run counts come from the
// shared store; a site name that is not UTF-8 made the collector panic,
// which ended the collection there, so that every count after it went
// unreported. That series is the scrape's error; the others are served.
func TestRunCountsWithBadLabelKeepTheOthers(t *testing.T) {
	m := New(Sources{RunCounts: func(context.Context) ([]store.RunCount, error) {
		return []store.RunCount{{State: "running", Site: "bad-\xff", N: 2}, {State: "running", Site: "good", N: 1}}, nil
	}})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	if !strings.Contains(string(body), `meridian_runs{site="good",state="running"} 1`) {
		t.Errorf("the well-formed series is not served:\n%s", body)
	}
}

// TestStepCountsExported: the controller's steps out past their bound are
// scraped as what the controller says now, each scrape asking again.
func TestStepCountsExported(t *testing.T) {
	c := StepCounts{Out: 2, Late: 5, Held: 7}
	m := New(Sources{Steps: func() StepCounts { return c }})
	if out, late, held := counter(t, m, "meridian_steps_out"), counter(t, m, "meridian_steps_late_total"), counter(t, m, "meridian_steps_held_total"); out != 2 || late != 5 || held != 7 {
		t.Fatalf("scraped %v out, %v late, %v held; want 2, 5, 7", out, late, held)
	}
	c = StepCounts{Out: 0, Late: 6, Held: 9}
	if out, late, held := counter(t, m, "meridian_steps_out"), counter(t, m, "meridian_steps_late_total"), counter(t, m, "meridian_steps_held_total"); out != 0 || late != 6 || held != 9 {
		t.Fatalf("scraped %v out, %v late, %v held; want 0, 6, 9", out, late, held)
	}
}
