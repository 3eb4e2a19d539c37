package transfer

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// TestStagingWithoutSealedRecordCountsApart: a run staging whose
// documents differ from the registry (updated since the run was
// submitted) names no sealed register record, and recorded the dataset's
// digest alone, which counted as any one of that digest's sealed
// registrations. 600,000 people staged under a sealed record, then other
// contents swapped in and staged by such a run, counted once when
// 1,200,000 crossed. Such a staging now counts as a registration of its
// own (failing closed): with other contents, and with the same contents
// too, as nothing sealed says which registration it sent.
func TestStagingWithoutSealedRecordCountsApart(t *testing.T) {
	for _, swap := range []bool{true, false} {
		eng, countries := builtinLaw(t)
		lab := &catalog.Organization{Metadata: catalog.Metadata{Name: "lab"}, Spec: catalog.OrganizationSpec{Headquarters: "CN"}}
		f := newFixture(t, 2, 64<<10, "")
		f.ds.Spec.Subjects = 600000
		st := f.stager()
		st.Law = eng
		req := f.request()
		req.Query = policy.Query{AsOf: catalog.MustDate("2026-01-15"), Countries: countries, Org: lab, Exports: FileLedgerExports(f.ledger.Path),
			Registrations: map[string]string{f.ds.Metadata.Name: policy.SealedRegistration(f.ds, 5)}}
		if _, err := st.Stage(context.Background(), req); err != nil {
			t.Fatalf("first 600,000 of the year: %v", err)
		}
		if swap {
			for i, p := range []string{"shard-000", "shard-001"} {
				writeRandom(t, filepath.Join(f.src, p), 64<<10, uint64(100+i))
			}
			f.add(t)
		}
		req.Query.Registrations = nil // the run's documents are not the registry's
		_, err := st.Stage(context.Background(), req)
		var denied *DeniedError
		if !errors.As(err, &denied) {
			t.Fatalf("swapped %v: a staging without a sealed record must count apart from the sealed one and be refused, got %v", swap, err)
		}
		found := false
		for _, d := range denied.Denials {
			if d.Rule == "cn-cbdf-2024-assessment" && strings.Contains(d.Message, "1200000 personal") {
				found = true
			}
		}
		if !found {
			t.Errorf("swapped %v: the refusal must count both stagings' people: %+v", swap, denied.Denials)
		}
	}
}
