// Package storetest is the behaviour every store.Store must show, as one
// test suite that the SQLite and the PostgreSQL stores both run. RunShared
// adds what two handles on one database (two server replicas) must show.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// Run runs the suite; open returns a fresh, empty store whose audit chain
// is keyed (cleanup is the caller's).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("CreateGetUpdate", func(t *testing.T) { createGetUpdate(t, open(t)) })
	t.Run("Idempotency", func(t *testing.T) { idempotency(t, open(t)) })
	t.Run("FailedUpdateChangesNothing", func(t *testing.T) { failedUpdate(t, open(t)) })
	t.Run("List", func(t *testing.T) { list(t, open(t)) })
	t.Run("ListPages", func(t *testing.T) { listPages(t, open(t)) })
	t.Run("ListHeldForKey", func(t *testing.T) { listHeldForKey(t, open(t)) })
	t.Run("ListWithoutDocuments", func(t *testing.T) { listWithoutDocuments(t, open(t)) })
	t.Run("NULInRunData", func(t *testing.T) { nulInRunData(t, open(t)) })
	t.Run("DuplicateKeys", func(t *testing.T) { duplicateKeys(t, open(t)) })
	t.Run("LookupsOfUnstorableText", func(t *testing.T) { lookupsOfUnstorableText(t, open(t)) })
	t.Run("IdempotencyKeyNotText", func(t *testing.T) { idempotencyKeyNotText(t, open(t)) })
	t.Run("WritesOfUnstorableText", func(t *testing.T) { writesOfUnstorableText(t, open(t)) })
	t.Run("OtherWritesOfUnstorableText", func(t *testing.T) { otherWritesOfUnstorableText(t, open(t)) })
	t.Run("NumbersPastInt32", func(t *testing.T) { numbersPastInt32(t, open(t)) })
	t.Run("ConcurrentUpdates", func(t *testing.T) { concurrentUpdates(t, open(t)) })
	t.Run("AuditChain", func(t *testing.T) { auditChain(t, open(t)) })
	t.Run("AuditTenantAndHead", func(t *testing.T) { auditTenant(t, open(t)) })
	t.Run("AuditHeadAtOneSnapshot", func(t *testing.T) { auditHeadAtOneSnapshot(t, open(t)) })
	t.Run("AuditSelect", func(t *testing.T) { auditSelect(t, open(t)) })
	t.Run("AuditPayloadsOf", func(t *testing.T) { auditPayloadsOf(t, open(t)) })
	t.Run("AuditSelectPageUntenanted", func(t *testing.T) { auditSelectPageUntenanted(t, open(t)) })
	t.Run("RegisterWithRun", func(t *testing.T) { registerWithRun(t, open(t)) })
	t.Run("PutResource", func(t *testing.T) { putResource(t, open(t)) })
	t.Run("LongStoreKey", func(t *testing.T) { longStoreKey(t, open(t)) })
	t.Run("Rekey", func(t *testing.T) { rekey(t, open(t)) })
	t.Run("PutResources", func(t *testing.T) { putResources(t, open(t)) })
	t.Run("TenantUID", func(t *testing.T) { tenantUID(t, open(t)) })
	t.Run("Lease", func(t *testing.T) { lease(t, open(t)) })
	t.Run("Fence", func(t *testing.T) { fence(t, open(t)) })
	t.Run("FencedWhateverTheChange", func(t *testing.T) { fencedWhateverTheChange(t, open(t)) })
	t.Run("Heartbeats", func(t *testing.T) { heartbeats(t, open(t)) })
	t.Run("Tokens", func(t *testing.T) { tokens(t, open(t)) })
	t.Run("CountRuns", func(t *testing.T) { countRuns(t, open(t)) })
	t.Run("RuleRevisions", func(t *testing.T) { ruleRevisions(t, open(t)) })
	t.Run("RuleRevisionPages", func(t *testing.T) { ruleRevisionPages(t, open(t)) })
	t.Run("LawCheck", func(t *testing.T) { lawCheck(t, open(t)) })
	t.Run("Limits", func(t *testing.T) { limits(t, open(t)) })
	t.Run("RacingLimits", func(t *testing.T) { s := open(t); racingLimits(t, s, s) })
	t.Run("LiveLimit", func(t *testing.T) { liveLimit(t, open(t)) })
}

