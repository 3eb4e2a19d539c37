package api

import (
	"context"
	"net/http"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// TestAuditVerifyHidesOthersContentHash: when an entry of tenant b is
// broken, every tenant's verification reports it; the report carried the
// plain SHA-256 of the entry's contents, against which tenant a could test
// guesses at a short payload offline. Tenant a now sees the break by
// position and keyed hash only; b, whose entry it is, and the admin see the
// contents hash too.
func TestAuditVerifyHidesOthersContentHash(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const tokAdmin = "dddddddddddddddddddddddddddddddddddddddd"
	if _, err := AddToken(ctx, f.st, "ops", tokAdmin, true, "test", "test"); err != nil {
		t.Fatal(err)
	}
	rec, err := audit.NewRecord("decision", "", map[string]string{"d": "no"})
	if err != nil {
		t.Fatal(err)
	}
	rec.Tenant = "b"
	if err := f.st.AppendAudit(ctx, rec); err != nil {
		t.Fatal(err)
	}
	seq, _, err := f.st.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sq, ok := f.st.(*store.SQLite)
	if !ok {
		t.Skip("the fixture's store is not SQLite")
	}
	if _, err := sq.DB().Exec(`UPDATE audit SET payload = '{"d":"yes"}' WHERE seq = ?`, seq); err != nil {
		t.Fatal(err)
	}
	verify := func(tok string) *audit.Problem {
		t.Helper()
		code, _, res, err := verifyAs(t, f, tok)
		if err != nil || code != http.StatusOK {
			t.Fatalf("verify: %d %v", code, err)
		}
		if res.OK || res.Problem == nil || res.Problem.Seq != seq || res.Problem.Found == nil || res.Problem.Found.Hash == "" {
			t.Fatalf("verify of the broken log: %+v", res)
		}
		return res.Problem
	}
	if p := verify(tokA); p.Found.Content != "" {
		t.Errorf("tenant a sees the contents hash of tenant b's entry: %+v", p.Found)
	}
	for _, tok := range []string{tokB, tokAdmin} {
		if p := verify(tok); p.Found.Content == "" {
			t.Errorf("%s: the entry's own tenant or the admin does not see its contents hash: %+v", tok[:1], p.Found)
		}
	}
}
