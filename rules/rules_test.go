package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// openStore opens a real SQLite store in a test directory.
func openStore(t *testing.T, dir string) *store.SQLite {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// pack is a rule file with one org-policy rule denying country from day.
func pack(name, id, country, day string) policy.File {
	return policy.File{Name: name, Data: []byte(fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: %[1]s}
rules:
  - id: %[1]s
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: %[3]s
    enforcement: in-force
    confidence: confirmed
    sources: ["rules_test.go"]
    message: "site {site.name} is in {site.country}"
    condition: "site.country == '%[2]s'"
`, id, country, day))}
}

func hasDate(ds []catalog.Date, d string) bool {
	for _, x := range ds {
		if x.String() == d {
			return true
		}
	}
	return false
}

// TestApplyIsARevision: an accepted change is the next revision, with its
// hash, author, reason and audit entry; the law in force knows the new
// rule and its date; a server that starts again on the same store is
// under the same revision.
func TestApplyIsARevision(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, dir)
	s, err := Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Current(); c.Rev != 0 || len(c.Files) != 0 {
		t.Fatalf("a new store is under revision %d with %d files", c.Rev, len(c.Files))
	}
	if _, ok := s.Current().Engine.Rule("test-no-my"); ok {
		t.Fatal("the rule is in force before it was applied")
	}
	f := pack("no-my.yaml", "test-no-my", "MY", "2031-03-04")
	cur, d, err := s.Apply(ctx, Change{Files: []policy.File{f}}, "admin of tenant t1", "test: Malaysia closes", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if cur.Rev != 1 || cur.Hash != Hash(map[string]string{f.Name: string(f.Data)}) || len(d.Added) != 1 || d.Added[0] != "test-no-my" {
		t.Fatalf("revision %d hash %s diff %+v", cur.Rev, cur.Hash, d)
	}
	if _, ok := s.Current().Engine.Rule("test-no-my"); !ok {
		t.Fatal("the applied rule is not in force")
	}
	if !hasDate(s.Current().Dates, "2031-03-04") {
		t.Fatalf("the law's dates lack the new rule's: %v", s.Current().Dates)
	}
	hist, err := s.History(ctx, 0, 1000)
	if err != nil || len(hist) != 1 || hist[0].Who != "admin of tenant t1" || hist[0].Reason != "test: Malaysia closes" || hist[0].Hash != cur.Hash {
		t.Fatalf("history %+v %v", hist, err)
	}
	rec := lastRevisionRecord(t, st)
	if rec == nil || rec["sha256"] != cur.Hash || rec["revision"] != float64(1) || rec["reason"] != "test: Malaysia closes" {
		t.Fatalf("audit record of the revision: %v", rec)
	}
	if _, _, err := s.Apply(ctx, Change{Files: []policy.File{f}}, "admin", "again", time.Now()); !errors.Is(err, ErrUnchanged) {
		t.Fatalf("the same files again: %v", err)
	}

	// A restart reads the revision back.
	st.Close()
	s2, err := Open(ctx, openStore(t, dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := s2.Current(); c.Rev != 1 || c.Hash != cur.Hash || !hasDate(c.Dates, "2031-03-04") {
		t.Fatalf("after a restart: revision %d hash %s", c.Rev, c.Hash)
	}

	// Removing the file is revision 2; revision 1's law can be loaded
	// again and the diff between them names the rule.
	if _, _, err := s2.Apply(ctx, Change{Remove: []string{"no-my.yaml"}}, "admin", "test: open again", time.Now()); err != nil {
		t.Fatal(err)
	}
	e1, err := s2.EngineAt(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e1.Rule("test-no-my"); !ok {
		t.Fatal("revision 1's law lacks its rule")
	}
	if d := Compare(e1, s2.Current().Engine); len(d.Removed) != 1 || d.Removed[0] != "test-no-my" || len(d.Added) != 0 {
		t.Fatalf("diff 1 → 2: %+v", d)
	}
	if _, err := s2.EngineAt(ctx, 9); err == nil {
		t.Fatal("a revision that does not exist loaded")
	}
}

// TestHostileChangesChangeNothing: each bad change is refused with an
// error naming the file, rule or field, and the law in force, the history
// and the audit log stay as they were.
func TestHostileChangesChangeNothing(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	s, err := Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	good := pack("good.yaml", "test-good", "SG", "2030-01-01")
	// A reason may run over lines, indent them, and hold the marks a
	// right-to-left text needs (beside its letters), a Persian word's
	// non-joiner and an emoji sequence's joiner.
	if _, _, err := s.Apply(ctx, Change{Files: []policy.File{good}}, "admin", "baseline\n\tper the ministry: \u05e9\u05dc\u05d5\u05dd\u200f 2030, \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \U0001f469\u200d\U0001f4bb", time.Now()); err != nil {
		t.Fatal(err)
	}
	before := s.Current()
	entries := func() int {
		es, err := st.AuditEntries(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	nEntries := entries()
	edit := func(old, new string) policy.File {
		f := pack("bad.yaml", "test-bad", "MY", "2030-01-01")
		if !strings.Contains(string(f.Data), old) {
			t.Fatalf("pack lacks %q", old)
		}
		f.Data = []byte(strings.Replace(string(f.Data), old, new, 1))
		return f
	}
	many := make([]policy.File, MaxFiles+1)
	for i := range many {
		many[i] = pack(fmt.Sprintf("p%03d.yaml", i), fmt.Sprintf("test-p%03d", i), "MY", "2030-01-01")
	}
	cases := []struct {
		name   string
		ch     Change
		reason string
		want   []string
	}{
		{"yaml syntax", Change{Files: []policy.File{edit("rules:\n", "rules: [\n")}}, "r", []string{"bad.yaml"}},
		{"cel that does not compile", Change{Files: []policy.File{edit(`condition: "site.country == 'MY'"`, `condition: "site.country =="`)}}, "r",
			[]string{"bad.yaml", `rule "test-bad"`, "condition"}},
		{"cel too costly", Change{Files: []policy.File{edit(`condition: "site.country == 'MY'"`,
			`condition: "org.licences.all(a, org.licences.all(b, org.licences.all(c, a + b != c)))"`)}}, "r",
			[]string{"bad.yaml", `rule "test-bad"`, "too costly"}},
		{"a word the vocabulary lacks", Change{Files: []policy.File{edit(`condition: "site.country == 'MY'"`, `condition: "site.country == 'MY' && dataset.classification == 'top-secret'"`)}}, "r",
			[]string{"bad.yaml", `rule "test-bad"`}},
		{"a basis nothing defines", Change{Files: []policy.File{edit("    condition:", "    liftedBy: {bases: [no-such-basis]}\n    condition:")}}, "r",
			[]string{"bad.yaml", `rule "test-bad"`, "liftedBy"}},
		{"a rule id already loaded", Change{Files: []policy.File{pack("dup.yaml", "test-good", "MY", "2030-01-01")}}, "r", []string{"test-good"}},
		{"a 50 MB file", Change{Files: []policy.File{{Name: "huge.yaml", Data: make([]byte, 50<<20)}}}, "r", []string{"huge.yaml", "limit"}},
		{"a path for a name", Change{Files: []policy.File{{Name: "../../etc/x.yaml", Data: good.Data}}}, "r", []string{"files[0].name"}},
		{"no name", Change{Files: []policy.File{{Name: "", Data: good.Data}}}, "r", []string{"files[0].name"}},
		{"removing what is not applied", Change{Remove: []string{"nope.yaml"}}, "r", []string{"remove[0]", "nope.yaml"}},
		{"too many files", Change{Files: many}, "r", []string{"files", "limit of 256"}},
		{"no reason", Change{Files: []policy.File{pack("x.yaml", "test-x", "MY", "2030-01-01")}}, " ", []string{"reason"}},
		{"a control character in the reason", Change{Files: []policy.File{pack("x.yaml", "test-x", "MY", "2030-01-01")}}, "why\x1b[2J", []string{"reason", "control"}},
		// What textsafe flags is refused in the reason as in a catalog's
		// or a pack's text: a bidirectional override showed the reason in
		// `rules history` in another order than it was written, a line
		// separator forged a line of it.
		{"a bidirectional override in the reason", Change{Files: []policy.File{pack("x.yaml", "test-x", "MY", "2030-01-01")}}, "approved by \u202eecnailpmoc", []string{"reason", "U+202E", "bidirectional"}},
		{"an isolate in the reason", Change{Files: []policy.File{pack("x.yaml", "test-x", "MY", "2030-01-01")}}, "why \u2067x\u2069", []string{"reason", "U+2067", "bidirectional"}},
		{"a line separator in the reason", Change{Files: []policy.File{pack("x.yaml", "test-x", "MY", "2030-01-01")}}, "why\u2028revision 9 applied by auditor", []string{"reason", "U+2028", "separator"}},
		{"a C1 control in the reason", Change{Files: []policy.File{pack("x.yaml", "test-x", "MY", "2030-01-01")}}, "why\u009b2J", []string{"reason", "U+009B", "control"}},
		// And what a display writes escaped: a joiner between two Latin
		// letters showed "ap\u200dproved" as "approved" in `rules history`.
		{"a joiner between Latin letters in the reason", Change{Files: []policy.File{pack("x.yaml", "test-x", "MY", "2030-01-01")}}, "ap\u200dproved by legal", []string{"reason", "U+200D", "at byte 2"}},
		{"a direction mark beside no right-to-left letter in the reason", Change{Files: []policy.File{pack("x.yaml", "test-x", "MY", "2030-01-01")}}, "2030\u200f", []string{"reason", "U+200F", "direction mark"}},
		{"a zero-width space in the reason", Change{Files: []policy.File{pack("x.yaml", "test-x", "MY", "2030-01-01")}}, "ok\u200b", []string{"reason", "U+200B", "invisible"}},
		{"bytes that are not UTF-8 in the reason", Change{Files: []policy.File{pack("x.yaml", "test-x", "MY", "2030-01-01")}}, "why\xff", []string{"reason", "UTF-8"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := s.Apply(ctx, c.ch, "admin", c.reason, time.Now())
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q: %v", w, err)
				}
			}
			if after := s.Current(); after != before {
				t.Errorf("the law in force changed: revision %d → %d", before.Rev, after.Rev)
			}
			if h, err := s.History(ctx, 0, 1000); err != nil || len(h) != 1 {
				t.Errorf("history has %d revisions (%v)", len(h), err)
			}
			if n := entries(); n != nEntries {
				t.Errorf("audit log grew from %d to %d entries", nEntries, n)
			}
		})
	}
}

// TestConcurrentApplies: changes applied at once become one linear
// history, each built on the one before, never one written over another;
// so do changes applied through two states sharing the store (two
// servers), the second seeing the first's revision.
func TestConcurrentApplies(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	s, err := Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := pack(fmt.Sprintf("c%d.yaml", i), fmt.Sprintf("test-c%d", i), "MY", "2030-01-01")
			_, _, errs[i] = s.Apply(ctx, Change{Files: []policy.File{f}}, "admin", "concurrent", time.Now())
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("a concurrent apply failed: %v", err)
		}
	}
	other, err := Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Apply(ctx, Change{Files: []policy.File{pack("first.yaml", "test-first", "MY", "2030-01-01")}}, "admin", "first server", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.Apply(ctx, Change{Files: []policy.File{pack("second.yaml", "test-second", "MY", "2030-01-01")}}, "admin", "second server", time.Now()); err != nil {
		t.Fatal(err)
	}
	hist, err := s.History(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	cur := other.Current()
	if len(hist) != n+2 || cur.Rev != n+2 || hist[len(hist)-1].Hash != cur.Hash || len(cur.Files) != n+2 {
		t.Fatalf("history %d, current revision %d with %d files, want %d", len(hist), cur.Rev, len(cur.Files), n+2)
	}
	if err := s.Refresh(ctx); err != nil || s.Current().Rev != n+2 {
		t.Fatalf("the first state after a refresh: revision %d (%v)", s.Current().Rev, err)
	}
	for i, h := range hist {
		if h.Rev != int64(i+1) || len(h.Files) != i+1 {
			t.Errorf("revision %d holds %d files, want each to build on the one before", h.Rev, len(h.Files))
		}
	}
}

// raceStore is a store on which, just after this state's revision is
// written, another server applies the next one and this server's refresh
// tick picks it up: all before the Apply that wrote the first returns.
type raceStore struct {
	*store.SQLite
	then func()
}

func (r *raceStore) PutRuleRevision(ctx context.Context, rev *store.RuleRevision, after int64, rec audit.Record) (*store.RuleRevision, error) {
	saved, err := r.SQLite.PutRuleRevision(ctx, rev, after, rec)
	if err == nil && r.then != nil {
		then := r.then
		r.then = nil
		then()
	}
	return saved, err
}

// TestApplyNeverRollsBack: an Apply that returns after a refresh already
// made a newer revision (applied by another server) the law in force
// leaves that newer revision in force, not its own older one.
func TestApplyNeverRollsBack(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	rs := &raceStore{SQLite: st}
	s, err := Open(ctx, rs, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	rs.then = func() {
		if _, _, err := other.Apply(ctx, Change{Files: []policy.File{pack("later.yaml", "test-later", "MY", "2030-01-01")}}, "admin", "other server", time.Now()); err != nil {
			t.Error(err)
		}
		if err := s.Refresh(ctx); err != nil {
			t.Error(err)
		}
		if got := s.Current().Rev; got != 2 {
			t.Errorf("the refresh left revision %d in force, want 2", got)
		}
	}
	cur, _, err := s.Apply(ctx, Change{Files: []policy.File{pack("first.yaml", "test-first", "MY", "2030-01-01")}}, "admin", "this server", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if cur.Rev != 1 {
		t.Fatalf("the apply stored revision %d, want 1", cur.Rev)
	}
	if got := s.Current(); got.Rev != 2 {
		t.Fatalf("after the apply returned, revision %d is in force, want the newer 2", got.Rev)
	}
	if _, ok := s.Current().Engine.Rule("test-later"); !ok {
		t.Fatal("the newer revision's rule is not in force")
	}
}

// TestBehindFailsClosed: a revision another server applied that does not
// load here (this server's rules directory defines the same rule id) is
// the law in force all the same. This server planned and staged on under
// its older revision; it now refuses both, saying why, until a revision
// it can load is applied.
func TestBehindFailsClosed(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	dir := t.TempDir()
	f := pack("clash.yaml", "test-clash", "MY", "2030-01-01")
	if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	here, err := Open(ctx, st, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	countries, err := catalog.BuiltinCountries()
	if err != nil {
		t.Fatal(err)
	}
	q := policy.Query{AsOf: catalog.MustDate("2026-01-01"), Countries: countries}
	ds := &catalog.Dataset{Metadata: catalog.Metadata{Name: "d"}, Spec: catalog.DatasetSpec{Origin: "DE", Classification: catalog.ClassPublic}}
	if _, err := here.Law().Session(q); err != nil {
		t.Fatalf("before any revision: %v", err)
	}
	if _, _, err := other.Apply(ctx, Change{Files: []policy.File{pack("clash.yaml", "test-clash", "SG", "2030-01-01")}}, "admin", "other server", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := here.Refresh(ctx); err == nil {
		t.Fatal("a revision whose rule id this server's directory also defines loaded")
	}
	if _, err := here.Law().Session(q); err == nil || !strings.Contains(err.Error(), "cannot load rules revision 1") {
		t.Errorf("a plan under the older revision: err %v, want a refusal naming revision 1", err)
	}
	if d := here.EvaluateTransfer(q, ds, "FR"); d.Allowed || len(d.Denials) == 0 || !strings.Contains(d.Denials[0].Message, "cannot load rules revision 1") {
		t.Errorf("a staging under the older revision: %+v, want denied naming revision 1", d)
	}
	if _, _, err := other.Apply(ctx, Change{Files: []policy.File{pack("other.yaml", "test-other", "SG", "2030-01-01")}, Remove: []string{"clash.yaml"}}, "admin", "other server", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := here.Refresh(ctx); err != nil {
		t.Fatalf("a revision that loads: %v", err)
	}
	if here.Behind() != nil || here.Current().Rev != 2 {
		t.Fatalf("after revision 2: behind %v, revision %d", here.Behind(), here.Current().Rev)
	}
	if _, err := here.Law().Session(q); err != nil {
		t.Errorf("under revision 2: %v", err)
	}
	if d := here.EvaluateTransfer(q, ds, "FR"); !d.Allowed {
		t.Errorf("a public dataset to FR under revision 2: %+v", d)
	}
}

// TestSnapshotKeepsOneRevision: the law in force, as a plan snapshots it,
// stays the revision it was when a later revision is applied (its sessions
// and its dates), while the law in force moves on; a server that is behind
// gives a snapshot that refuses every session.
func TestSnapshotKeepsOneRevision(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, openStore(t, t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := catalog.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	site := w.Site("my-johor-1")
	acc := w.Accelerators[site.Spec.Pools[0].Accelerator]
	org := &catalog.Organization{Metadata: catalog.Metadata{Name: "lab"}, Spec: catalog.OrganizationSpec{Headquarters: "SG"}}
	job := &catalog.TrainingJob{Metadata: catalog.Metadata{Name: "j"}, Spec: catalog.TrainingJobSpec{Organization: "lab", Method: catalog.MethodPretrain, Tokens: 1e9, Model: catalog.Model{Parameters: 1e8}}}
	q := policy.Query{AsOf: catalog.MustDate("2032-01-01"), Countries: w.Countries, Org: org, Job: job, TrainingFLOPs: 6e17}
	allowed := func(l planner.Law) bool {
		t.Helper()
		sess, err := l.Session(q)
		if err != nil {
			t.Fatal(err)
		}
		return sess.Evaluate(site, &site.Spec.Pools[0], acc).Allowed
	}

	snap := s.Law().(planner.SnapshotLaw).Snapshot()
	if !allowed(snap) {
		t.Fatal("my-johor-1 is denied before any revision")
	}
	if _, _, err := s.Apply(ctx, Change{Files: []policy.File{pack("no-my.yaml", "test-no-my", "MY", "2031-03-04")}}, "admin", "test: Malaysia closes", time.Now()); err != nil {
		t.Fatal(err)
	}
	if allowed(s.Law()) {
		t.Error("the law in force allows my-johor-1 after revision 1 denies MY")
	}
	if !allowed(snap) {
		t.Error("a snapshot taken under revision 0 judged under revision 1")
	}
	if hasDate(snap.(planner.DatedLaw).Dates(), "2031-03-04") {
		t.Error("a snapshot taken under revision 0 has revision 1's dates")
	}
	if !hasDate(s.Law().(planner.DatedLaw).Dates(), "2031-03-04") {
		t.Error("the law in force lacks revision 1's dates")
	}

	s.setBehind(errors.New("test: this server cannot load revision 2"))
	if _, err := s.Law().(planner.SnapshotLaw).Snapshot().Session(q); err == nil || !strings.Contains(err.Error(), "cannot load revision 2") {
		t.Errorf("a snapshot of a server that is behind: %v, want the refusal", err)
	}
}

// defsPack is a rule file whose rule reads a definition and a threshold.
func defsPack(country string, reading int) policy.File {
	return policy.File{Name: "defs.yaml", Data: []byte(fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: test-defs}
definitions:
  - name: inTier
    expr: "site.country in ['%s']"
    source: "rules_test.go"
thresholds:
  - name: bulk
    unit: FLOP
    confidence: unconfirmed
    readings:
      - {value: %d, source: "reading A"}
rules:
  - id: test-defs
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: 2024-01-01
    enforcement: in-force
    confidence: confirmed
    sources: ["rules_test.go"]
    message: "site {site.name} is in {site.country}"
    condition: "def.inTier && job.flops > threshold.bulk"
`, country, reading))}
}

