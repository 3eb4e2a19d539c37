package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// TestTenantsPaged: GET /v1/tenants answered every tenant and every token
// in one answer, however many the store held. It now answers a page of
// tenants by name after ?after=, at most ?limit= of them and
// MaxTenantPageTokens tokens (at least one tenant), naming next; without
// limit, the whole list when it fits in a page and a 400 naming limit when
// it does not. The client reads every page: its list is the whole one.
func TestTenantsPaged(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const tokOps = "ops-admin-token-0000000000000000000000000"
	if _, err := AddToken(ctx, f.st, "ops", tokOps, true, "test admin", "test"); err != nil {
		t.Fatal(err)
	}
	// Tenants a, b and ops, then MaxTenantPage more (t0000...), and two
	// whose tokens fill more than a page's: aa and ab.
	var list []Token
	for i := range MaxTenantPage {
		list = append(list, Token{Tenant: fmt.Sprintf("t%05d", i), Token: fmt.Sprintf("secret-of-t%05d-0000000000000000000000", i)})
	}
	for i := range MaxTenantPageTokens/2 + 1 {
		for _, tn := range []string{"aa", "ab"} {
			list = append(list, Token{Tenant: tn, Token: fmt.Sprintf("secret-of-%s-%05d-000000000000000000000", tn, i)})
		}
	}
	if _, err := putTokens(ctx, f.st, list, "test", "test"); err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "aa", "ab", "b", "ops"}
	for i := range MaxTenantPage {
		want = append(want, fmt.Sprintf("t%05d", i))
	}
	get := func(query string) (int, TenantList) {
		t.Helper()
		req, _ := http.NewRequest("GET", f.srv.URL+"/v1/tenants"+query, nil)
		req.Header.Set("Authorization", "Bearer "+tokOps)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var l TenantList
		json.NewDecoder(resp.Body).Decode(&l)
		return resp.StatusCode, l
	}
	if code, e := f.raw(t, "GET", "/v1/tenants", tokOps, ""); code != http.StatusBadRequest || e.Field != "limit" {
		t.Errorf("without limit, more tenants than a page: %d %+v; want 400 naming limit", code, e)
	}
	if code, e := f.raw(t, "GET", "/v1/tenants?after=NOT_A_TENANT&limit=1", tokOps, ""); code != http.StatusBadRequest || e.Field != "after" {
		t.Errorf("a bad after: %d %+v; want 400 naming after", code, e)
	}
	// Pages: a (1 token) and aa (2,501) fit, ab would pass the tokens'
	// bound; then ab, b, ops and 997 more, a page's limit; then 3.
	var got []string
	var sizes []int
	for after, n := "", 0; ; n++ {
		if n > 10 {
			t.Fatal("more than 10 pages")
		}
		q := fmt.Sprintf("?limit=%d", MaxTenantPage)
		if after != "" {
			q += "&after=" + after
		}
		code, page := get(q)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", q, code)
		}
		tokens := 0
		for _, ti := range page.Tenants {
			got = append(got, ti.Tenant)
			tokens += len(ti.Tokens)
		}
		if len(page.Tenants) > MaxTenantPage || len(page.Tenants) > 1 && tokens > MaxTenantPageTokens {
			t.Errorf("%s: %d tenants, %d tokens: past the page's bounds", q, len(page.Tenants), tokens)
		}
		sizes = append(sizes, len(page.Tenants))
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pages listed %d tenants, want %d: %.200v", len(got), len(want), got)
	}
	if fmt.Sprint(sizes) != fmt.Sprint([]int{2, MaxTenantPage, 3}) {
		t.Errorf("page sizes %v; want [2 %d 3]", sizes, MaxTenantPage)
	}
	// The client reads every page.
	all, err := NewClient(f.srv.URL, tokOps).Tenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ti := range all {
		names = append(names, ti.Tenant)
	}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("the client listed %d tenants, want %d", len(names), len(want))
	}
}
