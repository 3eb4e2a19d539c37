package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// TestPagesWrittenAsBefore: the pages of runs, rules revisions and
// timeline events, written from each item's JSON as measured against the
// page's bound, are byte for byte what encoding the page's list type
// whole wrote: items whose strings JSON escapes (HTML, line separators,
// bytes that are not UTF-8), a run's documents left out, next and cursor
// present or absent, an empty page.
func TestPagesWrittenAsBefore(t *testing.T) {
	p := newPagedBench(5)
	odd := "<b>&amp;</b> \u2028\u2029 \xff \"quoted\" \\ \t日本"
	for i := range p.runs {
		p.runs[i].Reason = odd
		p.runs[i].Documents = []run.Document{{Name: "job.yaml", Content: "kind: Job"}}
		p.evs[i].Reason, p.evs[i].Data = odd, `{"k":"<v>"}`
		p.revs.revs[i].Reason, p.revs.revs[i].Files = odd, []string{odd}
	}
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { p.Controller = c; return p }})
	f.h.SetRules(&p.revs)
	runs := func(n int) []*run.Run {
		out := []*run.Run{}
		for i := range n {
			r := p.runs[i]
			r.Documents = nil
			out = append(out, &r)
		}
		return out
	}
	cursor := func(rev int64) string {
		b, _ := json.Marshal(revisionKey{Revision: rev})
		return base64.RawURLEncoding.EncodeToString(b)
	}
	for _, c := range []struct {
		path string
		want any
	}{
		{"/v1/runs?limit=3", RunList{Runs: runs(3), Next: "run-000003"}},
		{"/v1/runs?limit=10", RunList{Runs: runs(5)}},
		{"/v1/runs", RunList{Runs: runs(5)}},
		{"/v1/rules/revisions?limit=3", RuleHistory{Revisions: p.revs.revs[:3], Cursor: cursor(3)}},
		{"/v1/rules/revisions", RuleHistory{Revisions: p.revs.revs}},
		{"/v1/rules/revisions?cursor=" + cursor(5), RuleHistory{Revisions: []RuleRevision{}}},
		{"/v1/runs/run-x/events?limit=3", EventList{Events: p.evs[:3], Next: 3}},
		{"/v1/runs/run-x/events", EventList{Events: p.evs}},
		{"/v1/runs/run-x/events?after=5", EventList{Events: []store.Event{}}},
	} {
		req := httptest.NewRequest("GET", c.path, nil)
		req.Header.Set("Authorization", "Bearer "+tokA)
		got := httptest.NewRecorder()
		f.h.ServeHTTP(got, req)
		var want bytes.Buffer
		json.NewEncoder(&want).Encode(c.want) // as writeJSON encodes an answer
		if got.Code != http.StatusOK || !bytes.Equal(got.Body.Bytes(), want.Bytes()) {
			t.Errorf("%s: %d\n%s\nwant\n%s", c.path, got.Code, got.Body.Bytes(), want.Bytes())
		}
		if ct := got.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", c.path, ct)
		}
	}
}
