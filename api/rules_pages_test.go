package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/rules"
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
		{"cursor": {base64.RawURLEncoding.EncodeToString([]byte(`{"Revision":2}`))}}, // a key in another case
		{"cursor": {base64.RawURLEncoding.EncodeToString([]byte(`{"revision":2,"revision":3}`))}},
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
	if revs.asked > RevisionPage {
		t.Errorf("an unpaged request asked the service for up to %d revisions at once, want at most %d", revs.asked, RevisionPage)
	}
	// The client reads every page.
	all, err := NewClient(f.srv.URL, tokA).RulesHistory(context.Background())
	if err != nil || len(all) != MaxRevisionPage+2 || all[0].Revision != 1 || all[len(all)-1].Revision != MaxRevisionPage+2 {
		t.Errorf("client: %d revisions (%v), want all %d", len(all), err, MaxRevisionPage+2)
	}
}

// bigRevisions is a RulesService whose n revisions each name as many
// files, and give as long a reason, as the rules allow.
type bigRevisions struct {
	RulesService
	n     int
	asked int
}

func (m *bigRevisions) History(ctx context.Context, after int64, limit int) ([]RuleRevision, error) {
	m.asked = max(m.asked, limit)
	var out []RuleRevision
	files := make([]string, rules.MaxFiles)
	for i := range files {
		files[i] = fmt.Sprintf("%0100d.yaml", i)
	}
	reason := strings.Repeat("r", rules.MaxReason)
	for i := after; i < int64(m.n) && len(out) < limit; i++ {
		out = append(out, RuleRevision{Revision: i + 1, SHA256: fmt.Sprintf("%064x", i+1), By: "ops", Reason: reason, Files: files})
	}
	return out, nil
}

// TestRulesRevisionsPageBytes: a page of the rules revisions was bounded
// by count only, and a thousand revisions that each name the most files
// the rules allow ran to tens of megabytes in one answer, read whole from
// the service first. A page now ends before its revisions pass
// MaxRevisionPageBytes, with a cursor to go on, and the service is asked
// for a batch at a time; the pages still hold every revision once, in
// order, and an unpaged request that would pass the bound is refused.
func TestRulesRevisionsPageBytes(t *testing.T) {
	f := newFixture(t)
	const n = 300
	revs := &bigRevisions{n: n}
	f.h.SetRules(revs)

	var got []int64
	q := url.Values{"limit": {fmt.Sprint(MaxRevisionPage)}}
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatalf("pages never end: %d revisions read", len(got))
		}
		code, body := getBody(t, f.srv.URL+"/v1/rules/revisions?"+q.Encode(), tokA)
		if code != http.StatusOK {
			t.Fatalf("page %d: status %d: %s", pages, code, body)
		}
		if len(body) > MaxRevisionPageBytes+4096 {
			t.Fatalf("page %d: %d bytes, over the bound of %d", pages, len(body), MaxRevisionPageBytes)
		}
		var page revisionsPage
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Revisions) == 0 {
			t.Fatalf("page %d holds no revision", pages)
		}
		for _, r := range page.Revisions {
			got = append(got, r.Revision)
		}
		if page.Cursor == "" {
			break
		}
		q.Set("cursor", page.Cursor)
	}
	if len(got) != n {
		t.Fatalf("the pages held %d revisions, want %d", len(got), n)
	}
	for i, r := range got {
		if r != int64(i+1) {
			t.Fatalf("revision %d of the pages is %d, want %d", i, r, i+1)
		}
	}
	if revs.asked > RevisionPage {
		t.Errorf("a page asked the service for %d revisions at once, want at most %d", revs.asked, RevisionPage)
	}
	if code, _, e := getRevisions(t, f, nil); code != http.StatusBadRequest || e.Field != "limit" {
		t.Errorf("unpaged, %d revisions of %d bytes and more: status %d, %+v; want 400 naming limit", n, MaxRevisionPageBytes, code, e)
	}
	all, err := NewClient(f.srv.URL, tokA).RulesHistory(context.Background())
	if err != nil || len(all) != n {
		t.Errorf("client: %d revisions (%v), want all %d", len(all), err, n)
	}
}
