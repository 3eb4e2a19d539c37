package rules

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/transfer"
)

// ruleIDs lists the ids of the rules l holds on asOf.
func ruleIDs(t *testing.T, l transfer.Law, asOf catalog.Date) []string {
	t.Helper()
	rl, ok := l.(transfer.RuleLister)
	if !ok {
		t.Fatalf("the pinned law %T lists no rules", l)
	}
	var ids []string
	for _, r := range rl.Rules(asOf) {
		ids = append(ids, r.ID)
	}
	return ids
}

// TestPinKeepsTheRevision: the law a staging pins stays the revision in
// force when it was pinned, for its decision and for the rules its ledger
// entry lists, while a revision applied meanwhile becomes the law in
// force; a server behind the store pins a law that denies every transfer.
func TestPinKeepsTheRevision(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	s, err := Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	countries, err := catalog.BuiltinCountries()
	if err != nil {
		t.Fatal(err)
	}
	day := catalog.MustDate("2031-06-01")
	q := policy.Query{AsOf: day, Countries: countries}
	ds := &catalog.Dataset{Metadata: catalog.Metadata{Name: "d"}, Spec: catalog.DatasetSpec{Origin: "DE", Classification: catalog.ClassPublic}}
	if _, _, err := s.Apply(ctx, Change{Files: []policy.File{pack("a.yaml", "test-a", "MY", "2030-01-01")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	pinned := s.Pin()
	if _, _, err := s.Apply(ctx, Change{Files: []policy.File{pack("b.yaml", "test-b", "FR", "2030-01-01")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	if ids := ruleIDs(t, pinned, day); !slices.Contains(ids, "test-a") || slices.Contains(ids, "test-b") {
		t.Errorf("the law pinned under revision 1 lists %v; want test-a and not test-b", ids)
	}
	if ids := ruleIDs(t, s.Pin(), day); !slices.Contains(ids, "test-b") {
		t.Errorf("the law pinned under revision 2 lists %v; want test-b", ids)
	}

	// A server whose directory clashes with the next revision is behind:
	// what it pins denies, naming the revision, and lists no rule.
	dir := t.TempDir()
	f := pack("clash.yaml", "test-clash", "MY", "2030-01-01")
	if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	here, err := Open(ctx, st, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if d := here.Pin().EvaluateTransfer(q, ds, "DE"); !d.Allowed {
		t.Fatalf("a public dataset at home before the clash: %+v", d)
	}
	if _, _, err := s.Apply(ctx, Change{Files: []policy.File{pack("clash.yaml", "test-clash", "SG", "2030-01-01")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := here.Refresh(ctx); err == nil {
		t.Fatal("a revision clashing with the server's directory loaded")
	}
	behind := here.Pin()
	if d := behind.EvaluateTransfer(q, ds, "DE"); d.Allowed || len(d.Denials) == 0 || !strings.Contains(d.Denials[0].Message, "cannot load rules revision") {
		t.Errorf("a behind server's pinned law: %+v, want a denial naming the revision", d)
	}
	if ids := ruleIDs(t, behind, day); len(ids) != 0 {
		t.Errorf("a behind server's pinned law lists %v as evaluated", ids)
	}
}
