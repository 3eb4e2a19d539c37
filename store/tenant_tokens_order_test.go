package store

import (
	"context"
	"fmt"
	"testing"
)

// TestTenantTokensByteOrder: TenantTokens pages tenants in byte order,
// the order GET /v1/tenants sorts a page in and takes its next after= from,
// whatever the database's collation: under a locale's (PostgreSQL's
// default, en_US.UTF-8, passes "-" by), "ab" came before "a-c", and a page
// that ended at "a-c" was followed by none, "a0" and "ab" never listed.
func TestTenantTokensByteOrder(t *testing.T) {
	for _, open := range gapStores {
		t.Run(open.name, func(t *testing.T) {
			ctx := context.Background()
			s, _ := open.open(t)
			for i, tn := range []string{"ab", "a-c", "a0", "b"} {
				if _, err := s.PutToken(ctx, &Token{Tenant: tn, Hash: HashToken(fmt.Sprintf("secret %d", i))}, rec(t, "token", "", map[string]int{"n": i})); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			after := ""
			for pages := 0; pages < 10; pages++ {
				ts, err := s.TenantTokens(ctx, after, 1)
				if err != nil {
					t.Fatal(err)
				}
				if len(ts) == 0 {
					break
				}
				got = append(got, ts[0].Tenant)
				after = ts[0].Tenant
			}
			if want := "[a-c a0 ab b]"; fmt.Sprint(got) != want {
				t.Errorf("tenants a page at a time: %v, want %s", got, want)
			}
		})
	}
}