// TestDiffShowsDefinitionsAndThresholds: a revision that changed only a
// pack's definition (which countries def.inTier covers) or a threshold's
// reading changed what its rule denies, yet the diff, `rules diff` and the
// revision's audit record said no rule changed.
func TestDiffShowsDefinitionsAndThresholds(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	s, err := Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Apply(ctx, Change{Files: []policy.File{defsPack("MY", 1000)}}, "admin", "test: the tier", time.Now()); err != nil {
		t.Fatal(err)
	}
	_, d, err := s.Apply(ctx, Change{Files: []policy.File{defsPack("SG", 10)}}, "admin", "test: another tier", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if d.Empty() || len(d.Definitions) != 1 || d.Definitions[0].Field != "inTier" || !strings.Contains(d.Definitions[0].To, "SG") ||
		len(d.Thresholds) != 1 || d.Thresholds[0].Field != "bulk" || !strings.Contains(d.Thresholds[0].From, "1000") {
		t.Fatalf("diff %+v, want the definition inTier and the threshold bulk", d)
	}
	rec := lastRevisionRecord(t, st)
	if fmt.Sprint(rec["definitions"]) != "[inTier]" || fmt.Sprint(rec["thresholds"]) != "[bulk]" {
		t.Errorf("revision's audit record: %v, want the changed definition and threshold named", rec)
	}
}

// lastRevisionRecord is the payload of the last rules revision's audit
// record in st.
func lastRevisionRecord(t *testing.T, st store.Store) map[string]any {
	t.Helper()
	es, err := st.AuditEntries(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	for _, e := range es {
		if e.Kind == KindRevision {
			if err := json.Unmarshal(e.Payload, &rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	return rec
}
