package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// manyRevisions is a RulesService whose history holds n revisions. asked
// is the most revisions a request asked it for.
type manyRevisions struct {
	RulesService
	n     int
	asked int
}

func (m *manyRevisions) History(ctx context.Context, after int64, limit int) ([]RuleRevision, error) {
	m.asked = max(m.asked, limit)
	var out []RuleRevision
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := after; i < int64(m.n) && len(out) < limit; i++ {
		out = append(out, RuleRevision{Revision: i + 1, SHA256: fmt.Sprintf("%064x", i+1), By: "ops", Reason: "r", Time: t0.Add(time.Duration(i) * time.Hour), Files: []string{"a.yaml"}})
	}
	return out, nil
}

// getRevisions asks GET /v1/rules/revisions with query q.
func getRevisions(t *testing.T, f *fixture, q url.Values) (int, revisionsPage, Error) {
	t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+"/v1/rules/revisions?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		revisionsPage
		Error Error `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body.revisionsPage, body.Error
}

// revisionsPage is a page of GET /v1/rules/revisions as a client reads it.
type revisionsPage struct {
	Revisions []RuleRevision `json:"revisions"`
	Cursor    string         `json:"cursor"`
}

// TestRulesRevisionsPaged: the rules revisions come a page at a time, as
// the queue does: limit bounds a page (at most MaxRevisionPage) and cursor
// names where the next starts; the pages hold every revision once, in
// order. A client that asks for no page gets the whole list in the old
// shape while it fits in one page, and a 400 naming limit when it does
// not, never the first page passed off as the whole; the client reads
// every page.
func TestRulesRevisionsPaged(t *testing.T) {
	f := newFixture(t)
	revs := &manyRevisions{n: 7}
	f.h.SetRules(revs)

	var got []int64
	q := url.Values{"limit": {"3"}}
	for pages := 0; ; pages++ {
		if pages > 7 {
			t.Fatalf("pages never end: %v", got)
		}
		code, page, e := getRevisions(t, f, q)
		if code != http.StatusOK || len(page.Revisions) > 3 {
			t.Fatalf("page %d: status %d (%+v), %d revisions, want 200 and at most 3", pages, code, e, len(page.Revisions))
		}
		for _, r := range page.Revisions {
			got = append(got, r.Revision)
		}
		if page.Cursor == "" {
			break
		}
		q = url.Values{"limit": {"3"}, "cursor": {page.Cursor}}
	}
	if fmt.Sprint(got) != "[1 2 3 4 5 6 7]" {
		t.Errorf("pages of 3 held revisions %v, want 1 to 7 once each", got)
	}
	// A page asks for its revisions and one more (is there a next page?),
	// never the whole history.
	if revs.asked != 4 {
		t.Errorf("pages of 3 asked the service for up to %d revisions, want 4", revs.asked)
	}

	for _, q := range []url.Values{
		{"limit": {"0"}},
		{"limit": {fmt.Sprint(MaxRevisionPage + 1)}},
		{"cursor": {"not-a-cursor"}},
		{"cursor": {"e30"}}, // {}: names no revision
	} {
		if code, _, e := getRevisions(t, f, q); code != http.StatusBadRequest || (e.Field != "limit" && e.Field != "cursor") {
			t.Errorf("%s: status %d, %+v; want 400 naming the parameter", q.Encode(), code, e)
		}
	}

	// Unpaged, within one page: the whole list, no cursor.
	if code, page, _ := getRevisions(t, f, nil); code != http.StatusOK || len(page.Revisions) != 7 || page.Cursor != "" {
		t.Errorf("unpaged: status %d, %d revisions, cursor %q; want 200, all 7, none", code, len(page.Revisions), page.Cursor)
	}
	// Unpaged, more than a page: refused, naming limit.
	revs.n = MaxRevisionPage + 2
	if code, _, e := getRevisions(t, f, nil); code != http.StatusBadRequest || e.Field != "limit" {
		t.Errorf("unpaged, %d revisions: status %d, %+v; want 400 naming limit", MaxRevisionPage+2, code, e)
	}
	if revs.asked != MaxRevisionPage+1 {
		t.Errorf("an unpaged request asked the service for up to %d revisions, want %d", revs.asked, MaxRevisionPage+1)
	}
	// The client reads every page.
	all, err := NewClient(f.srv.URL, tokA).RulesHistory(context.Background())
	if err != nil || len(all) != MaxRevisionPage+2 || all[0].Revision != 1 || all[len(all)-1].Revision != MaxRevisionPage+2 {
		t.Errorf("client: %d revisions (%v), want all %d", len(all), err, MaxRevisionPage+2)
	}
}
