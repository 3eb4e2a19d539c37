package audit

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestForTenantHidesOthersContentHash: the plain SHA-256 of a broken
// entry's contents (Found.Content) is shown only to the tenant the entry
// names, in the problem, the accepted breaks and the detail of a break an
// acceptance no longer matches; the result itself is left as it was.
func TestForTenantHidesOthersContentHash(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 2)
	rec, err := NewRecord(KindState, "", map[string]string{"d": "no"})
	if err != nil {
		t.Fatal(err)
	}
	rec.Tenant = "b"
	es = appendTo(t, c, es, rec)
	es[2].Payload = []byte(`{"d":"yes"}`)
	r := c.Verify(es)
	if r.OK || r.Problem.Seq != 3 || r.Problem.Found == nil || r.Problem.Found.Content == "" {
		t.Fatalf("the break: %+v", r)
	}
	content := r.Problem.Found.Content
	if got := r.ForTenant("a"); got.Problem.Found.Content != "" || got.Problem.Found.Hash != es[2].Hash {
		t.Errorf("tenant a's view: %+v", got.Problem.Found)
	}
	if r.Problem.Found.Content != content {
		t.Error("ForTenant changed the result it was given")
	}
	if got := r.ForTenant("b"); got.Problem.Found.Content != content {
		t.Errorf("tenant b's view of its own entry: %+v", got.Problem.Found)
	}

	acc, err := NewRecord(KindBrokenAccepted, "", BrokenAccepted{Problem: r.Problem})
	if err != nil {
		t.Fatal(err)
	}
	es = appendTo(t, c, es, acc)
	r = c.Verify(es)
	if !r.OK || len(r.Accepted) != 1 {
		t.Fatalf("the accepted log: %+v", r)
	}
	if got := r.ForTenant("a"); got.Accepted[0].Problem.Found.Content != "" {
		t.Errorf("tenant a's view of the accepted break: %+v", got.Accepted[0].Problem.Found)
	}
	if r.Accepted[0].Problem.Found.Content != content {
		t.Error("ForTenant changed the accepted breaks it was given")
	}

	// Changed again: the acceptance no longer matches, and the detail,
	// shown to every tenant, says so without the hash it pinned.
	es[2].Payload = []byte(`{"d":"maybe"}`)
	es[2].Time = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Format(TimeLayout)
	r = c.Verify(es)
	if r.OK || r.Problem.Seq != 3 || !strings.Contains(r.Problem.Detail, "not accepted") {
		t.Fatalf("changed again: %+v", r.Problem)
	}
	if strings.Contains(r.Problem.Detail, short(content)) {
		t.Errorf("the detail shows the accepted contents hash: %s", r.Problem.Detail)
	}
}

// TestForTenantNamesNoTenant: a format 1 entry with a tenant written onto
// it broke the log with a detail naming that tenant, and every tenant's
// verification shows the detail: it named one tenant to the others.
func TestForTenantNamesNoTenant(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := v1ChainOf(c, 3)
	es[1].Tenant = "acme-secret-project"
	r := c.Verify(es).ForTenant("other")
	if r.OK || r.Problem.Kind != Modified {
		t.Fatalf("a tenant written onto a format 1 entry: %+v", r)
	}
	if b, err := json.Marshal(r); err != nil || strings.Contains(string(b), "acme-secret-project") {
		t.Fatalf("another tenant's verification names the tenant: %s %v", b, err)
	}
}
