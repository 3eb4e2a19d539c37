package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/seal"
)

// TestYearOfExportsFromTheLedger stages a 600,000-person dataset from CN
// through the real policy engine, which writes its ledger entry; a second,
// different 600,000-person dataset in the same year then needs a security
// assessment, because the engine reads the ledger and counts 1,200,000.
// Staging the first again adds nobody.
func TestYearOfExportsFromTheLedger(t *testing.T) {
	eng, countries := builtinLaw(t)
	lab := &catalog.Organization{Metadata: catalog.Metadata{Name: "lab"}, Spec: catalog.OrganizationSpec{Headquarters: "CN"}}
	f := newFixture(t, 2, 64<<10, "")
	f.ds.Spec.Subjects = 600000
	st := f.stager()
	st.Law = eng
	exports := FileLedgerExports(f.ledger.Path)
	req := f.request()
	req.Query = policy.Query{AsOf: catalog.MustDate("2026-03-01"), Countries: countries, Org: lab, Exports: exports}
	res, err := st.Stage(context.Background(), req)
	if err != nil {
		t.Fatalf("first 600,000 of the year, with a standard contract: %v", err)
	}
	if res.Organization != "lab" || res.Origin != "CN" || res.Subjects != 600000 || res.Classification != "personal" {
		t.Fatalf("the ledger entry does not say who exported what: %+v", res.Entry)
	}

	second := *f.ds
	second.Metadata.Name = "support-tickets"
	q := req.Query
	q.Datasets = nil
	d := eng.EvaluateTransfer(q, &second, "MY")
	f1 := findDenial(d, "cn-cbdf-2024-assessment")
	if f1 == nil {
		t.Fatalf("the second 600,000 of the year must need an assessment: %+v", d)
	}
	if !strings.Contains(f1.Message, "1200000 personal") || !strings.Contains(f1.Message, "chat-logs of lab: 600000 personal, ledger") {
		t.Errorf("the denial does not show the ledger's count: %q", f1.Message)
	}
	again := eng.EvaluateTransfer(q, f.ds, "MY")
	if !again.Allowed {
		t.Fatalf("staging the same dataset again must add nobody: %+v", again.Denials)
	}
	// Next year the window starts again.
	q.AsOf = catalog.MustDate("2027-01-01")
	if d := eng.EvaluateTransfer(q, &second, "MY"); !d.Allowed {
		t.Fatalf("a new year's first 600,000 needs no assessment: %+v", d.Denials)
	}
}

func findDenial(d policy.Decision, rule string) *policy.Finding {
	for i := range d.Denials {
		if d.Denials[i].Rule == rule {
			return &d.Denials[i]
		}
	}
	return nil
}

