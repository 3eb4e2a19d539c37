package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
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
	m := New(Sources{AuditHead: func(context.Context) (int64, string, error) {
		h := heads[i]
		i++
		return h.seq, "", h.err
	}})
	var got []float64
	for range heads {
		got = append(got, counter(t, m, "meridian_audit_appends_total"))
	}
	want := []float64{10, 10, 12, 12}
	for k := range want {
		if got[k] != want[k] {
			t.Fatalf("scrapes read %v, want %v", got, want)
		}
	}
}