func rec(t testing.TB, kind, run string, v any) audit.Record {
	t.Helper()
	r, err := audit.NewRecord(kind, run, v)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newRun(id, tenant string) *store.Run {
	return &store.Run{ID: id, Tenant: tenant, Job: "j", State: "planned", Data: []byte(`{"x":1}`)}
}

func createGetUpdate(t *testing.T, s store.Store) {
	ctx := context.Background()
	got, created, err := s.CreateRun(ctx, newRun("r1", "a"), "", store.Change{
		Events: []store.Event{{Kind: "created", To: "planned", Reason: "submitted"}},
		Audit:  []audit.Record{rec(t, audit.KindPlan, "r1", 1)},
	})
	if err != nil || !created || got.Version != 1 {
		t.Fatalf("create: %+v %v %v", got, created, err)
	}
	up, err := s.UpdateRun(ctx, "r1", func(r *store.Run) (store.Change, error) {
		r.State, r.Site, r.Attempt, r.Handle, r.Data = "queued", "s1", 1, "h1", []byte(`{"x":2}`)
		return store.Change{Events: []store.Event{{Kind: "state", From: "planned", To: "queued"}},
			Audit: []audit.Record{rec(t, audit.KindState, "r1", "queued")}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	read, err := s.GetRun(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(up, read, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("read back (-update +read):\n%s", diff)
	}
	if read.Version != 2 || read.State != "queued" || string(read.Data) != `{"x":2}` {
		t.Errorf("row %+v", read)
	}
	evs, err := s.Events(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Event{{RunID: "r1", Seq: 1, Kind: "created", To: "planned", Reason: "submitted"}, {RunID: "r1", Seq: 2, Kind: "state", From: "planned", To: "queued"}}
	if diff := cmp.Diff(want, evs, cmpopts.IgnoreFields(store.Event{}, "Time")); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	// A page of them, and what follows a seq.
	for _, c := range []struct {
		after int64
		limit int
		want  []store.Event
	}{{0, 1, want[:1]}, {1, 0, want[1:]}, {1, 5, want[1:]}, {2, 0, nil}, {0, 0, want}} {
		got, err := s.EventsAfter(ctx, "r1", c.after, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c.want, got, cmpopts.IgnoreFields(store.Event{}, "Time"), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("events after %d, at most %d (-want +got):\n%s", c.after, c.limit, diff)
		}
	}
	if _, err := s.EventsAfter(ctx, "r1", -1, 0); err == nil {
		t.Error("events after -1: no error")
	}
	if _, err := s.GetRun(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown run: %v", err)
	}
	if _, err := s.UpdateRun(ctx, "nope", func(*store.Run) (store.Change, error) { return store.Change{}, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update unknown run: %v", err)
	}
}

func idempotency(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, _, err := s.CreateRun(ctx, newRun("r1", "a"), "k", store.Change{}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.RunByKey(ctx, "a", "k"); err != nil || got.ID != "r1" {
		t.Errorf("RunByKey: %+v %v", got, err)
	}
	if _, err := s.RunByKey(ctx, "b", "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RunByKey of another tenant's key: %v", err)
	}
	again, created, err := s.CreateRun(ctx, newRun("r2", "a"), "k", store.Change{Audit: []audit.Record{rec(t, audit.KindPlan, "r2", 1)}})
	if err != nil || created || again.ID != "r1" {
		t.Fatalf("retry: %+v %v %v", again, created, err)
	}
	if _, err := s.GetRun(ctx, "r2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("retry inserted a run: %v", err)
	}
	if es, _ := s.AuditEntries(ctx, ""); len(es) != 0 {
		t.Errorf("retry appended %d audit entries", len(es))
	}
	if _, created, err := s.CreateRun(ctx, newRun("r3", "b"), "k", store.Change{}); err != nil || !created {
		t.Errorf("another tenant's key: %v %v", created, err)
	}
}

func failedUpdate(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, _, err := s.CreateRun(ctx, newRun("r1", "a"), "", store.Change{}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateRun(ctx, "r1", func(r *store.Run) (store.Change, error) {
		r.State = "failed"
		return store.Change{Audit: []audit.Record{rec(t, audit.KindState, "r1", 1)}}, boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	r, _ := s.GetRun(ctx, "r1")
	es, _ := s.AuditEntries(ctx, "")
	if r.State != "planned" || r.Version != 1 || len(es) != 0 {
		t.Errorf("failed update leaked: %+v, %d audit entries", r, len(es))
	}
	same, err := s.UpdateRun(ctx, "r1", func(r *store.Run) (store.Change, error) { return store.Change{}, store.ErrNoChange })
	if err != nil || same.Version != 1 {
		t.Errorf("no-change update: %+v %v", same, err)
	}
}

func list(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i, tenant := range []string{"a", "b", "a"} {
		r := newRun(fmt.Sprintf("r%d", i), tenant)
		if i == 2 {
			r.State = "succeeded"
		}
		if _, _, err := s.CreateRun(ctx, r, "", store.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(rs []*store.Run) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	a, _ := s.ListRuns(ctx, store.ListOptions{Tenant: "a"})
	if diff := cmp.Diff([]string{"r0", "r2"}, ids(a)); diff != "" {
		t.Errorf("tenant a: %s", diff)
	}
	active, _ := s.ListRuns(ctx, store.ListOptions{Active: true, Final: []string{"succeeded"}, AllTenants: true})
	if diff := cmp.Diff([]string{"r0", "r1"}, ids(active)); diff != "" {
		t.Errorf("active: %s", diff)
	}
	done, _ := s.ListRuns(ctx, store.ListOptions{States: []string{"succeeded", "failed"}, AllTenants: true})
	if diff := cmp.Diff([]string{"r2"}, ids(done)); diff != "" {
		t.Errorf("in states succeeded or failed: %s", diff)
	}
	if none, err := s.ListRuns(ctx, store.ListOptions{States: []string{"held"}, Tenant: "b"}); err != nil || len(none) != 0 {
		t.Errorf("b's held runs: %v %v", ids(none), err)
	}

	// Versions: the tenant's runs, in the list's order, each at the
	// version it holds; a change is a new version of that run only.
	if _, err := s.UpdateRun(ctx, "r2", func(r *store.Run) (store.Change, error) { r.Site = "elsewhere"; return store.Change{}, nil }); err != nil {
		t.Fatal(err)
	}
	vs, err := s.RunVersions(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	var want []store.RunVersion
	a, _ = s.ListRuns(ctx, store.ListOptions{Tenant: "a"})
	for _, r := range a {
		want = append(want, store.RunVersion{ID: r.ID, Version: r.Version})
	}
	if diff := cmp.Diff(want, vs); diff != "" || len(vs) != 2 || vs[0].Version == vs[1].Version {
		t.Errorf("versions of tenant a (-list +versions):\n%s%+v", diff, vs)
	}
	if got, err := s.RunVersions(ctx, ""); !errors.Is(err, store.ErrNoTenant) || len(got) != 0 {
		t.Errorf("versions for no tenant: %+v %v, want ErrNoTenant", got, err)
	}
}

// listPages: every list read a page at a time (After the last run of the
// page before, at most Limit) is the whole list, for each filter and page
// size; a page after a run that does not exist is empty.
func listPages(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range 11 {
		r := newRun(fmt.Sprintf("r%02d", 10-i), []string{"a", "b", "a"}[i%3])
		if i%4 == 1 {
			r.State = "succeeded"
		}
		if _, _, err := s.CreateRun(ctx, r, "", store.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(rs []*store.Run) []string {
		out := []string{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, o := range []store.ListOptions{{AllTenants: true}, {Tenant: "a"}, {Tenant: "b"}, {Active: true, Final: []string{"succeeded"}, AllTenants: true}, {Tenant: "a", Active: true, Final: []string{"succeeded"}}} {
		all, err := s.ListRuns(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) < 2 {
			t.Fatalf("%+v: %d runs, too few to page", o, len(all))
		}
		for size := 1; size <= len(all)+1; size++ {
			got := listRunsPaged(t, s, o, size, len(all))
			if diff := cmp.Diff(ids(all), ids(got)); diff != "" {
				t.Errorf("%+v in pages of %d: %s", o, size, diff)
			}
		}
	}
	if got, err := s.ListRuns(ctx, store.ListOptions{After: "nope", AllTenants: true}); err != nil || len(got) != 0 {
		t.Errorf("after a run that does not exist: %v %v", ids(got), err)
	}
	// The versions, a page at a time, are RunVersions whole, in the
	// list's order; a cursor that is not a run of the tenant lists none.
	for _, tenant := range []string{"a", "b"} {
		all, err := s.RunVersions(ctx, tenant)
		if err != nil || len(all) < 2 {
			t.Fatalf("%s's versions: %+v %v", tenant, all, err)
		}
		for size := 1; size <= len(all)+1; size++ {
			var got []store.RunVersion
			for after, pages := "", 0; ; pages++ {
				page, err := s.RunVersionsAfter(ctx, tenant, after, size)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > size || pages > len(all) {
					t.Fatalf("%s's versions after %q: a page of %d, or too many pages", tenant, after, len(page))
				}
				got = append(got, page...)
				if len(page) < size {
					break
				}
				after = page[len(page)-1].ID
			}
			if diff := cmp.Diff(all, got); diff != "" {
				t.Errorf("%s's versions in pages of %d: %s", tenant, size, diff)
			}
		}
	}
	for _, after := range []string{"nope", "r09"} { // r09 is b's
		if got, err := s.RunVersionsAfter(ctx, "a", after, 5); err != nil || len(got) != 0 {
			t.Errorf("a's versions after %q: %+v %v, want none", after, got, err)
		}
	}
	for _, limit := range []int{-1, store.MaxRunVersions + 1} {
		if got, err := s.RunVersionsAfter(ctx, "a", "", limit); err == nil || !strings.Contains(err.Error(), "limit") {
			t.Errorf("a's versions, limit %d: %+v %v, want a refusal naming limit", limit, got, err)
		}
	}
	if got, err := s.RunVersionsAfter(ctx, "", "", 5); !errors.Is(err, store.ErrNoTenant) || len(got) != 0 {
		t.Errorf("versions for no tenant: %+v %v, want ErrNoTenant", got, err)
	}
	// Another tenant's run is, to a tenant's list, a run that does not
	// exist: its place in the order (its creation time) is not a cursor
	// the tenant may page from, nor a way to learn that it exists.
	for _, o := range []store.ListOptions{{Tenant: "a", After: "r09"}, {Tenant: "a", After: "r09", Active: true, Final: []string{"succeeded"}}} {
		if got, err := s.ListRuns(ctx, o); err != nil || len(got) != 0 {
			t.Errorf("%+v, after another tenant's run: %v %v, want none", o, ids(got), err)
		}
	}
	for _, bad := range []store.ListOptions{{}, {Active: true, Final: []string{"succeeded"}}, {Tenant: "a", AllTenants: true}} {
		if got, err := s.ListRuns(ctx, bad); !errors.Is(err, store.ErrNoTenant) || len(got) != 0 {
			t.Errorf("%+v: %d runs, error %v, want ErrNoTenant", bad, len(got), err)
		}
	}
}

// listHeldForKey: a list with HeldForKey holds the held runs whose
// hold's keyDataset, as the JSON decodes (escapes and all, exactly, not
// found inside a longer name), is the name, or, on a hold without one,
// whose reason asks for that dataset's key, and those whose key the
// database cannot tell (a keyDataset that is not a string, a reason that
// asks for a key otherwise than whole), tenant still applied,
// a page at a time, with and without documents. A run whose update makes
// it held for the key is listed from then on, and no more once it leaves
// the state. A name no dataset can have is refused.
func listHeldForKey(t *testing.T, s store.Store) {
	ctx := context.Background()
	const legacy = `staging attempt 1 to Site/a: send the key of dataset corpus-c again (meridian dataset send-key corpus-c): no key`
	runs := []struct {
		id, tenant, state, data string
	}{
		{"k01", "a", "held", `{"hold":{"reason":"r","keyDataset":"corpus-c"}}`},
		{"k02", "a", "held", `{"hold":{"keyDataset":"corpus-d"}}`},
		{"k03", "a", "held", `{"hold":{"reason":"` + legacy + `"}}`},
		{"k04", "a", "held", `{"hold":{"keyDataset":"Corpus-C"}}`},
		{"k05", "a", "planned", `{"hold":{"keyDataset":"corpus-c"}}`},
		{"k06", "b", "held", `{"hold":{"keyDataset":"corpus-c"}}`},
		{"k07", "a", "held", `{"documents":[{"name":"corpus-c.yaml","content":"keyDataset: corpus-c"}],"x":1}`},
		{"k08", "a", "held", `{"hold":{"keyDataset":"corpus-cc"}}`},
		{"k09", "a", "held", `{"hold":{"reason":"held by rule corpus-c","code":"denied"}}`},
		{"k10", "a", "held", `{"hold":{"keyDataset":"corpus\u002dc"}}`},
		{"k11", "a", "held", `{"hold":{"keyDataset":7}}`},
		{"k12", "a", "held", `{"hold":{"keyDataset":"","reason":"staging attempt 1 to Site/a: send the key of dataset corpus\u002dc again (meridian dataset send-key corpus-c): x"}}`},
		{"k15", "a", "held", `{"hold":{"reason":"staging attempt 1 to Site/a: send the key of dataset corpus-cc again (meridian dataset send-key corpus-cc): x"}}`},
		{"k16", "a", "held", `{"hold":{"reason":"staging attempt 1 to Site/a: send the key of dataset corpus-c now"}}`},
		{"k17", "a", "held", `{"hold":{"reason":"meridian dataset send-key corpus-c"}}`},
		{"k13", "a", "held", `{"hold":{"keyDataset":"corpus-d"},"documents":[{"name":"x","content":"\"keyDataset\":\"corpus-c\""}]}`},
		{"k14", "a", "held", `{"hold":null}`},
	}
	for _, x := range runs {
		r := newRun(x.id, x.tenant)
		r.State, r.Data = x.state, []byte(x.data)
		if _, _, err := s.CreateRun(ctx, r, "", store.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"k01", "k03", "k10", "k11", "k12", "k16"}
	for _, o := range []store.ListOptions{
		{Tenant: "a", HeldForKey: "corpus-c"},
		{Tenant: "a", HeldForKey: "corpus-c", NoDocuments: true},
		{Tenant: "a", HeldForKey: "corpus-c", States: []string{"held", "planned"}},
	} {
		got, err := s.ListRuns(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, runIDs(got)); diff != "" {
			t.Errorf("%+v: %s", o, diff)
		}
		for size := 1; size <= len(want)+1; size++ {
			if diff := cmp.Diff(want, runIDs(listRunsPaged(t, s, o, size, len(want)))); diff != "" {
				t.Errorf("%+v in pages of %d: %s", o, size, diff)
			}
		}
	}
	if got, err := s.ListRuns(ctx, store.ListOptions{AllTenants: true, HeldForKey: "corpus-c"}); err != nil || !slices.Contains(runIDs(got), "k06") || len(got) != len(want)+1 {
		t.Errorf("every tenant's runs held for corpus-c: %v %v, want b's k06 beside a's %v", runIDs(got), err, want)
	}
	if got, err := s.ListRuns(ctx, store.ListOptions{Tenant: "a", HeldForKey: "corpus-c", States: []string{"planned"}}); err != nil || len(got) != 0 {
		t.Errorf("a's planned runs held for corpus-c: %v %v, want none", runIDs(got), err)
	}
	// Updates: k02 comes to wait for corpus-c, and k01 leaves the state.
	setRun := func(id, state, data string) {
		t.Helper()
		if _, err := s.UpdateRun(ctx, id, func(r *store.Run) (store.Change, error) {
			r.State, r.Data = state, []byte(data)
			return store.Change{}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	setRun("k02", "held", `{"hold":{"keyDataset":"corpus-c"}}`)
	setRun("k01", "queued", `{"hold":{"keyDataset":"corpus-c"}}`)
	setRun("k05", "held", `{"hold":{"keyDataset":"corpus-c"}}`)
	got, err := s.ListRuns(ctx, store.ListOptions{Tenant: "a", HeldForKey: "corpus-c"})
	if diff := cmp.Diff([]string{"k02", "k03", "k05", "k10", "k11", "k12", "k16"}, runIDs(got)); err != nil || diff != "" {
		t.Errorf("after the updates: %v %s", err, diff)
	}
	for _, bad := range []string{store.HoldKeyUnknown, "corpus\x00c", "corpus-\xffc"} {
		got, err := s.ListRuns(ctx, store.ListOptions{Tenant: "a", HeldForKey: bad})
		if err == nil || !strings.Contains(err.Error(), "HeldForKey") || len(got) != 0 {
			t.Errorf("HeldForKey %q: %v %v, want a refusal naming HeldForKey", bad, runIDs(got), err)
		}
	}
}

// runIDs is the ids of rs, in order.
func runIDs(rs []*store.Run) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func concurrentUpdates(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, _, err := s.CreateRun(ctx, newRun("r1", "a"), "", store.Change{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				_, err := s.UpdateRun(ctx, "r1", func(r *store.Run) (store.Change, error) {
					r.Attempt++
					return store.Change{Events: []store.Event{{Kind: "bump"}}}, nil
				})
				if err != nil && !errors.Is(err, store.ErrConflict) {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	r, _ := s.GetRun(ctx, "r1")
	evs, _ := s.Events(ctx, "r1")
	if r.Attempt != len(evs) || int64(r.Attempt)+1 != r.Version {
		t.Errorf("attempt %d, %d events, version %d: updates were lost or half-applied", r.Attempt, len(evs), r.Version)
	}
}

func auditChain(t *testing.T, s store.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if err := s.AppendAudit(ctx, rec(t, audit.KindTransfer, fmt.Sprintf("r%d", g), i)); err != nil {
					t.Error(err)
				}
			}
		}(g)
	}
	wg.Wait()
	res, err := s.VerifyAudit(ctx)
	if err != nil || !res.OK || res.Entries != 40 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	r1, _ := s.AuditEntries(ctx, "r1")
	if len(r1) != 10 {
		t.Errorf("run filter: %d entries", len(r1))
	}
	for i := 1; i < len(r1); i++ {
		if r1[i].Seq <= r1[i-1].Seq {
			t.Errorf("entries out of order")
		}
	}
	if err := audit.NewLog(s).Append(ctx, audit.KindTransfer, "r9", map[string]string{"from": "CN"}); err != nil {
		t.Fatal(err)
	}
	if res, _ := s.VerifyAudit(ctx); !res.OK || res.Entries != 41 {
		t.Errorf("after Log.Append: %+v", res)
	}
}

func auditTenant(t *testing.T, s store.Store) {
	ctx := context.Background()
	if seq, head, err := s.AuditHead(ctx); err != nil || seq != 0 || head != audit.Genesis {
		t.Fatalf("empty head: %d %s %v", seq, head, err)
	}
	// A run's records take the run's tenant; a record naming its own keeps it.
	if _, _, err := s.CreateRun(ctx, newRun("r1", "acme"), "", store.Change{Audit: []audit.Record{rec(t, audit.KindPlan, "r1", 1)}}); err != nil {
		t.Fatal(err)
	}
	if err := audit.NewLog(s).AppendFor(ctx, "zeta", audit.KindTransfer, "", 2); err != nil {
		t.Fatal(err)
	}
	es, err := s.AuditEntries(ctx, "")
	if err != nil || len(es) != 2 {
		t.Fatalf("entries: %v %v", es, err)
	}
	if es[0].Tenant != "acme" || es[1].Tenant != "zeta" || es[1].Version != audit.CurrentVersion {
		t.Errorf("tenants/version: %+v", es)
	}
	seq, head, err := s.AuditHead(ctx)
	if err != nil || seq != 2 || head != es[1].Hash {
		t.Errorf("head: %d %s %v", seq, head, err)
	}
	if h, ok, err := s.AuditHashAt(ctx, 1); err != nil || !ok || h != es[0].Hash {
		t.Errorf("hash at 1: %s %v %v", h, ok, err)
	}
	if _, ok, err := s.AuditHashAt(ctx, 3); err != nil || ok {
		t.Errorf("hash at 3: %v %v", ok, err)
	}
	for _, c := range []struct {
		at   int64
		want store.AuditHeadRead
	}{
		{0, store.AuditHeadRead{Seq: 2, Hash: es[1].Hash}},
		{1, store.AuditHeadRead{Seq: 2, Hash: es[1].Hash, At: es[0].Hash, AtOK: true}},
		{2, store.AuditHeadRead{Seq: 2, Hash: es[1].Hash, At: es[1].Hash, AtOK: true}},
		{3, store.AuditHeadRead{Seq: 2, Hash: es[1].Hash}},
	} {
		if got, err := s.AuditHeadAt(ctx, c.at); err != nil || got != c.want {
			t.Errorf("head and hash at %d: %+v, %v; want %+v", c.at, got, err, c.want)
		}
	}
}

// auditHeadAtOneSnapshot: the head and the hash at a seq, read while
// another goroutine appends, are of one moment: the entry just past the
// head read is never there. Read one after the other, the head could be
// read before an append and the entry after it.
func auditHeadAtOneSnapshot(t testing.TB, s store.Store) {
	ctx := context.Background()
	if r, err := s.AuditHeadAt(ctx, 1); err != nil || r != (store.AuditHeadRead{Hash: audit.Genesis}) {
		t.Fatalf("empty log: %+v, %v; want the genesis head and no entry", r, err)
	}
	const appends = 200
	// The records are built here: the goroutine must not fail the test
	// (t.Fatal ends only the goroutine that calls it).
	recs := make([]audit.Record, appends)
	for i := range recs {
		recs[i] = rec(t, audit.KindTransfer, "r1", i)
	}
	done := make(chan error, 1)
	go func() {
		for _, r := range recs {
			if err := s.AppendAudit(ctx, r); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	reads, finished := 0, false
	for head := int64(0); head < appends; reads++ {
		// An append that failed stops the appends short of the head the
		// reads wait for: fail then, rather than read until the timeout.
		if !finished {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("append: %v", err)
				}
				finished = true
			default:
			}
		}
		r, err := s.AuditHeadAt(ctx, head+1)
		if err != nil {
			t.Fatal(err)
		}
		if r.AtOK && r.Seq <= head {
			t.Fatalf("read %d: head %d, yet the entry at %d is there: not one snapshot", reads, r.Seq, head+1)
		}
		if r.Seq > head && !r.AtOK {
			t.Fatalf("read %d: head %d, yet no entry at %d", reads, r.Seq, head+1)
		}
		head = r.Seq
		if finished && head < appends {
			t.Fatalf("read %d, begun after the appends were done: head %d, want %d", reads, head, appends)
		}
	}
	if !finished {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// auditSelect checks each filter of AuditQuery against the same filter
// applied to the whole chain, and pages through with After and Limit.
func auditSelect(t *testing.T, s store.Store) {
	ctx := context.Background()
	log := audit.NewLog(s)
	for _, r := range []*store.Run{newRun("ra", "acme"), newRun("rb", "zeta")} {
		if _, _, err := s.CreateRun(ctx, r, "", store.Change{Audit: []audit.Record{rec(t, audit.KindPlan, r.ID, 1)}}); err != nil {
			t.Fatal(err)
		}
	}
	for i, a := range []struct{ tenant, kind, run string }{
		{"acme", audit.KindTransfer, ""},
		{"zeta", audit.KindTransfer, "rb"},
		{"", "law-check", ""},            // the server's own
		{"", audit.KindState, "ra"},      // written before entries named their tenant
		{"", audit.KindTransfer, "rb"},   // likewise, of the other tenant's run
		{"", audit.KindTransfer, "gone"}, // of a run no store row names
		{"acme", audit.KindDecision, "ra"},
	} {
		if err := log.AppendFor(ctx, a.tenant, a.kind, a.run, i); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.AuditEntries(ctx, "")
	if err != nil || len(all) != 9 {
		t.Fatalf("entries: %d %v", len(all), err)
	}
	if n := len(filterEntries(all, func(e audit.Entry) bool { return e.Tenant == "" && e.RunID != "" })); n != 3 {
		t.Fatalf("%d entries of a run without a tenant, want 3: the store filled them in", n)
	}
	runTenant := map[string]string{"ra": "acme", "rb": "zeta"}
	seqs := func(es []audit.Entry) []int64 {
		var out []int64
		for _, e := range es {
			out = append(out, e.Seq)
		}
		return out
	}
	filter := func(keep func(e audit.Entry) bool) []int64 { return seqs(filterEntries(all, keep)) }
	for _, c := range []struct {
		name string
		q    store.AuditQuery
		want []int64
	}{
		{"everything", store.AuditQuery{AllTenants: true}, filter(func(audit.Entry) bool { return true })},
		{"run", store.AuditQuery{RunID: "ra", AllTenants: true}, filter(func(e audit.Entry) bool { return e.RunID == "ra" })},
		{"kinds", store.AuditQuery{Kinds: []string{audit.KindTransfer, "law-check"}, AllTenants: true}, filter(func(e audit.Entry) bool {
			return e.Kind == audit.KindTransfer || e.Kind == "law-check"
		})},
		{"tenant", store.AuditQuery{Tenant: "acme"}, filter(func(e audit.Entry) bool { return e.Tenant == "acme" })},
		{"tenant and its runs", store.AuditQuery{Tenant: "acme", Untenanted: store.UntenantedOfRuns}, filter(func(e audit.Entry) bool {
			return e.Tenant == "acme" || e.Tenant == "" && runTenant[e.RunID] == "acme"
		})},
		{"tenant and every untenanted", store.AuditQuery{Tenant: "acme", Untenanted: store.AllUntenanted}, filter(func(e audit.Entry) bool {
			return e.Tenant == "acme" || e.Tenant == ""
		})},
		{"tenant, kind and run", store.AuditQuery{Tenant: "zeta", Untenanted: store.UntenantedOfRuns, Kinds: []string{audit.KindTransfer}, RunID: "rb"},
			filter(func(e audit.Entry) bool { return e.RunID == "rb" && e.Kind == audit.KindTransfer })},
		{"nothing", store.AuditQuery{Tenant: "nobody", Untenanted: store.UntenantedOfRuns}, nil},
	} {
		got, err := s.AuditSelect(ctx, c.q)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if d := cmp.Diff(c.want, seqs(got), cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s: seqs (-want +got):\n%s", c.name, d)
		}
		// The same selection a page of two at a time.
		var paged []int64
		q := c.q
		q.Limit = 2
		for range 10 {
			page, err := s.AuditSelect(ctx, q)
			if err != nil {
				t.Fatalf("%s: page after %d: %v", c.name, q.After, err)
			}
			paged = append(paged, seqs(page)...)
			if len(page) < q.Limit {
				break
			}
			q.After = page[len(page)-1].Seq
		}
		if d := cmp.Diff(c.want, paged, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s: paged (-want +got):\n%s", c.name, d)
		}
	}
	// Every column as written: the run's plan record, the chain's first
	// entry.
	if got, err := s.AuditSelect(ctx, store.AuditQuery{RunID: "ra", AllTenants: true}); err != nil || len(got) == 0 ||
		got[0].Seq != 1 || got[0].Kind != audit.KindPlan || got[0].RunID != "ra" || string(got[0].Payload) != "1" ||
		got[0].PrevHash != audit.Genesis || got[0].Hash == "" || got[0].Time == "" {
		t.Errorf("the run's first entry as selected: %+v %v", got, err)
	}
	// A byte budget ends the selection after the entry that reaches it.
	first := int64(len(all[0].Payload))
	for _, c := range []struct {
		max  int64
		want int
	}{{1, 1}, {first, 1}, {first + 1, 2}, {0, len(all)}} {
		if got, err := s.AuditSelect(ctx, store.AuditQuery{MaxBytes: c.max, AllTenants: true}); err != nil || len(got) != c.want {
			t.Errorf("at most %d bytes: %d entries (%v), want %d", c.max, len(got), err, c.want)
		}
	}
	for _, bad := range []store.AuditQuery{{Limit: -1, AllTenants: true}, {After: -1, AllTenants: true}, {Kinds: make([]string, store.MaxAuditKinds+1), AllTenants: true}} {
		if _, err := s.AuditSelect(ctx, bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	// A query for no tenant is refused, not answered with everyone's.
	for _, bad := range []store.AuditQuery{{}, {RunID: "ra"}, {Kinds: []string{audit.KindTransfer}}, {Tenant: "acme", AllTenants: true}} {
		if got, err := s.AuditSelect(ctx, bad); !errors.Is(err, store.ErrNoTenant) || len(got) != 0 {
			t.Errorf("%+v: %d entries, error %v, want ErrNoTenant", bad, len(got), err)
		}
	}
}

// auditSelectPageUntenanted pages through a tenant's entries on a log
// most of which has no tenant (written before entries named it), with
// AuditSelectPage: each page looks at AuditUntenantedWindow entries
// without a tenant at most, and together the pages hold exactly the
// tenant's entries, its runs' untenanted ones among them, and nothing of
// the other tenant's.
func auditSelectPageUntenanted(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, r := range []*store.Run{newRun("ra", "acme"), newRun("rb", "zeta")} {
		if _, _, err := s.CreateRun(ctx, r, "", store.Change{Audit: []audit.Record{rec(t, audit.KindPlan, r.ID, 1)}}); err != nil {
			t.Fatal(err)
		}
	}
	const w = store.AuditUntenantedWindow
	n := 2*w + 600
	var recs []audit.Record
	for i := 0; i < n; i++ {
		r := rec(t, audit.KindState, "rb", i) // the other tenant's run, without a tenant
		switch {
		case i == 3 || i == w+250 || i == n-1:
			r = rec(t, audit.KindState, "ra", i) // the tenant's run, without a tenant
		case i%997 == 0:
			r = rec(t, audit.KindDecision, "ra", i)
			r.Tenant = "acme"
		case i%1999 == 0:
			r = rec(t, "law-check", "", i) // the server's own
		case i%1003 == 0:
			r.Tenant = "zeta"
		}
		recs = append(recs, r)
		if len(recs) == 1000 || i == n-1 {
			if err := s.AppendAudit(ctx, recs...); err != nil {
				t.Fatal(err)
			}
			recs = nil
		}
	}
	all, err := s.AuditEntries(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	runTenant := map[string]string{"ra": "acme", "rb": "zeta"}
	for _, c := range []struct {
		name string
		q    store.AuditQuery
		keep func(e audit.Entry) bool
	}{
		{"tenant", store.AuditQuery{Tenant: "acme", Untenanted: store.UntenantedOfRuns, Limit: 50}, func(e audit.Entry) bool {
			return e.Tenant == "acme" || e.Tenant == "" && runTenant[e.RunID] == "acme"
		}},
		{"tenant's run", store.AuditQuery{Tenant: "acme", Untenanted: store.UntenantedOfRuns, RunID: "ra", Kinds: []string{audit.KindState}, Limit: 50}, func(e audit.Entry) bool {
			return e.RunID == "ra" && e.Kind == audit.KindState
		}},
		{"other tenant", store.AuditQuery{Tenant: "zeta", Untenanted: store.UntenantedOfRuns, Limit: 5000}, func(e audit.Entry) bool {
			return e.Tenant == "zeta" || e.Tenant == "" && runTenant[e.RunID] == "zeta"
		}},
	} {
		var got []int64
		q := c.q
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatalf("%s: over 100 pages", c.name)
			}
			page, next, err := s.AuditSelectPage(ctx, q)
			if err != nil {
				t.Fatalf("%s: page after %d: %v", c.name, q.After, err)
			}
			// The entries without a tenant the page looked at: those
			// after After up to its next, or to the log's end.
			looked := 0
			for _, e := range all {
				if e.Seq > q.After && (next == 0 || e.Seq <= next) && e.Tenant == "" {
					looked++
				}
			}
			if looked > w {
				t.Errorf("%s: the page after %d (next %d) spans %d entries without a tenant, want at most %d", c.name, q.After, next, looked, w)
			}
			for _, e := range page {
				if e.Seq <= q.After || next != 0 && e.Seq > next {
					t.Fatalf("%s: page after %d, next %d, holds %d", c.name, q.After, next, e.Seq)
				}
				got = append(got, e.Seq)
			}
			if next == 0 {
				break
			}
			q.After = next
		}
		var want []int64
		for _, e := range filterEntries(all, c.keep) {
			want = append(want, e.Seq)
		}
		if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s: seqs (-want +got):\n%s", c.name, d)
		}
	}
	if _, _, err := s.AuditSelectPage(ctx, store.AuditQuery{Tenant: "acme", Untenanted: store.UntenantedOfRuns, Through: -1}); err == nil {
		t.Error("through -1: no error")
	}
}

func filterEntries(es []audit.Entry, keep func(e audit.Entry) bool) []audit.Entry {
	var out []audit.Entry
	for _, e := range es {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

func res(tenant, kind, name, doc, storeKey string) store.Resource {
	return store.Resource{Tenant: tenant, Kind: kind, Name: name, Doc: []byte(doc), Hash: "h-" + doc, StoreKey: storeKey}
}

func registerWithRun(t *testing.T, s store.Store) {
	ctx := context.Background()
	ds := res("", "Dataset", "chat", `{"classification":"personal"}`, "file:///a|chat")
	if _, _, err := s.CreateRun(ctx, newRun("r1", "a"), "", store.Change{Register: []store.Resource{ds}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetResource(ctx, "a", "Dataset", "chat")
	if err != nil || got.Tenant != "a" || got.Version != 1 || string(got.Doc) != `{"classification":"personal"}` {
		t.Fatalf("registered: %+v %v", got, err)
	}
	// The same copy again is fine; a different one fails the whole change.
	if _, _, err := s.CreateRun(ctx, newRun("r2", "a"), "", store.Change{Register: []store.Resource{ds}}); err != nil {
		t.Fatal(err)
	}
	lie := res("", "Dataset", "chat", `{"classification":"public"}`, "file:///a|chat")
	_, _, err = s.CreateRun(ctx, newRun("r3", "a"), "", store.Change{Register: []store.Resource{lie}})
	var rc *store.ResourceConflict
	if !errors.As(err, &rc) || rc.Registered == nil || rc.Registered.Version != 1 {
		t.Fatalf("lying copy: %v", err)
	}
	if _, err := s.GetRun(ctx, "r3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("run of a refused change was written: %v", err)
	}
	// Names are per tenant; data is not: b may name its dataset chat, but not
	// register a's store and name.
	if _, _, err := s.CreateRun(ctx, newRun("r4", "b"), "", store.Change{Register: []store.Resource{res("", "Dataset", "chat", `{"x":1}`, "file:///b|chat")}}); err != nil {
		t.Fatalf("same name, other tenant: %v", err)
	}
	_, _, err = s.CreateRun(ctx, newRun("r5", "c"), "", store.Change{Register: []store.Resource{res("", "Dataset", "stolen", `{"x":2}`, "file:///a|chat")}})
	if !errors.As(err, &rc) || rc.Registered != nil {
		t.Fatalf("other tenant's store: %v", err)
	}
	list, err := s.ListResources(ctx, "a", "")
	if err != nil || len(list) != 1 {
		t.Errorf("list a: %v %v", list, err)
	}
	// A registration through a run is seen by the next list.
	org := res("", "Organization", "lab", `{"hq":"SG"}`, "")
	if _, _, err := s.CreateRun(ctx, newRun("r6", "a"), "", store.Change{Register: []store.Resource{org}}); err != nil {
		t.Fatal(err)
	}
	if list, err := s.ListResources(ctx, "a", ""); err != nil || len(list) != 2 {
		t.Errorf("list a after a second registration: %v %v", list, err)
	}
}

func putResource(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := res("a", "Organization", "lab", `{"hq":"SG"}`, "")
	// A list read before a write must not be what a list after it answers
	// (a store may keep answers between writes).
	if list, err := s.ListResources(ctx, "a", ""); err != nil || len(list) != 0 {
		t.Fatalf("list before: %v %v", list, err)
	}
	if _, err := s.PutResource(ctx, &r, 1, rec(t, "register", "", 1)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("update of a missing resource: %v", err)
	}
	got, err := s.PutResource(ctx, &r, 0, rec(t, "register", "", 1))
	if err != nil || got.Version != 1 {
		t.Fatalf("create: %+v %v", got, err)
	}
	up := res("a", "Organization", "lab", `{"hq":"CN"}`, "")
	if _, err := s.PutResource(ctx, &up, 0, rec(t, "update", "", 2)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("create over an existing resource: %v", err)
	}
	list, err := s.ListResources(ctx, "a", "Organization")
	if err != nil || len(list) != 1 || list[0].Version != 1 {
		t.Fatalf("list after create: %v %v", list, err)
	}
	list[0].Doc[2], list[0].Version = 'X', 99 // a caller's changes stay its own
	got, err = s.PutResource(ctx, &up, 1, rec(t, "update", "", 2))
	if err != nil || got.Version != 2 || string(got.Doc) != `{"hq":"CN"}` {
		t.Fatalf("update: %+v %v", got, err)
	}
	for _, kind := range []string{"Organization", ""} {
		list, err = s.ListResources(ctx, "a", kind)
		if err != nil || len(list) != 1 || list[0].Version != 2 || string(list[0].Doc) != `{"hq":"CN"}` {
			t.Errorf("list %q after update: %+v %v", kind, list, err)
		}
	}
	again, err := s.ListResources(ctx, "a", "")
	if err != nil || len(again) != 1 || again[0].Version != 2 || string(again[0].Doc) != `{"hq":"CN"}` {
		t.Errorf("second list after update: %+v %v", again, err)
	}
	es, _ := s.AuditEntries(ctx, "")
	if len(es) != 2 || es[1].Tenant != "a" {
		t.Errorf("audit of puts: %+v", es)
	}
}

// longStoreKey: a dataset's store key is its store's address as the tenant
// wrote it, and may be long. A key of kilobytes registers, on a run and
// by a put, is found by the next registration of it (another tenant's is
// refused), and one that differs from it only at its end is other data.
func longStoreKey(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Hex of a hash chain: text a database cannot compress below its
	// index's limit on an entry (PostgreSQL's is 2,704 bytes).
	var b strings.Builder
	sum := sha256.Sum256([]byte("store"))
	for b.Len() < 8000 {
		b.WriteString(hex.EncodeToString(sum[:]))
		sum = sha256.Sum256(sum[:])
	}
	long := "s3://bucket/" + b.String()
	ds := res("", "Dataset", "chat", `{"x":1}`, long+"|chat")
	if _, _, err := s.CreateRun(ctx, newRun("r1", "a"), "", store.Change{Register: []store.Resource{ds}}); err != nil {
		t.Fatalf("register a long store key: %v", err)
	}
	var rc *store.ResourceConflict
	_, _, err := s.CreateRun(ctx, newRun("r2", "b"), "", store.Change{Register: []store.Resource{res("", "Dataset", "chat", `{"x":2}`, long+"|chat")}})
	if !errors.As(err, &rc) {
		t.Fatalf("another tenant's registration of the same long key: %v", err)
	}
	other := res("b", "Dataset", "chat", `{"x":3}`, long+"x|chat")
	if _, err := s.PutResource(ctx, &other, 0, rec(t, "register", "", 1)); err != nil {
		t.Fatalf("put of a long key that differs at its end: %v", err)
	}
	stolen := res("c", "Dataset", "chat", `{"x":4}`, long+"x|chat")
	if _, err := s.PutResource(ctx, &stolen, 0, rec(t, "register", "", 2)); !errors.As(err, &rc) {
		t.Fatalf("a put of another tenant's long key: %v", err)
	}
	moved := res("a", "Dataset", "chat", `{"x":5}`, long+"y|chat")
	if got, err := s.PutResource(ctx, &moved, 1, rec(t, "update", "", 3)); err != nil || got.StoreKey != long+"y|chat" {
		t.Fatalf("update to another long key: %+v %v", got, err)
	}
}

// putResources: several resources are put in one transaction: one that is
// refused (a stale version, another tenant's data) leaves none of the
// others written, nor any audit record.
func putResources(t *testing.T, s store.Store) {
	ctx := context.Background()
	owned := res("b", "Dataset", "chat", `{"x":1}`, "file:///b|chat")
	if _, err := s.PutResource(ctx, &owned, 0, rec(t, "register", "", 0)); err != nil {
		t.Fatal(err)
	}
	lab := res("a", "Organization", "lab", `{"hq":"SG"}`, "")
	if _, err := s.PutResource(ctx, &lab, 0, rec(t, "register", "", 1)); err != nil {
		t.Fatal(err)
	}
	before := auditCount(t, s)
	fresh := res("a", "Organization", "lab2", `{"hq":"DE"}`, "")
	moved := res("a", "Organization", "lab", `{"hq":"CN"}`, "")
	stolen := res("a", "Dataset", "mine", `{"x":2}`, "file:///b|chat")
	for name, refused := range map[string]store.ResourcePut{
		"a stale version":          {Resource: &moved, IfVersion: 7, Audit: rec(t, "update", "", 2)},
		"another tenant's data":    {Resource: &stolen, Audit: rec(t, "register", "", 3)},
		"a resource that is there": {Resource: &moved, Audit: rec(t, "register", "", 4)},
	} {
		got, err := s.PutResources(ctx, []store.ResourcePut{{Resource: &fresh, Audit: rec(t, "register", "", 5)}, refused})
		if err == nil {
			t.Errorf("%s: put %+v", name, got)
		}
		if r, err := s.GetResource(ctx, "a", "Organization", "lab2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s refused, the resource put before it was written: %+v %v", name, r, err)
		}
		if r, err := s.GetResource(ctx, "a", "Organization", "lab"); err != nil || r.Version != 1 {
			t.Errorf("%s refused, lab is %+v %v", name, r, err)
		}
		if after := auditCount(t, s); after != before {
			t.Errorf("%s refused, the audit log went from %d to %d entries", name, before, after)
		}
	}
	got, err := s.PutResources(ctx, []store.ResourcePut{{Resource: &fresh, Audit: rec(t, "register", "", 5)}, {Resource: &moved, IfVersion: 1, Audit: rec(t, "update", "", 6)}})
	if err != nil || len(got) != 2 || got[0].Name != "lab2" || got[0].Version != 1 || got[1].Name != "lab" || got[1].Version != 2 {
		t.Fatalf("both put: %+v %v", got, err)
	}
	if list, err := s.ListResources(ctx, "a", ""); err != nil || len(list) != 2 {
		t.Errorf("list after both: %+v %v", list, err)
	}
	if after := auditCount(t, s); after != before+2 {
		t.Errorf("audit after both: %d entries, want %d", after, before+2)
	}
}

func auditCount(t *testing.T, s store.Store) int {
	t.Helper()
	es, err := s.AuditEntries(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func tenantUID(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, err := s.TenantUID(ctx, "a", 5000)
	if err != nil || a != 5000 {
		t.Fatalf("a: %d %v", a, err)
	}
	b, _ := s.TenantUID(ctx, "b", 5000)
	a2, _ := s.TenantUID(ctx, "a", 5000)
	if b != 5001 || a2 != 5000 {
		t.Errorf("b=%d a again=%d", b, a2)
	}
}

func ruleRevisions(t *testing.T, s store.Store) {
	ctx := context.Background()
	r1, err := s.PutRuleRevision(ctx, &store.RuleRevision{Hash: "h1", Files: map[string]string{"a.yaml": "x"}, Who: "admin", Reason: "first"}, 0, rec(t, "rules-revision", "", 1))
	if err != nil || r1.Rev != 1 {
		t.Fatalf("first revision: %+v %v", r1, err)
	}
	// A writer that read revision 0 lost the race to r1.
	if _, err := s.PutRuleRevision(ctx, &store.RuleRevision{Hash: "h2"}, 0, rec(t, "rules-revision", "", 2)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale revision: %v", err)
	}
	if _, err := s.PutRuleRevision(ctx, &store.RuleRevision{Hash: "h2", Files: map[string]string{"a.yaml": "y", "b.yaml": "z"}, Who: "admin", Reason: "second"}, 1, rec(t, "rules-revision", "", 2)); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListRuleRevisions(ctx, 0, 10)
	if err != nil || len(all) != 2 || all[1].Rev != 2 || all[0].Reason != "first" {
		t.Fatalf("revisions: %+v %v", all, err)
	}
	if r2, err := s.GetRuleRevision(ctx, 2); err != nil || r2.Files["b.yaml"] != "z" || r2.Reason != "second" {
		t.Fatalf("revision 2: %+v %v", r2, err)
	}
	if es, _ := s.AuditEntries(ctx, ""); len(es) != 2 {
		t.Errorf("%d audit entries, want one per accepted revision", len(es))
	}
}

// ruleRevisionPages: the revisions are listed a page at a time after a
// revision, oldest first, each with its files' names and sizes and
// nothing of their contents; one revision is read with its files by
// number; the last number is the newest revision's.
func ruleRevisionPages(t *testing.T, s store.Store) {
	ctx := context.Background()
	if last, err := s.LastRuleRevision(ctx); err != nil || last != 0 {
		t.Fatalf("last revision of none: %d %v", last, err)
	}
	if page, err := s.ListRuleRevisions(ctx, 0, 10); err != nil || len(page) != 0 {
		t.Fatalf("revisions of none: %+v %v", page, err)
	}
	if _, err := s.GetRuleRevision(ctx, 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revision 1 of none: %v, want ErrNotFound", err)
	}
	const n = 7
	files := func(i int) map[string]string {
		m := map[string]string{"b.yaml": strings.Repeat("b", 100*i), "é-ü.yaml": "ünï\n<>&\"" + fmt.Sprint(i)}
		if i%2 == 0 {
			m["a.yml"] = ""
		}
		return m
	}
	for i := 1; i <= n; i++ {
		if _, err := s.PutRuleRevision(ctx, &store.RuleRevision{Hash: fmt.Sprintf("h%d", i), Files: files(i), Who: fmt.Sprintf("w%d", i), Reason: fmt.Sprintf("r%d", i)},
			int64(i-1), rec(t, "rules-revision", "", i)); err != nil {
			t.Fatal(err)
		}
	}
	if last, err := s.LastRuleRevision(ctx); err != nil || last != n {
		t.Fatalf("last revision: %d %v, want %d", last, err, n)
	}
	var got []int64
	after := int64(0)
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatalf("pages never end: %v", got)
		}
		page, err := s.ListRuleRevisions(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 3 {
			t.Fatalf("a page of 3 held %d", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			got = append(got, r.Rev)
			i := int(r.Rev)
			want := []store.RuleFileInfo{{Name: "b.yaml", Bytes: int64(100 * i)}, {Name: "é-ü.yaml", Bytes: int64(len(files(i)["é-ü.yaml"]))}}
			if i%2 == 0 {
				want = append([]store.RuleFileInfo{{Name: "a.yml", Bytes: 0}}, want...)
			}
			if diff := cmp.Diff(want, r.Files); diff != "" {
				t.Errorf("revision %d's files (-want +got):\n%s", r.Rev, diff)
			}
			if r.Hash != fmt.Sprintf("h%d", i) || r.Who != fmt.Sprintf("w%d", i) || r.Reason != fmt.Sprintf("r%d", i) || r.CreatedAt.IsZero() {
				t.Errorf("revision %d: %+v", r.Rev, r)
			}
		}
		after = page[len(page)-1].Rev
	}
	if fmt.Sprint(got) != "[1 2 3 4 5 6 7]" {
		t.Errorf("pages held revisions %v, want 1 to 7 once each, in order", got)
	}
	if page, err := s.ListRuleRevisions(ctx, 5, 100); err != nil || len(page) != 2 || page[0].Rev != 6 {
		t.Errorf("after 5: %+v %v, want 6 and 7", page, err)
	}
	if _, err := s.ListRuleRevisions(ctx, 0, 0); err == nil {
		t.Errorf("a page of 0 revisions was answered")
	}
	for i := 1; i <= n; i++ {
		r, err := s.GetRuleRevision(ctx, int64(i))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(files(i), r.Files); diff != "" || r.Rev != int64(i) || r.Hash != fmt.Sprintf("h%d", i) || r.Who != fmt.Sprintf("w%d", i) || r.Reason != fmt.Sprintf("r%d", i) || r.CreatedAt.IsZero() {
			t.Errorf("revision %d: %+v (files -want +got:\n%s)", i, r, diff)
		}
	}
	if _, err := s.GetRuleRevision(ctx, n+1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revision %d of %d: %v, want ErrNotFound", n+1, n, err)
	}
}

func lawCheck(t *testing.T, s store.Store) {
	ctx := context.Background()
	if rev, day, err := s.LawCheck(ctx); err != nil || rev != 0 || day != "" {
		t.Fatalf("before any check: %d %q %v", rev, day, err)
	}
	for i, day := range []string{"2026-01-01", "2026-01-02"} {
		if err := s.SetLawCheck(ctx, int64(i+3), day, rec(t, "law-check", "", i)); err != nil {
			t.Fatal(err)
		}
	}
	if rev, day, err := s.LawCheck(ctx); err != nil || rev != 4 || day != "2026-01-02" {
		t.Fatalf("after two checks: %d %q %v", rev, day, err)
	}
}

// listWithoutDocuments: a list asked without documents has each run's Data
// without its documents and with everything else, and the run itself keeps
// them.
func listWithoutDocuments(t *testing.T, s store.Store) {
	ctx := context.Background()
	big := strings.Repeat("x", 1<<20)
	r := newRun("r1", "a")
	r.Data = []byte(`{"documents":[{"name":"job.yaml","content":"` + big + `"}],"asOf":"2026-12-01","attempts":[{"n":1,"site":"s1"}]}`)
	if _, _, err := s.CreateRun(ctx, r, "", store.Change{}); err != nil {
		t.Fatal(err)
	}
	var data struct {
		Documents []struct{ Content string }
		AsOf      string
		Attempts  []struct{ Site string }
	}
	for _, o := range []store.ListOptions{{Tenant: "a", NoDocuments: true}, {AllTenants: true, NoDocuments: true, States: []string{"planned"}}, {Tenant: "a", NoDocuments: true, Limit: 1}} {
		rs, err := s.ListRuns(ctx, o)
		if err != nil || len(rs) != 1 {
			t.Fatalf("list %+v: %d runs, %v", o, len(rs), err)
		}
		if len(rs[0].Data) > 1000 {
			t.Errorf("list %+v: data of %d bytes, want the documents left out", o, len(rs[0].Data))
		}
		data.Documents, data.AsOf, data.Attempts = nil, "", nil
		if err := json.Unmarshal(rs[0].Data, &data); err != nil {
			t.Fatal(err)
		}
		if data.Documents != nil || data.AsOf != "2026-12-01" || len(data.Attempts) != 1 || data.Attempts[0].Site != "s1" || rs[0].Version != 1 || rs[0].State != "planned" {
			t.Errorf("list %+v: %s, version %d", o, rs[0].Data, rs[0].Version)
		}
	}
	got, err := s.GetRun(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got.Data, &data); err != nil || len(data.Documents) != 1 || len(data.Documents[0].Content) != 1<<20 {
		t.Errorf("the run itself lost its documents: %v", err)
	}
	all, err := s.ListRuns(ctx, store.ListOptions{Tenant: "a"})
	if err != nil || len(all) != 1 || len(all[0].Data) < 1<<20 {
		t.Errorf("a list with documents: %v", err)
	}
	// One run's tenant and version, without the run.
	if tenant, v, err := s.RunVersionOf(ctx, "r1"); err != nil || tenant != "a" || v != got.Version {
		t.Errorf("version of r1: %s %d %v, want a %d", tenant, v, err, got.Version)
	}
	if _, err := s.UpdateRun(ctx, "r1", func(r *store.Run) (store.Change, error) { r.State = "running"; return store.Change{}, nil }); err != nil {
		t.Fatal(err)
	}
	if _, v, err := s.RunVersionOf(ctx, "r1"); err != nil || v != got.Version+1 {
		t.Errorf("version of r1 after an update: %d %v, want %d", v, err, got.Version+1)
	}
	if _, _, err := s.RunVersionOf(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("version of a run that does not exist: %v", err)
	}
}

// nulInRunData: a run's data holding a NUL in a string (what a site or a
// workload said) is kept and listed like any other, with or without its
// documents; the text "\u0000" (an escaped backslash) is kept as it is.
func nulInRunData(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := newRun("r1", "a")
	r.Data = []byte(`{"reason":"before\u0000after","text":"\\u0000","documents":[]}`)
	if _, _, err := s.CreateRun(ctx, r, "", store.Change{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRun(ctx, "r1", func(r *store.Run) (store.Change, error) {
		r.Data = []byte(`{"reason":"lost: \u0000\\\u0000","text":"\\u0000","documents":[]}`)
		return store.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	var data struct{ Reason, Text string }
	for _, o := range []store.ListOptions{{Tenant: "a"}, {Tenant: "a", NoDocuments: true}} {
		rs, err := s.ListRuns(ctx, o)
		if err != nil || len(rs) != 1 {
			t.Fatalf("list %+v: %d runs, %v", o, len(rs), err)
		}
		if err := json.Unmarshal(rs[0].Data, &data); err != nil {
			t.Fatalf("list %+v: %s: %v", o, rs[0].Data, err)
		}
		// A store may keep the NUL or put U+FFFD in its place.
		if want := strings.NewReplacer("\x00", "", "\uFFFD", "").Replace(data.Reason); want != `lost: \` || data.Text != `\u0000` {
			t.Errorf("list %+v: reason %q, text %q; want the reason's NULs kept or replaced and the text as written", o, data.Reason, data.Text)
		}
	}
}

// duplicateKeys: a row whose key is taken (a run id, a token's hash) is a
// lost race on every store, ErrConflict, and writes nothing: the API
// answers it as a conflict, not as the server's failure.
func duplicateKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, _, err := s.CreateRun(ctx, newRun("r1", "a"), "", store.Change{Audit: []audit.Record{rec(t, audit.KindPlan, "r1", 1)}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateRun(ctx, newRun("r1", "b"), "k", store.Change{Audit: []audit.Record{rec(t, audit.KindPlan, "r1", 2)}}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second run r1: %v, want ErrConflict", err)
	}
	if _, err := s.RunByKey(ctx, "b", "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused run's idempotency key was kept: %v", err)
	}
	h := store.HashToken("secret")
	if _, err := s.PutToken(ctx, &store.Token{Tenant: "a", Hash: h}, rec(t, "tenant", "", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutToken(ctx, &store.Token{Tenant: "b", Hash: h}, rec(t, "tenant", "", 2)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second token of one hash: %v, want ErrConflict", err)
	}
	if got, err := s.GetRun(ctx, "r1"); err != nil || got.Tenant != "a" {
		t.Errorf("r1: %+v %v, want tenant a's", got, err)
	}
	if n := auditCount(t, s); n != 2 {
		t.Errorf("%d audit entries, want the 2 of the writes that were made", n)
	}
}

// lookupsOfUnstorableText: a read keyed by what a request carries (a run
// id in a path, an idempotency key, a list's cursor, a dataset's name) that
// holds a NUL or bytes that are not UTF-8 finds nothing, on every store:
// no row can hold it on PostgreSQL, whose text refuses it, and none is
// one that SQLite holds. It is not the server's failure.
func lookupsOfUnstorableText(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, _, err := s.CreateRun(ctx, newRun("r1", "a"), "k", store.Change{
		Events:   []store.Event{{Kind: "created"}},
		Audit:    []audit.Record{rec(t, audit.KindPlan, "r1", 1)},
		Register: []store.Resource{res("a", "Dataset", "d", `{"n":1}`, "")},
	}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"r1\x00", "r1\xff", "\x00"} {
		if _, err := s.GetRun(ctx, bad); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("get %q: %v, want ErrNotFound", bad, err)
		}
		if _, _, err := s.RunVersionOf(ctx, bad); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("version of %q: %v, want ErrNotFound", bad, err)
		}
		if _, err := s.UpdateRun(ctx, bad, func(*store.Run) (store.Change, error) { return store.Change{}, nil }); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update %q: %v, want ErrNotFound", bad, err)
		}
		if _, err := s.RunByKey(ctx, "a", bad); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("run by key %q: %v, want ErrNotFound", bad, err)
		}
		if evs, err := s.EventsAfter(ctx, bad, 0, 10); err != nil || len(evs) != 0 {
			t.Errorf("events of %q: %v %v, want none", bad, evs, err)
		}
		if vs, err := s.RunVersions(ctx, bad); err != nil || len(vs) != 0 {
			t.Errorf("run versions of tenant %q: %v %v, want none", bad, vs, err)
		}
		for _, o := range []store.ListOptions{{Tenant: bad}, {Tenant: "a", After: bad}, {AllTenants: true, After: bad}, {Tenant: "a", States: []string{bad}}} {
			if rs, err := s.ListRuns(ctx, o); err != nil || len(rs) != 0 {
				t.Errorf("list %+v: %d runs, %v; want none", o, len(rs), err)
			}
		}
		for _, o := range []store.ListOptions{{Tenant: "a", States: []string{bad, "planned"}}, {Tenant: "a", Active: true, Final: []string{bad}}} {
			if rs, err := s.ListRuns(ctx, o); err != nil || len(rs) != 1 {
				t.Errorf("list %+v: %d runs, %v; want r1", o, len(rs), err)
			}
		}
		if _, err := s.GetResource(ctx, "a", "Dataset", bad); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("resource %q: %v, want ErrNotFound", bad, err)
		}
		if rs, err := s.ListResources(ctx, "a", bad); err != nil || len(rs) != 0 {
			t.Errorf("resources of kind %q: %v %v, want none", bad, rs, err)
		}
		for _, q := range []store.AuditQuery{{Tenant: "a", RunID: bad}, {AllTenants: true, Kinds: []string{bad}}, {Tenant: bad, Untenanted: store.UntenantedOfRuns}} {
			if es, err := s.AuditSelect(ctx, q); err != nil || len(es) != 0 {
				t.Errorf("audit %+v: %d entries, %v; want none", q, len(es), err)
			}
			if es, _, err := s.AuditSelectPage(ctx, q); err != nil || len(es) != 0 {
				t.Errorf("audit page %+v: %d entries, %v; want none", q, len(es), err)
			}
		}
		if es, err := s.AuditSelect(ctx, store.AuditQuery{AllTenants: true, Kinds: []string{bad, audit.KindPlan}}); err != nil || len(es) != 1 {
			t.Errorf("audit of kinds %q and plan: %d entries, %v; want 1", bad, len(es), err)
		}
		if _, err := s.TokenByHash(ctx, bad); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("token %q: %v, want ErrNotFound", bad, err)
		}
		if _, err := s.RevokeTokens(ctx, "a", bad, rec(t, "tenant", "", 1)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("revoke token %q: %v, want ErrNotFound", bad, err)
		}
		if _, ok, err := s.SilentFor(ctx, bad, 1); err != nil || ok {
			t.Errorf("silence of %q: %v %v, want never heard", bad, ok, err)
		}
	}
}

// idempotencyKeyNotText: an idempotency key (a request's header) holding
// a NUL or bytes that are not UTF-8 is refused alike on every store, by
// ErrKeyNotText, writing nothing: PostgreSQL's text cannot hold it, and a
// key that one store keeps and another fails on would make a submission's
// answer depend on the store.
func idempotencyKeyNotText(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i, key := range []string{"k\x00", "k\xff", "\xc3"} {
		id := fmt.Sprintf("r%d", i)
		_, _, err := s.CreateRun(ctx, newRun(id, "a"), key, store.Change{Audit: []audit.Record{rec(t, audit.KindPlan, id, 1)}})
		if !errors.Is(err, store.ErrKeyNotText) {
			t.Errorf("create with key %q: %v, want ErrKeyNotText", key, err)
		}
		if _, err := s.GetRun(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the run of the refused key %q was written: %v", key, err)
		}
	}
	if n := auditCount(t, s); n != 0 {
		t.Errorf("%d audit entries of refused creations", n)
	}
	// A key of any other text is kept.
	if _, created, err := s.CreateRun(ctx, newRun("r9", "a"), "ключ\t⌘", store.Change{}); err != nil || !created {
		t.Fatalf("create with a key of text: %v %v", created, err)
	}
	if got, err := s.RunByKey(ctx, "a", "ключ\t⌘"); err != nil || got.ID != "r9" {
		t.Errorf("run by key: %+v %v", got, err)
	}
}

// writesOfUnstorableText: a write whose text holds a NUL or bytes that are
// not UTF-8 (an event's reason from a site, a run's field, a resource's
// name, an audit record's) is refused alike on every store, by
// ErrNotText with the field named, writing nothing: PostgreSQL's text
// cannot hold it, and SQLite would keep what PostgreSQL fails on.
func writesOfUnstorableText(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, _, err := s.CreateRun(ctx, newRun("r1", "a"), "", store.Change{}); err != nil {
		t.Fatal(err)
	}
	refused := func(what, field string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrNotText) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v, want ErrNotText naming %q", what, err, field)
		}
	}
	for _, bad := range []string{"x\x00y", "x\xffy"} {
		good := func(i int) store.Change {
			return store.Change{Events: []store.Event{{Kind: "k"}}, Audit: []audit.Record{rec(t, audit.KindPlan, "r2", i)},
				Register: []store.Resource{res("a", "Dataset", "d", `{"n":1}`, "")}}
		}
		for _, tc := range []struct {
			field  string
			change func(r *store.Run, ch *store.Change)
		}{
			{"event reason", func(_ *store.Run, ch *store.Change) { ch.Events[0].Reason = bad }},
			{"event kind", func(_ *store.Run, ch *store.Change) { ch.Events[0].Kind = bad }},
			{"run site", func(r *store.Run, _ *store.Change) { r.Site = bad }},
			{"run handle", func(r *store.Run, _ *store.Change) { r.Handle = bad }},
			{"resource name", func(_ *store.Run, ch *store.Change) { ch.Register[0].Name = bad }},
			{"audit run id", func(_ *store.Run, ch *store.Change) { ch.Audit[0].RunID = bad }},
		} {
			r, ch := newRun("r2", "a"), good(1)
			tc.change(r, &ch)
			_, _, err := s.CreateRun(ctx, r, "", ch)
			refused(fmt.Sprintf("create with %s %q", tc.field, bad), tc.field, err)
			_, err = s.UpdateRun(ctx, "r1", func(r *store.Run) (store.Change, error) {
				ch := good(2)
				tc.change(r, &ch)
				return ch, nil
			})
			refused(fmt.Sprintf("update with %s %q", tc.field, bad), tc.field, err)
		}
		d := res("a", "Dataset", bad, `{"n":1}`, "")
		_, err := s.PutResource(ctx, &d, 0, rec(t, "resource", "", 1))
		refused(fmt.Sprintf("put resource %q", bad), "resource name", err)
		r, _ := audit.NewRecord(audit.KindPlan, bad, 1)
		refused(fmt.Sprintf("audit of run %q", bad), "audit run id", s.AppendAudit(ctx, r))
		// A token's note is an administrator's words, kept as given.
		tok := &store.Token{Tenant: "a", Hash: store.HashToken("secret-" + bad), Note: bad}
		_, err = s.PutToken(ctx, tok, rec(t, "tenant", "", 1))
		refused(fmt.Sprintf("token with note %q", bad), "token note", err)
		tok.Note = "ok"
		_, err = s.PutTokens(ctx, []*store.Token{tok}, []audit.Record{{Kind: "tenant", Tenant: bad, Payload: []byte(`{}`)}})
		refused(fmt.Sprintf("token audited for tenant %q", bad), "audit tenant", err)
	}
	if ts, err := s.ListTokens(ctx); err != nil || len(ts) != 0 {
		t.Errorf("refused writes stored tokens: %d %v", len(ts), err)
	}
	if _, err := s.GetRun(ctx, "r2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused creation wrote its run: %v", err)
	}
	if got, err := s.GetRun(ctx, "r1"); err != nil || got.Version != 1 {
		t.Errorf("a refused update wrote its run: %+v %v", got, err)
	}
	if evs, err := s.Events(ctx, "r1"); err != nil || len(evs) != 0 {
		t.Errorf("refused updates wrote events: %v %v", evs, err)
	}
	if rs, err := s.ListResources(ctx, "a", ""); err != nil || len(rs) != 0 {
		t.Errorf("refused writes registered resources: %d %v", len(rs), err)
	}
	if n := auditCount(t, s); n != 0 {
		t.Errorf("%d audit entries of refused writes", n)
	}
}

// otherWritesOfUnstorableText: the writes besides a run's, a resource's
// and a token's (a rules revision, the law check's record, a lease, a
// heartbeat, a tenant's user id) given text that holds a NUL or bytes
// that are not UTF-8 are refused alike on every store, by ErrNotText
// with the field named, writing nothing. PostgreSQL failed each with the
// driver's message, naming no field, where SQLite kept the bytes.
func otherWritesOfUnstorableText(t *testing.T, s store.Store) {
	ctx := context.Background()
	refused := func(what, field string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrNotText) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v, want ErrNotText naming %q", what, err, field)
		}
	}
	for _, bad := range []string{"x\x00y", "x\xffy"} {
		for _, tc := range []struct {
			field string
			rev   store.RuleRevision
		}{
			{"rules revision who", store.RuleRevision{Hash: "h", Who: bad, Reason: "r"}},
			{"rules revision reason", store.RuleRevision{Hash: "h", Who: "admin", Reason: bad}},
			{"rules revision hash", store.RuleRevision{Hash: bad, Who: "admin", Reason: "r"}},
			{"rules file name", store.RuleRevision{Hash: "h", Who: "admin", Reason: "r", Files: map[string]string{bad: "package a"}}},
			{"rules file", store.RuleRevision{Hash: "h", Who: "admin", Reason: "r", Files: map[string]string{"a.rego": "package a # " + bad}}},
		} {
			_, err := s.PutRuleRevision(ctx, &tc.rev, 0, rec(t, "rules-revision", "", 1))
			refused(fmt.Sprintf("rules revision with %s %q", tc.field, bad), tc.field, err)
		}
		_, err := s.PutRuleRevision(ctx, &store.RuleRevision{Hash: "h", Who: "admin", Reason: "r"}, 0,
			audit.Record{Kind: "rules-revision", Tenant: bad, Payload: []byte(`{}`)})
		refused(fmt.Sprintf("rules revision audited for tenant %q", bad), "audit tenant", err)
		refused(fmt.Sprintf("law check of day %q", bad), "law check day", s.SetLawCheck(ctx, 0, bad, rec(t, "law-check", "", 1)))
		refused(fmt.Sprintf("law check audited for run %q", bad), "audit run id",
			s.SetLawCheck(ctx, 0, "2026-12-06", audit.Record{Kind: "law-check", RunID: bad, Payload: []byte(`{}`)}))
		_, err = s.TryLease(ctx, bad, "a", time.Minute)
		refused(fmt.Sprintf("lease %q", bad), "lease name", err)
		_, err = s.TryLease(ctx, "l", bad, time.Minute)
		refused(fmt.Sprintf("lease held by %q", bad), "lease holder", err)
		refused(fmt.Sprintf("release of lease held by %q", bad), "lease holder", s.ReleaseLease(ctx, "l", bad, 1))
		refused(fmt.Sprintf("heartbeat of run %q", bad), "heartbeat run id", s.Heard(ctx, bad, 1))
		_, err = s.TenantUID(ctx, bad, 100000)
		refused(fmt.Sprintf("user id of tenant %q", bad), "tenant", err)
	}
	if rev, err := s.LastRuleRevision(ctx); err != nil || rev != 0 {
		t.Errorf("refused writes stored a rules revision: %d %v", rev, err)
	}
	if rev, day, err := s.LawCheck(ctx); err != nil || rev != 0 || day != "" {
		t.Errorf("refused writes stored a law check: %d %q %v", rev, day, err)
	}
	if n := auditCount(t, s); n != 0 {
		t.Errorf("%d audit entries of refused writes", n)
	}
	// The same writes of text are kept.
	if _, err := s.PutRuleRevision(ctx, &store.RuleRevision{Hash: "h", Who: "admin", Reason: "ключ\t⌘", Files: map[string]string{"a.rego": "package a"}}, 0, rec(t, "rules-revision", "", 1)); err != nil {
		t.Errorf("rules revision of text: %v", err)
	}
	if err := s.Heard(ctx, "r1", 1); err != nil {
		t.Errorf("heartbeat: %v", err)
	}
	if _, err := s.TenantUID(ctx, "a", 100000); err != nil {
		t.Errorf("tenant user id: %v", err)
	}
}

// numbersPastInt32: a run's attempt, hold pool or hold count, or a
// heartbeat's attempt, past 32 bits (PostgreSQL's INTEGER columns) is
// refused alike on every store, by ErrIntRange with the field named,
// writing nothing. PostgreSQL's driver failed naming only the statement's
// argument, where SQLite kept the number.
func numbersPastInt32(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, _, err := s.CreateRun(ctx, newRun("r1", "a"), "", store.Change{}); err != nil {
		t.Fatal(err)
	}
	refused := func(what, field string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrIntRange) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v, want ErrIntRange naming %q", what, err, field)
		}
	}
	for _, big := range []int{1 << 31, -1<<31 - 1, 1 << 40} {
		for _, tc := range []struct {
			field  string
			change func(r *store.Run)
		}{
			{"run attempt", func(r *store.Run) { r.Attempt = big }},
			{"run hold pool", func(r *store.Run) { r.Hold = store.Hold{Site: "x", Pool: big, Accelerator: "h100", Count: 1} }},
			{"run hold count", func(r *store.Run) { r.Hold = store.Hold{Site: "x", Accelerator: "h100", Count: big} }},
		} {
			r := newRun("r2", "a")
			tc.change(r)
			_, _, err := s.CreateRun(ctx, r, "", store.Change{})
			refused(fmt.Sprintf("create with %s %d", tc.field, big), tc.field, err)
			_, err = s.UpdateRun(ctx, "r1", func(r *store.Run) (store.Change, error) {
				tc.change(r)
				return store.Change{}, nil
			})
			refused(fmt.Sprintf("update with %s %d", tc.field, big), tc.field, err)
		}
		refused(fmt.Sprintf("heartbeat of attempt %d", big), "heartbeat attempt", s.Heard(ctx, "r1", big))
		if _, heard, err := s.SilentFor(ctx, "r1", big); err != nil || heard {
			t.Errorf("silence of attempt %d: heard %v, %v; want never heard", big, heard, err)
		}
	}
	if _, err := s.GetRun(ctx, "r2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused creation wrote its run: %v", err)
	}
	if got, err := s.GetRun(ctx, "r1"); err != nil || got.Version != 1 {
		t.Errorf("a refused update wrote its run: %+v %v", got, err)
	}
	// The largest number the column holds is kept.
	r := newRun("r3", "a")
	r.Attempt, r.Hold = 1<<31-1, store.Hold{Site: "x", Pool: 1<<31 - 1, Accelerator: "h100", Count: 1<<31 - 1}
	if _, _, err := s.CreateRun(ctx, r, "", store.Change{}); err != nil {
		t.Errorf("create with 2^31-1: %v", err)
	}
	if err := s.Heard(ctx, "r3", 1<<31-1); err != nil {
		t.Errorf("heartbeat of attempt 2^31-1: %v", err)
	}
}

// listRunsPaged lists the runs o selects in pages of size, each after the
// last of the page before, failing the test on a page larger than size
// or on more pages than total runs would need.
func listRunsPaged(t *testing.T, s store.Store, o store.ListOptions, size, total int) []*store.Run {
	t.Helper()
	var got []*store.Run
	p := o
	p.Limit = size
	for pages := 0; ; pages++ {
		page, err := s.ListRuns(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > size || pages > total {
			t.Fatalf("%+v: a page of %d runs, or too many pages", p, len(page))
		}
		got = append(got, page...)
		if len(page) < size {
			return got
		}
		p.After = page[len(page)-1].ID
	}
}