// TestLedgerExportsFilter: only entries of the group's organisations, from
// the origin and inside the window count, once per dataset; a staging
// within the origin is reported apart (Within), and never hides an export
// of the same dataset, even with more people.
func TestLedgerExportsFilter(t *testing.T) {
	ents := []Entry{
		{Dataset: "a", Organization: "lab", Origin: "CN", To: "MY", AsOf: "2026-02-01", Classification: "personal", Subjects: 10},
		{Dataset: "a", Organization: "lab", Origin: "CN", To: "SG", AsOf: "2026-03-01", Classification: "personal", Subjects: 10},
		{Dataset: "b", Organization: "sister", Origin: "CN", To: "SG", AsOf: "2026-03-01", Classification: "sensitive-personal", Subjects: 5},
		{Dataset: "c", Organization: "other", Origin: "CN", To: "SG", AsOf: "2026-03-01", Classification: "personal", Subjects: 7},
		{Dataset: "d", Organization: "lab", Origin: "DE", To: "SG", AsOf: "2026-03-01", Classification: "personal", Subjects: 7},
		{Dataset: "e", Organization: "lab", Origin: "CN", To: "CN", AsOf: "2026-03-01", Classification: "personal", Subjects: 7},
		{Dataset: "f", Organization: "lab", Origin: "CN", To: "SG", AsOf: "2025-12-31", Classification: "personal", Subjects: 7},
		{Dataset: "g", Origin: "CN", To: "SG", AsOf: "2026-03-01", Classification: "personal", Subjects: 7},
		{Dataset: "a", Organization: "lab", Origin: "CN", To: "CN", AsOf: "2026-04-01", Classification: "personal", Subjects: 12},
	}
	l := LedgerExports{Entries: func(context.Context, string) ([]Entry, error) { return ents, nil }}
	got, err := l.Exported(context.Background(), "", []string{"lab", "sister"}, "CN", catalog.MustDate("2026-01-01"), catalog.MustDate("2026-12-31"))
	if err != nil {
		t.Fatal(err)
	}
	want := []policy.Export{{Org: "lab", Dataset: "a", Class: "personal", Subjects: 10}, {Org: "sister", Dataset: "b", Class: "sensitive-personal", Subjects: 5},
		{Org: "lab", Dataset: "e", Class: "personal", Subjects: 7, Within: true}, {Org: "lab", Dataset: "a", Class: "personal", Subjects: 12, Within: true}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	bad := LedgerExports{Entries: func(context.Context, string) ([]Entry, error) {
		return []Entry{{Dataset: "x", Organization: "lab", Origin: "CN", To: "SG", AsOf: "someday"}}, nil
	}}
	if _, err := bad.Exported(context.Background(), "", []string{"lab"}, "CN", catalog.MustDate("2026-01-01"), catalog.MustDate("2026-12-31")); err == nil {
		t.Error("an entry with a bad date must be an error")
	}
	down := LedgerExports{Entries: func(context.Context, string) ([]Entry, error) { return nil, errors.New("down") }}
	if _, err := down.Exported(context.Background(), "", []string{"lab"}, "CN", catalog.MustDate("2026-01-01"), catalog.MustDate("2026-12-31")); err == nil {
		t.Error("a ledger that cannot be read must be an error")
	}
}

// TestOpenIntentCounts: a tenant whose home store serves a damaged chunk
// makes its staging fail with its intent open: whether any of it reached
// the site is not known until a reconciliation looks (a write may land
// though its caller saw it fail), so the volume thresholds count the
// dataset from its open intent, until a reconciliation says none of it
// arrived. (A staging that fails after the site took some of its chunks
// confirms those at once; they count as any confirmation does.)
func TestOpenIntentCounts(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 6, 100<<10, "")
	chunks := f.manifest.UniqueChunks()
	if len(chunks) < 2 {
		t.Fatalf("%d chunks, want several", len(chunks))
	}
	// The stager sends in key order: the first key fails it before
	// anything is at the site (one worker, so nothing runs alongside).
	first := chunks[0]
	for _, c := range chunks {
		if dataset.ChunkKey("chat-logs", c.ID) < dataset.ChunkKey("chat-logs", first.ID) {
			first = c
		}
	}
	p := filepath.Join(strings.TrimPrefix(f.home, "file://"), filepath.FromSlash(dataset.ChunkKey("chat-logs", first.ID)))
	data, _ := os.ReadFile(p)
	data[len(data)/2] ^= 1
	os.WriteFile(p, data, 0o644)
	req := f.request()
	req.Query.Org = &catalog.Organization{Metadata: catalog.Metadata{Name: "lab"}, Spec: catalog.OrganizationSpec{Headquarters: "CN"}}
	st := f.stager()
	st.Workers = 1
	if _, err := st.Stage(ctx, req); !errors.Is(err, seal.ErrAuth) {
		t.Fatalf("Stage with a damaged chunk: %v, want an authentication error", err)
	}
	sums, err := Summarize(ctx, f.ledger, "")
	if err != nil || len(sums) != 1 || sums[0].OpenIntents == 0 || sums[0].BytesConfirmed != 0 {
		t.Fatalf("ledger %+v %v, want an open intent and nothing confirmed", sums, err)
	}
	year := func(l LedgerExports) []policy.Export {
		t.Helper()
		got, err := l.Exported(ctx, "", []string{"lab"}, "CN", catalog.MustDate("2026-01-01"), catalog.MustDate("2026-12-31"))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := []policy.Export{{Org: "lab", Dataset: "chat-logs", Class: "personal", Subjects: 1000, Registration: f.staged()}}
	for name, l := range map[string]LedgerExports{"file": FileLedgerExports(f.ledger.Path), "ledger": ExportsOf(f.ledger)} {
		if got := year(l); !slices.Equal(got, want) {
			t.Errorf("%s: exports %+v, want the open intent's dataset %+v", name, got, want)
		}
	}
	// An intent that reconciliation found none of still counts: the site
	// may hide what it received (an overcount where nothing was sent).
	recs, _ := f.ledger.Records(ctx, "", KindIntent)
	for _, r := range recs {
		var in Intent
		json.Unmarshal(r.Payload, &in)
		if err := f.ledger.Append(ctx, "", KindAbandoned, "", Abandoned{Intent: in.ID, Dataset: in.Dataset, Site: in.Site, Reason: "test: none arrived"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := year(FileLedgerExports(f.ledger.Path)); !slices.Equal(got, want) {
		t.Errorf("exports after abandonment %+v, want the abandoned intent's dataset %+v", got, want)
	}
}
