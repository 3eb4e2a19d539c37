package run

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/store"
)

// TestListVersionsPages: a tenant's runs' versions come a page at a time
// (after the page's last run, at most limit), oldest first, however many
// runs the tenant has; a limit of none or past what the store reads at
// once, and no tenant, are refused by name rather than read whole (or
// every tenant's).
func TestListVersionsPages(t *testing.T) {
	st, dir := testStore(t)
	c := New(Config{Store: st, StateDir: dir})
	ctx := context.Background()
	for i := range 7 {
		for _, tenant := range []string{"acme", "other"} {
			row, err := toRow(&Run{ID: fmt.Sprintf("%s-%d", tenant, i), Tenant: tenant, Job: "j", State: Succeeded})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := st.CreateRun(ctx, row, "", store.Change{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got []string
	for after, pages := "", 0; pages < 10; pages++ {
		vs, err := c.ListVersions(ctx, "acme", after, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			got = append(got, v.ID)
		}
		if len(vs) < 3 {
			break
		}
		after = vs[len(vs)-1].ID
	}
	if want := "acme-0 acme-1 acme-2 acme-3 acme-4 acme-5 acme-6"; strings.Join(got, " ") != want {
		t.Errorf("acme's versions in pages of 3: %v, want %s", got, want)
	}
	for _, tc := range []struct {
		tenant string
		limit  int
		want   string
	}{{"acme", 0, "limit 0"}, {"acme", store.MaxRunVersions + 1, "limit"}, {"", 5, "no tenant"}} {
		if vs, err := c.ListVersions(ctx, tc.tenant, "", tc.limit); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("tenant %q, limit %d: %v %v, want an error naming %q", tc.tenant, tc.limit, vs, err, tc.want)
		}
	}
}
