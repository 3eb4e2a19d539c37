package rules

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// oldFormPack is a rule file an earlier loader accepted and this one
// refuses: it reads asOf in a form whose days cannot be listed.
func oldFormPack(cond string) policy.File {
	f := pack("old.yaml", "old-asof", "SG", "2024-01-01")
	f.Data = []byte(strings.Replace(string(f.Data), "condition: \"site.country == 'SG'\"", "condition: \""+cond+"\"", 1))
	return f
}

// storeAsApplied stores files as revision after+1 with its sealed record,
// as Apply writes it: what an earlier version of Meridian, whose loader
// accepted the files, left in the database.
func storeAsApplied(t *testing.T, st Store, after int64, files map[string]string, reason string) {
	t.Helper()
	hash := Hash(files)
	rec, err := audit.NewRecord(KindRevision, "", map[string]any{
		"revision": after + 1, "sha256": hash, "files": fileHashes(files), "by": "admin", "reason": reason,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutRuleRevision(context.Background(), &store.RuleRevision{Hash: hash, Files: files, Who: "admin", Reason: reason}, after, rec); err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeOnRevisionThatNoLongerLoads: a revision applied under an
// earlier loader, confirmed by its sealed record, that this loader refuses
// (a rule reading asOf in a form whose days cannot be listed). A server
// starting on it refused to start, and no admin could post the corrected
// revision through it. It now starts under no law: plans, stagings and
// the controller's decisions are refused, naming the revision, the rule,
// the expression and the remedy; an admin's corrected revision, applied
// on the stored revision's files, is the law in force at once.
func TestUpgradeOnRevisionThatNoLongerLoads(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	key := []byte("test key 0123456")
	open := func() (*State, error) { return OpenWitnessed(ctx, st, nil, audit.NewChain(key), st) }
	first, err := open()
	if err != nil {
		t.Fatal(err)
	}
	deny := pack("org.yaml", "org-deny-xa", "XA", "2024-01-01")
	if _, _, err := first.Apply(ctx, Change{Files: []policy.File{deny}}, "admin", "deny XA", time.Now()); err != nil {
		t.Fatal(err)
	}
	old := oldFormPack("asOf + '' >= '2026-03-01' && site.country == 'SG'")
	storeAsApplied(t, st, 1, map[string]string{deny.Name: string(deny.Data), old.Name: string(old.Data)}, "deny SG from March")

	s, err := open()
	if err != nil {
		t.Fatalf("a server starting on a stored revision this loader refuses: %v", err)
	}
	if cur := s.Current(); cur.Rev != 2 || cur.Unloaded == nil || len(cur.Files) != 2 {
		t.Fatalf("law in force: revision %d, unloaded %v, %d files; want revision 2, unloaded, its 2 files", cur.Rev, cur.Unloaded, len(cur.Files))
	}
	step := "reads asOf in " + strconv.Quote(`asOf + ""`)
	behind := s.Behind()
	if behind == nil {
		t.Fatal("a server that cannot load the law in force is not behind: it would plan under no law")
	}
	for _, want := range []string{"rules revision 2", `"old-asof"`, step, "meridian rules apply"} {
		if !strings.Contains(behind.Error(), want) {
			t.Errorf("refusal %q does not name %s", behind, want)
		}
	}
	countries, err := catalog.BuiltinCountries()
	if err != nil {
		t.Fatal(err)
	}
	q := policy.Query{AsOf: catalog.MustDate("2026-01-01"), Countries: countries}
	ds := &catalog.Dataset{Metadata: catalog.Metadata{Name: "d"}, Spec: catalog.DatasetSpec{Origin: "DE", Classification: catalog.ClassPublic}}
	if _, err := s.Law().Session(q); err == nil || !strings.Contains(err.Error(), "rules revision 2") {
		t.Errorf("a plan: %v, want refused naming revision 2", err)
	}
	if _, err := s.Law().(planner.SnapshotLaw).Snapshot().Session(q); err == nil {
		t.Errorf("a plan's snapshot: no refusal")
	}
	if d := s.EvaluateTransfer(q, ds, "FR"); d.Allowed || len(d.Denials) == 0 || !strings.Contains(d.Denials[0].Message, "rules revision 2") {
		t.Errorf("a staging: %+v, want denied naming revision 2", d)
	}
	// A refresh finds nothing newer, and stays behind.
	s.Refresh(ctx)
	if s.Behind() == nil {
		t.Error("a refresh put a law that does not load in force")
	}
	// The revision as written is still what a diff reads.
	if w, err := s.WrittenAt(ctx, 2); err != nil {
		t.Errorf("WrittenAt(2): %v", err)
	} else if _, ok := ids(w)["old-asof"]; !ok {
		t.Errorf("WrittenAt(2) is not the revision's files: %v", ids(w))
	}
	// A change that does not mend it is refused with the same problem,
	// and stores nothing.
	if _, _, err := s.Apply(ctx, Change{Files: []policy.File{pack("more.yaml", "org-deny-xb", "XB", "2024-01-01")}}, "admin", "more", time.Now()); err == nil || !strings.Contains(err.Error(), step) {
		t.Errorf("a change leaving the old form in: %v", err)
	}
	if last, _ := st.LastRuleRevision(ctx); last != 2 {
		t.Fatalf("a refused change stored revision %d", last)
	}
	fixed := oldFormPack("asOf >= '2026-03-01' && site.country == 'SG'")
	cur, d, err := s.Apply(ctx, Change{Files: []policy.File{fixed}}, "admin", "asOf compared with a literal", time.Now())
	if err != nil {
		t.Fatalf("the corrected revision: %v", err)
	}
	if cur.Rev != 3 || len(cur.Files) != 2 || s.Current().Rev != 3 || s.Current().Unloaded != nil {
		t.Fatalf("after the corrected revision: revision %d, %d files, in force %d", cur.Rev, len(cur.Files), s.Current().Rev)
	}
	if len(d.Added) != 0 || len(d.Changed) != 1 || d.Changed[0].ID != "old-asof" {
		t.Errorf("the corrected revision's diff: added %v, changed %v; want old-asof changed", d.Added, d.Changed)
	}
	if err := s.Behind(); err != nil {
		t.Errorf("after the corrected revision: behind %v", err)
	}
	if _, err := s.Law().Session(q); err != nil {
		t.Errorf("a plan under the corrected revision: %v", err)
	}
	if err := s.Refresh(ctx); err != nil || s.Behind() != nil {
		t.Errorf("a refresh after the corrected revision: %v, behind %v", err, s.Behind())
	}
	if again, err := open(); err != nil || again.Behind() != nil || again.Current().Rev != 3 {
		t.Errorf("a server starting after the corrected revision: %v", err)
	}
}

// TestRunningServerTakesCorrectionOfRevisionItCannotLoad: a server of this
// version running beside one of an earlier version, which applied a
// revision this loader refuses, was behind (planning refused) and refused
// the corrected revision too, since its apply first loads the latest. The
// correction is now made to the latest revision's files, and the server
// plans under it at once.
func TestRunningServerTakesCorrectionOfRevisionItCannotLoad(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	s, err := OpenWitnessed(ctx, st, nil, audit.NewChain([]byte("test key 0123456")), st)
	if err != nil {
		t.Fatal(err)
	}
	applyDeny(t, s, "XA")
	old := oldFormPack("asOf.endsWith('-01') && site.country == 'SG'")
	storeAsApplied(t, st, 1, map[string]string{"org-xa.yaml": s.Current().Files["org-xa.yaml"], old.Name: string(old.Data)}, "deny SG on firsts")
	if err := s.Refresh(ctx); err == nil {
		t.Fatal("a revision this loader refuses loaded")
	}
	if b := s.Behind(); b == nil || !strings.Contains(b.Error(), "rules revision 2") || !strings.Contains(b.Error(), "meridian rules apply") {
		t.Fatalf("behind: %v, want it naming revision 2 and the remedy", b)
	}
	fixed := oldFormPack("asOf >= '2026-03-01' && site.country == 'SG'")
	cur, _, err := s.Apply(ctx, Change{Files: []policy.File{fixed}}, "admin", "asOf compared with a literal", time.Now())
	if err != nil {
		t.Fatalf("the corrected revision: %v", err)
	}
	if cur.Rev != 3 || len(cur.Files) != 2 || s.Current().Rev != 3 || s.Behind() != nil {
		t.Fatalf("after the corrected revision: revision %d, %d files, in force %d, behind %v", cur.Rev, len(cur.Files), s.Current().Rev, s.Behind())
	}
}
