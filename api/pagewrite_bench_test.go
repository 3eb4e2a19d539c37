package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// pagedBench is a controller with n runs and a timeline of n events, and
// a rules service with n revisions, each as a busy server's are: a
// reason of a few hundred bytes, a few attempts, a few files.
type pagedBench struct {
	Controller
	runs []run.Run
	evs  []store.Event
	revs benchRevisions
}

// benchRevisions is pagedBench's rules history.
type benchRevisions struct {
	RulesService
	revs []RuleRevision
}

func newPagedBench(n int) *pagedBench {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	reason := strings.Repeat("the site said <no> & went on; ", 10)
	p := &pagedBench{}
	for i := range n {
		r := run.Run{ID: fmt.Sprintf("run-%06d", i+1), Tenant: "a", Job: "train", State: run.Failed, Site: "site-1", Attempt: 3, CreatedAt: t0, UpdatedAt: t0.Add(time.Hour)}
		r.Reason = reason
		for a := range 3 {
			r.Attempts = append(r.Attempts, run.Attempt{N: a + 1, Site: fmt.Sprintf("site-%d", a), Handle: "job-12345"})
		}
		p.runs = append(p.runs, r)
		p.evs = append(p.evs, store.Event{RunID: "run-x", Seq: int64(i + 1), Time: t0.Add(time.Duration(i) * time.Second), Kind: "attempt-failed", From: "running", To: "pending", Reason: reason})
		p.revs.revs = append(p.revs.revs, RuleRevision{Revision: int64(i + 1), SHA256: fmt.Sprintf("%064x", i+1), By: "admin of tenant ops", Reason: reason, Time: t0.Add(time.Duration(i) * time.Hour), Files: []string{"eu.yaml", "us.yaml", "cn.yaml"}})
	}
	return p
}

func (p *pagedBench) ListPage(ctx context.Context, tenant, after string, limit int) ([]*run.Run, error) {
	from := 0
	if after != "" {
		fmt.Sscanf(after, "run-%d", &from)
	}
	var out []*run.Run
	for i := from; i < len(p.runs) && len(out) < limit; i++ {
		r := p.runs[i]
		out = append(out, &r)
	}
	return out, nil
}

func (p *pagedBench) EventsAfter(ctx context.Context, tenant, id string, after int64, limit int) ([]store.Event, error) {
	var out []store.Event
	for i := int(after); i < len(p.evs) && len(out) < limit; i++ {
		out = append(out, p.evs[i])
	}
	return out, nil
}

func (p *benchRevisions) History(ctx context.Context, after int64, limit int) ([]RuleRevision, error) {
	var out []RuleRevision
	for i := int(after); i < len(p.revs) && len(out) < limit; i++ {
		out = append(out, p.revs[i])
	}
	return out, nil
}

// discardWriter is a ResponseWriter that keeps only how much was written.
type discardWriter struct {
	h http.Header
	n int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }

// BenchmarkPageWrite is the server's side of a page of 1,000 runs, rules
// revisions or timeline events, from the controller's answer to the last
// byte written: the cost of measuring and writing the page's JSON.
//
//	go test ./api -run '^$' -bench PageWrite -benchmem
func BenchmarkPageWrite(b *testing.B) {
	const n = 1000
	p := newPagedBench(n)
	f := newFixtureWith(b, fixtureOptions{Hide: func(c Controller) Controller { p.Controller = c; return p }})
	f.h.SetRules(&p.revs)
	for _, path := range []string{"/v1/runs?limit=1000", "/v1/rules/revisions?limit=1000", "/v1/runs/run-x/events?limit=1000"} {
		name := strings.Split(strings.TrimPrefix(path, "/v1/"), "?")[0]
		b.Run(strings.ReplaceAll(name, "/", "-"), func(b *testing.B) {
			req, _ := http.NewRequest("GET", path, nil)
			req.Header.Set("Authorization", "Bearer "+tokA)
			req.RemoteAddr = "127.0.0.1:1"
			b.ReportAllocs()
			for b.Loop() {
				w := &discardWriter{h: http.Header{}}
				f.h.ServeHTTP(w, req)
				if w.n < n*100 {
					b.Fatalf("%s: %d bytes", path, w.n)
				}
			}
		})
	}
}
