package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestSQLiteResourceKeyTwinRefused: a registered resource next to a copy
// of its row written outside Meridian with its tenant, kind or name as
// bytes (a BLOB of the same bytes), which SQLite keeps under another key
// of the primary index. Every read of the resource (get, the tenant's
// lists, an update, a registration with a run) fails with ErrRowTwice,
// naming the table and the column, whatever the kind: before, it was
// refused as a row to store as text again, which the primary key then
// refused (the text row holds that key).
func TestSQLiteResourceKeyTwinRefused(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"Dataset", "Organization", "Site", "Model"} {
		for _, col := range []string{"tenant", "kind", "name"} {
			t.Run(kind+"/"+col, func(t *testing.T) {
				s := openTest(t)
				doc := []byte(`{"kind":"` + kind + `","metadata":{"name":"d1"}}`)
				sum := sha256.Sum256(doc)
				r := &Resource{Tenant: "acme", Kind: kind, Name: "d1", Doc: doc, Hash: hex.EncodeToString(sum[:])}
				if _, err := s.PutResource(ctx, r, 0, rec(t, "resource", "", map[string]string{"name": "d1"})); err != nil {
					t.Fatal(err)
				}
				cols := map[string]string{"tenant": "tenant", "kind": "kind", "name": "name"}
				cols[col] = "CAST(" + col + " AS BLOB)"
				if _, err := s.DB().ExecContext(ctx, fmt.Sprintf(`INSERT INTO resources (`+resourceCols+`)
					SELECT %s, %s, %s, doc, hash, store_key, version, created_at, updated_at FROM resources`, cols["tenant"], cols["kind"], cols["name"])); err != nil {
					t.Fatal(err)
				}
				want := func(what string, err error) {
					t.Helper()
					if !errors.Is(err, ErrRowTwice) || !strings.Contains(err.Error(), "resources") || !strings.Contains(err.Error(), col) || !strings.Contains(err.Error(), "BLOB") {
						t.Errorf("%s: %v; want ErrRowTwice naming resources and its %s", what, err, col)
					}
				}
				_, err := s.GetResource(ctx, "acme", kind, "d1")
				want("get", err)
				for _, k := range []string{"", kind} {
					_, err = s.ListResources(ctx, "acme", k)
					want(fmt.Sprintf("list of kind %q", k), err)
				}
				_, err = s.PutResource(ctx, r, 1, rec(t, "resource", "", map[string]string{"name": "d1"}))
				want("update", err)
				_, _, err = s.CreateRun(ctx, &Run{ID: "r1", Tenant: "acme", Job: "j", State: "planned", Data: []byte(`{}`)}, "",
					Change{Register: []Resource{*r}})
				want("registration with a run", err)
			})
		}
	}
}
