package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestUnboundedReadsRefusedPastBound: the reads a caller may make without
// a limit (a tenant's runs' versions, its resources, a run's timeline,
// every token) read the whole table, however large whoever could add rows
// had made it. Each returns every row up to its bound, and refuses one
// row more with ErrTooMany, naming the read, rather than read them all.
func TestUnboundedReadsRefusedPastBound(t *testing.T) {
	const bound = 5
	defer func(v, e, r, k int) { maxRunVersions, maxEvents, maxListResources, maxTokens = v, e, r, k }(maxRunVersions, maxEvents, maxListResources, maxTokens)
	maxRunVersions, maxEvents, maxListResources, maxTokens = bound, bound, bound, bound
	for _, open := range gapStores {
		t.Run(open.name, func(t *testing.T) {
			ctx := context.Background()
			s, _ := open.open(t)
			// add adds the nth row of each kind: a run of acme's, an event
			// of run r1 (its first the run's creation), a resource, a token.
			add := func(n int) {
				t.Helper()
				id := fmt.Sprintf("r%d", n)
				if _, _, err := s.CreateRun(ctx, &Run{ID: id, Tenant: "acme", Job: "j", State: "planned", Data: []byte(`{}`)}, "",
					Change{Events: []Event{{Kind: "created", To: "planned"}}}); err != nil {
					t.Fatal(err)
				}
				if n > 1 {
					if _, err := s.UpdateRun(ctx, "r1", func(r *Run) (Change, error) {
						return Change{Events: []Event{{Kind: "note", Reason: id}}}, nil
					}); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := s.PutResource(ctx, cacheRes(fmt.Sprintf("d%d", n)), 0, rec(t, "resource", "", map[string]int{"n": n})); err != nil {
					t.Fatal(err)
				}
				if _, err := s.PutToken(ctx, &Token{Tenant: "acme", Hash: HashToken(id)}, rec(t, "token", "", map[string]int{"n": n})); err != nil {
					t.Fatal(err)
				}
			}
			// reads are the reads without a limit, and the number of rows
			// each returned.
			reads := []struct {
				name string
				read func() (int, error)
			}{
				{"RunVersions", func() (int, error) { vs, err := s.RunVersions(ctx, "acme"); return len(vs), err }},
				{"Events", func() (int, error) { es, err := s.Events(ctx, "r1"); return len(es), err }},
				{"EventsAfter without a limit", func() (int, error) { es, err := s.EventsAfter(ctx, "r1", 0, 0); return len(es), err }},
				{"ListResources", func() (int, error) { rs, err := s.ListResources(ctx, "acme", ""); return len(rs), err }},
				{"ListResources of a kind", func() (int, error) { rs, err := s.ListResources(ctx, "acme", "Dataset"); return len(rs), err }},
				{"ListTokens", func() (int, error) { ts, err := s.ListTokens(ctx); return len(ts), err }},
			}
			for n := 1; n <= bound; n++ {
				add(n)
			}
			for _, r := range reads {
				if n, err := r.read(); err != nil || n != bound {
					t.Errorf("%s at the bound: %d rows, %v; want %d", r.name, n, err, bound)
				}
			}
			add(bound + 1)
			for _, r := range reads {
				if n, err := r.read(); !errors.Is(err, ErrTooMany) || n != 0 {
					t.Errorf("%s past the bound: %d rows, %v; want ErrTooMany", r.name, n, err)
				}
			}
			// A limit past the bound is refused; one within it pages.
			if _, err := s.EventsAfter(ctx, "r1", 0, bound+1); err == nil {
				t.Errorf("EventsAfter with a limit past the bound: no error")
			}
			if es, err := s.EventsAfter(ctx, "r1", 1, bound); err != nil || len(es) != bound {
				t.Errorf("EventsAfter a page: %d events, %v; want %d", len(es), err, bound)
			}
		})
	}
}

// cacheRes is a registered Dataset of acme's named name.
func cacheRes(name string) *Resource {
	r := &Resource{Tenant: "acme", Kind: "Dataset", Name: name, Doc: []byte(`{"kind":"Dataset"}`)}
	r.Hash = fmt.Sprintf("%064x", len(name))
	return r
}

// TestTenantTokensPages: TenantTokens reads a page of tenants' tokens,
// by tenant name after after, each tenant's oldest first, not every
// token; more than the bound is ErrTooMany, as ListTokens.
func TestTenantTokensPages(t *testing.T) {
	defer func(k int) { maxTokens = k }(maxTokens)
	maxTokens = 4
	for _, open := range gapStores {
		t.Run(open.name, func(t *testing.T) {
			ctx := context.Background()
			s, _ := open.open(t)
			for i, tn := range []string{"b", "a", "c", "a"} {
				if _, err := s.PutToken(ctx, &Token{Tenant: tn, Hash: HashToken(fmt.Sprintf("secret %d", i)), Note: fmt.Sprint(i)}, rec(t, "token", "", map[string]int{"n": i})); err != nil {
					t.Fatal(err)
				}
			}
			page := func(after string, tenants int) string {
				t.Helper()
				ts, err := s.TenantTokens(ctx, after, tenants)
				if err != nil {
					return err.Error()
				}
				var out []string
				for _, tk := range ts {
					out = append(out, tk.Tenant+tk.Note)
				}
				return fmt.Sprint(out)
			}
			for _, c := range []struct {
				after   string
				tenants int
				want    string
			}{
				{"", 2, "[a1 a3 b0]"}, {"a", 2, "[b0 c2]"}, {"b", 5, "[c2]"}, {"c", 1, "[]"},
			} {
				if got := page(c.after, c.tenants); got != c.want {
					t.Errorf("after %q, %d tenants: %s; want %s", c.after, c.tenants, got, c.want)
				}
			}
			if _, err := s.TenantTokens(ctx, "", 0); err == nil {
				t.Error("0 tenants: no error")
			}
			if _, err := s.PutToken(ctx, &Token{Tenant: "a", Hash: HashToken("secret 4"), Note: "4"}, rec(t, "token", "", map[string]int{"n": 4})); err != nil {
				t.Fatal(err)
			}
			if ts, err := s.TenantTokens(ctx, "", 3); !errors.Is(err, ErrTooMany) {
				t.Errorf("5 tokens past a bound of 4: %d tokens, %v; want ErrTooMany", len(ts), err)
			}
			if got := page("a", 2); got != "[b0 c2]" {
				t.Errorf("after a, 2 tenants, once a has 3 tokens: %s; want [b0 c2]", got)
			}
		})
	}
}
