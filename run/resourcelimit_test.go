package run

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/store"
)

// orgDocs is n Organization documents named prefix-0 … prefix-(n-1).
func orgDocs(prefix string, n int) Document {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: %s-%d}\nspec: {headquarters: SG}\n", prefix, i)
	}
	return Document{Name: prefix + ".yaml", Content: b.String()}
}

// TestResourceLimit: a tenant registers at most maxResources resources and
// maxResourceBytes of them, by apply and by a run's documents alike; the
// refusal names the documents and writes nothing, a copy already
// registered still counts once, and another tenant is not affected.
func TestResourceLimit(t *testing.T) {
	defer func(n, b int) { maxResources, maxResourceBytes = n, b }(maxResources, maxResourceBytes)
	maxResources = 5
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	c := f.controller(nil)
	if _, err := c.Apply(ctx, "t1", []Document{orgDocs("a", 4)}, false); err != nil {
		t.Fatal(err)
	}
	count := func(tenant string) int {
		t.Helper()
		rs, err := c.Resources(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	var ie *InputError
	if _, err := c.Apply(ctx, "t1", []Document{orgDocs("b", 2)}, false); !errors.As(err, &ie) || ie.Field != "documents" || !strings.Contains(err.Error(), "6 registered") {
		t.Fatalf("a sixth resource by apply: %v, want an input error naming documents", err)
	}
	if n := count("t1"); n != 4 {
		t.Fatalf("%d resources after a refused apply, want 4", n)
	}
	// The same four again, and one more, fit.
	if _, err := c.Apply(ctx, "t1", []Document{orgDocs("a", 4), orgDocs("b", 1)}, false); err != nil {
		t.Fatalf("four registered again and a fifth: %v", err)
	}
	// A run whose documents would register a sixth (the job's own org).
	if _, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}}); !errors.As(err, &ie) || ie.Field != "documents" {
		t.Fatalf("a run registering a sixth resource: %v, want an input error naming documents", err)
	}
	if n := count("t1"); n != 5 {
		t.Fatalf("%d resources after a refused run, want 5", n)
	}
	// Another tenant registers its own.
	if _, _, err := c.Submit(ctx, "t2", SubmitRequest{Documents: []Document{jobDoc(10, 1)}}); err != nil {
		t.Fatalf("another tenant's run: %v", err)
	}
	// Bytes: one large organisation past the bound (a document may be up
	// to 1 MiB).
	maxResources, maxResourceBytes = 100, 64<<10
	big := orgDocs("c", 1)
	big.Content = strings.Replace(big.Content, "spec: {headquarters: SG}", "spec:\n  headquarters: SG\n  affiliates: ["+strings.Repeat("x-affiliate-name, ", 6000)+"last]", 1)
	if _, err := c.Apply(ctx, "t1", []Document{big}, false); !errors.As(err, &ie) || !strings.Contains(err.Error(), "more than the 65536 a tenant may register") {
		t.Fatalf("100 KB of registrations over a bound of 64 KiB: %v, want an input error on bytes", err)
	}
}

// TestListsCarryNoDocuments: the lists a tenant reads (and the queue) come
// without the run's documents, which may be megabytes; the run itself
// keeps them.
func TestListsCarryNoDocuments(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	c := f.controller(nil)
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	lists := map[string]func() ([]*Run, error){
		"List":     func() ([]*Run, error) { return c.List(ctx, "t1") },
		"ListPage": func() ([]*Run, error) { return c.ListPage(ctx, "t1", "", 10) },
		"ListLive": func() ([]*Run, error) { return c.ListLive(ctx, "t1") },
	}
	for name, list := range lists {
		rs, err := list()
		if err != nil || len(rs) != 1 || rs[0].ID != r.ID || rs[0].Documents != nil || rs[0].Job != "tiny" {
			t.Errorf("%s: %d runs, %v", name, len(rs), err)
		}
	}
	got, err := c.Get(ctx, "t1", r.ID)
	if err != nil || len(got.Documents) != 1 || !strings.Contains(got.Documents[0].Content, "kind: TrainingJob") {
		t.Errorf("the run lost its documents: %v", err)
	}
}
