package transfer

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// TestDroppedAffiliateKeepsTheExport: lab, declared with the affiliate
// sister, stages 600,000 people out of CN; its ledger entry records the
// group it was judged with. lab then drops its affiliates (`apply
// --update`), and sister's 600,000 were counted alone, under the
// 1,000,000-person threshold of the CAC assessment. The year's group is
// every affiliation recorded in it, so the assessment is required; in the
// next year's window it is not.
func TestDroppedAffiliateKeepsTheExport(t *testing.T) {
	eng, countries := builtinLaw(t)
	org := func(name string, affiliates ...string) *catalog.Organization {
		return &catalog.Organization{Metadata: catalog.Metadata{Name: name}, Spec: catalog.OrganizationSpec{Headquarters: "CN", Affiliates: affiliates}}
	}
	lab, sister := org("lab", "sister"), org("sister")
	f := newFixture(t, 2, 64<<10, "")
	f.ds.Spec.Subjects = 600000
	st := f.stager()
	st.Law = eng
	exports := FileLedgerExports(f.ledger.Path)
	req := f.request()
	req.Query = policy.Query{AsOf: catalog.MustDate("2026-03-01"), Countries: countries, Org: lab,
		Organizations: map[string]*catalog.Organization{"lab": lab, "sister": sister}, Exports: exports}
	res, err := st.Stage(context.Background(), req)
	if err != nil {
		t.Fatalf("lab's 600,000 with a standard contract: %v", err)
	}
	if !slices.Equal(res.Group, []string{"lab", "sister"}) {
		t.Fatalf("the ledger entry must record the group it was judged with: %+v", res.Entry)
	}

	// The index the server reads finds lab's export by its group too.
	index := NewExportIndex(func(ctx context.Context, after int64) ([]Record, error) {
		all, err := readFileLedger(f.ledger.Path)
		var out []Record
		for _, r := range all {
			if r.Seq > after {
				out = append(out, r)
			}
		}
		return out, err
	})
	for _, x := range []policy.Exports{exports, index} {
		got, err := x.Exported(context.Background(), "", []string{"sister"}, "CN", catalog.MustDate("2026-01-01"), catalog.MustDate("2026-12-31"))
		if err != nil || len(got) != 1 || got[0].Org != "lab" || got[0].Group != "lab,sister" {
			t.Fatalf("%T: sister's question must find lab's export by its recorded group: %+v, %v", x, got, err)
		}
	}

	dropped := org("lab")
	second := *f.ds
	second.Metadata.Name = "support-tickets"
	q := policy.Query{AsOf: catalog.MustDate("2026-06-01"), Countries: countries, Org: sister,
		Organizations: map[string]*catalog.Organization{"lab": dropped, "sister": sister}, Exports: exports}
	d := eng.EvaluateTransfer(q, &second, "MY")
	f1 := findDenial(d, "cn-cbdf-2024-assessment")
	if f1 == nil {
		t.Fatalf("sister's 600,000 after lab's in the same group's year must need an assessment: %+v", d)
	}
	if !strings.Contains(f1.Message, "1200000 personal") || !strings.Contains(f1.Message, "chat-logs of lab: 600000 personal, ledger") {
		t.Errorf("the denial must count lab's export: %q", f1.Message)
	}
	q.AsOf = catalog.MustDate("2027-01-01")
	if d := eng.EvaluateTransfer(q, &second, "MY"); findDenial(d, "cn-cbdf-2024-assessment") != nil {
		t.Errorf("next year's window records no link: %+v", d.Denials)
	}
}

// BenchmarkWindowGroup is one group total's reads of an ExportIndex of
// 4,000 confirmations from CN (2,000 datasets of lab, 2,000 of sister):
// with no group recorded (one read), and with every one of sister's
// entries recording the group lab and sister (a second read, for
// sister's records, once the first finds the link).
func BenchmarkWindowGroup(b *testing.B) {
	for _, linked := range []bool{false, true} {
		name := "unlinked"
		if linked {
			name = "linked"
		}
		b.Run(name, func(b *testing.B) {
			m := &memRecords{}
			for i := range 2000 {
				for _, org := range []string{"lab", "sister"} {
					e := Entry{Kind: KindDataset, Dataset: fmt.Sprintf("d%d", i), Organization: org, Origin: "CN", To: "SG", AsOf: "2026-03-01",
						Classification: "personal", Subjects: 10}
					if linked && org == "sister" {
						e.Group = []string{"lab", "sister"}
					}
					m.add(b, "t1", KindTransfer, e)
				}
			}
			x := NewExportIndex(m.read)
			ctx := context.Background()
			since, until := catalog.MustDate("2026-01-01"), catalog.MustDate("2026-12-31")
			want := 2000
			if linked {
				want = 4000
			}
			b.ResetTimer()
			for range b.N {
				_, xs, err := policy.WindowGroup(ctx, x, "t1", []string{"lab"}, "CN", since, until)
				if err != nil || len(xs) != want {
					b.Fatalf("%d exports, %v; want %d", len(xs), err, want)
				}
			}
		})
	}
}
