package transfer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// TestContentsSwappedInPlaceCountAgain registers a 600,000-person dataset
// from CN once (one sealed register record) and stages it; the tenant
// then swaps the contents in the home store for 600,000 other people,
// the document unchanged (no new register record), and stages again. The
// registration was one, so the law counted 600,000 people once when
// 1,200,000 crossed, under the 1,000,000 that needs an assessment. A
// staging now records what it sent (the contents of its manifest), and
// other contents count as other people: the second staging is refused.
// Staging the first contents again adds nobody.
func TestContentsSwappedInPlaceCountAgain(t *testing.T) {
	eng, countries := builtinLaw(t)
	lab := &catalog.Organization{Metadata: catalog.Metadata{Name: "lab"}, Spec: catalog.OrganizationSpec{Headquarters: "CN"}}
	f := newFixture(t, 2, 64<<10, "")
	f.ds.Spec.Subjects = 600000
	name := f.ds.Metadata.Name
	st := f.stager()
	st.Law = eng
	req := f.request()
	req.Query = policy.Query{AsOf: catalog.MustDate("2026-01-15"), Countries: countries, Org: lab, Exports: FileLedgerExports(f.ledger.Path),
		Registrations: map[string]string{name: policy.SealedRegistration(f.ds, 5)}}
	if _, err := st.Stage(context.Background(), req); err != nil {
		t.Fatalf("first 600,000 of the year: %v", err)
	}
	if _, err := st.Stage(context.Background(), req); err != nil {
		t.Fatalf("the same contents staged again must add nobody: %v", err)
	}

	// Other people, same document: same name, head count, store, record.
	first := append([]byte(nil), mustRead(t, filepath.Join(f.src, "shard-000"))...)
	for i, p := range []string{"shard-000", "shard-001"} {
		writeRandom(t, filepath.Join(f.src, p), 64<<10, uint64(100+i))
	}
	f.add(t)
	_, err := st.Stage(context.Background(), req)
	var denied *DeniedError
	if !errors.As(err, &denied) {
		t.Fatalf("600,000 other people swapped in under the same registration must be counted again and refused, got %v", err)
	}
	found := false
	for _, d := range denied.Denials {
		if d.Rule == "cn-cbdf-2024-assessment" && strings.Contains(d.Message, "1200000 personal") {
			found = true
		}
	}
	if !found {
		t.Errorf("the refusal must count both contents' people: %+v", denied.Denials)
	}

	// The first contents back: the people already counted.
	if err := os.WriteFile(filepath.Join(f.src, "shard-000"), first, 0o644); err != nil {
		t.Fatal(err)
	}
	writeRandom(t, filepath.Join(f.src, "shard-001"), 64<<10, 2)
	f.add(t)
	if _, err := st.Stage(context.Background(), req); err != nil {
		t.Errorf("the contents staged first, staged again, must add nobody: %v", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// staged is the registration a staging of the fixture's dataset, as last
// added, records: its digest and the contents it read.
func (f *fixture) staged() string {
	return policy.StagedRegistration(policy.DatasetRegistration(f.ds), ContentsDigest(f.manifest.UniqueChunks()))
}
