package fleet

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/textsafe"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/store"
)

func accelerators(t testing.TB) map[string]*catalog.Accelerator {
	t.Helper()
	w, err := catalog.Assemble(planner.AssumptionKeys(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return w.Accelerators
}

const labQuotas = `apiVersion: meridian.dev/v1alpha1
kind: Quota
metadata: {name: vision}
spec:
  cohort: lab
  families:
    - {name: h100, accelerators: [nvidia-h100-sxm, nvidia-h100-pcie], nominal: 64, borrowingLimit: 16}
---
apiVersion: meridian.dev/v1alpha1
kind: Quota
metadata: {name: speech}
spec:
  cohort: lab
  families:
    - {name: h100, accelerators: [nvidia-h100-pcie, nvidia-h100-sxm], nominal: 32}
    - {name: mi300, accelerators: [amd-mi300x], nominal: 8, borrowingLimit: 0}
---
apiVersion: meridian.dev/v1alpha1
kind: Quota
metadata: {name: solo}
spec:
  families:
    - {name: h100, accelerators: [nvidia-h100-sxm], nominal: 8}
`

func TestQuotaLimits(t *testing.T) {
	q, err := ParseQuotas("quotas.yaml", []byte(labQuotas), accelerators(t))
	if err != nil {
		t.Fatal(err)
	}
	byName := func(ls []store.Limit) map[string]store.Limit {
		m := map[string]store.Limit{}
		for _, l := range ls {
			m[strings.Fields(l.Name)[0]] = l
		}
		return m
	}
	// vision: 64 nominal + at most 16 borrowed; the cohort 96 in all.
	v := byName(q.Limits("vision", "nvidia-h100-pcie"))
	if v["quota"].Max != 80 || v["cohort"].Max != 96 || len(v["cohort"].Tenants) != 2 || len(v["quota"].Accelerators) != 2 {
		t.Errorf("vision: %+v", v)
	}
	// speech may borrow all that vision lends (no limit given): 32 + 64.
	if s := byName(q.Limits("speech", "nvidia-h100-sxm")); s["quota"].Max != 96 {
		t.Errorf("speech: %+v", s)
	}
	// speech's mi300 family: borrowing 0, and nobody else has one.
	if s := byName(q.Limits("speech", "amd-mi300x")); s["quota"].Max != 8 || s["cohort"].Max != 8 {
		t.Errorf("speech mi300: %+v", s)
	}
	// No cohort: the nominal alone.
	if s := q.Limits("solo", "nvidia-h100-sxm"); len(s) != 1 || s[0].Max != 8 {
		t.Errorf("solo: %+v", s)
	}
	// Closed: a tenant without a quota for a covered accelerator gets 0;
	// an accelerator no quota names is bounded by capacity alone.
	if s := q.Limits("stranger", "nvidia-h100-sxm"); len(s) != 1 || s[0].Max != 0 {
		t.Errorf("stranger: %+v", s)
	}
	if s := q.Limits("solo", "nvidia-h100-pcie"); len(s) != 1 || s[0].Max != 0 {
		t.Errorf("solo's pcie (another tenant's family): %+v", s)
	}
	if s := q.Limits("stranger", "nvidia-b200"); s != nil {
		t.Errorf("uncovered accelerator limited: %+v", s)
	}
	var none *Quotas
	if none.Limits("x", "nvidia-h100-sxm") != nil {
		t.Error("nil quotas limit")
	}
}

func TestQuotaErrors(t *testing.T) {
	head := "apiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: a}\nspec:\n"
	for _, tc := range []struct{ doc, want string }{
		{head + "  families: []\n", "spec.families: give at least one family"},
		{head + "  families: [{name: h, accelerators: [nvidia-h999], nominal: 1}]\n", `spec.families[0].accelerators[0]: "nvidia-h999" is not an accelerator`},
		{head + "  families: [{name: h, accelerators: [nvidia-h100-sxm], nominal: -1}]\n", "spec.families[0].nominal: -1"},
		{head + "  families: [{name: h, accelerators: [nvidia-h100-sxm], nominal: 1, borrowingLimit: 4}]\n", "spec.families[0].borrowingLimit: 4: a tenant borrows only from its cohort"},
		{head + "  families: [{name: h, accelerators: [nvidia-h100-sxm], nominal: 1}, {name: g, accelerators: [nvidia-h100-sxm], nominal: 1}]\n", "spec.families[1].accelerators[0]: nvidia-h100-sxm is in family h already"},
		{head + "  families: [{name: h, accelerators: [nvidia-h100-sxm], nominal: 1, extra: 2}]\n", "field extra not found"},
		{"apiVersion: v9\nkind: Quota\nmetadata: {name: A}\nspec:\n  families: [{name: h, accelerators: [nvidia-h100-sxm], nominal: 1}]\n", "apiVersion"},
		{head + "  families: [{name: h, accelerators: [nvidia-h100-sxm], nominal: 1}]\n---\n" + head + "  families: [{name: h, accelerators: [nvidia-h100-sxm], nominal: 1}]\n", "metadata.name: tenant a has a Quota already"},
		{head + "  cohort: c\n  families: [{name: h, accelerators: [nvidia-h100-sxm], nominal: 1}]\n---\n" + strings.Replace(head, "name: a", "name: b", 1) + "  cohort: c\n  families: [{name: h, accelerators: [nvidia-h100-pcie], nominal: 1}]\n", "differs from"},
		// One accelerator in two families of one cohort: each family's
		// cohort limit would count the other family's holds against its
		// own members' nominal, so a member using its own quota would
		// keep another from its guaranteed nominal.
		{head + "  cohort: c\n  families: [{name: h, accelerators: [nvidia-h100-sxm], nominal: 8}]\n---\n" + strings.Replace(head, "name: a", "name: b", 1) + "  cohort: c\n  families: [{name: g, accelerators: [nvidia-h100-sxm, nvidia-a100-80gb], nominal: 16}]\n",
			"spec.families[0].accelerators: nvidia-h100-sxm is in family h of Quota/a of the same cohort c"},
		{"", "no Quota documents"},
	} {
		_, err := ParseQuotas("q.yaml", []byte(tc.doc), accelerators(t))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "q.yaml") {
			t.Errorf("%q:\n got %v\nwant %q", tc.doc, err, tc.want)
		}
	}
}

// FuzzParseQuotas: no input panics; an accepted file's tenants are
// well-formed and its limits never negative; every line of an error starts
// with the file's name and holds no control character from the file.
func FuzzParseQuotas(f *testing.F) {
	f.Add([]byte(labQuotas))
	f.Add([]byte("kind: Quota\n"))
	f.Add([]byte("apiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: \"a\\e\"}\nspec:\n  cohort: \"c\\n\"\n  families: [{name: h, accelerators: [nvidia-h100-sxm], nominal: 1e30, borrowingLimit: -1}]\n"))
	accs := accelerators(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := ParseQuotas("f.yaml", data, accs)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				// The decoder's errors go on over lines of their own.
				if !(strings.HasPrefix(line, "f.yaml: ") || strings.HasPrefix(line, "  line ")) || !textsafe.Safe(line) {
					t.Fatalf("error line %q", line)
				}
			}
			return
		}
		for _, tenant := range q.Tenants() {
			if !ValidTenant(tenant) {
				t.Fatalf("tenant %q accepted", tenant)
			}
			for a := range accs {
				for _, l := range q.Limits(tenant, a) {
					if l.Max < 0 {
						t.Fatalf("limit %+v", l)
					}
				}
			}
		}
	})
}

// TestExampleQuotas: the example file docs/fleet.md points to is valid.
func TestExampleQuotas(t *testing.T) {
	data, err := os.ReadFile("../examples/fleet/quotas.yaml")
	if err != nil {
		t.Fatal(err)
	}
	q, err := ParseQuotas("examples/fleet/quotas.yaml", data, accelerators(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Tenants(); strings.Join(got, ",") != "platform,speech,vision" {
		t.Errorf("tenants %v", got)
	}
	if l := q.Limits("vision", "nvidia-h200"); len(l) != 2 || l[0].Max != 96 || l[1].Max != 96 {
		t.Errorf("vision: %+v", l)
	}
}

// TestQuotaFractionRefused: the YAML decoder puts a number with a fraction
// into an int without a word, so that an operator's nominal: 16.9 was in
// force as 16 and borrowingLimit: 0.5 as 0, and nothing said so. Such a
// number is refused with its field named; a whole number written as a
// float (64.0, 1e3) means what it says.
func TestQuotaFractionRefused(t *testing.T) {
	head := "apiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: vision}\nspec:\n  cohort: lab\n  families:\n"
	for _, c := range []struct{ family, want string }{
		{"{name: h100, accelerators: [nvidia-h100-sxm], nominal: 16.9}", "spec.families[0].nominal: 16.9: want a whole number"},
		{"{name: h100, accelerators: [nvidia-h100-sxm], nominal: 8, borrowingLimit: 0.5}", "spec.families[0].borrowingLimit: 0.5: want a whole number"},
		{"{name: h100, accelerators: [nvidia-h100-sxm], nominal: 8}\n    - {name: mi300, accelerators: [amd-mi300x], nominal: -0.5}", "spec.families[1].nominal: -0.5: want a whole number"},
		{"&h {name: h100, accelerators: [nvidia-h100-sxm], nominal: 2.5}\n    - {<<: *h, name: mi300, accelerators: [amd-mi300x]}", "spec.families[1].nominal: 2.5: want a whole number"},
	} {
		_, err := ParseQuotas("q.yaml", []byte(head+"    - "+c.family+"\n"), accelerators(t))
		if err == nil || !strings.Contains(err.Error(), "q.yaml: document 1 (Quota/vision) "+c.want) {
			t.Errorf("%s: %v, want an error naming %s", c.family, err, c.want)
		}
	}
	q, err := ParseQuotas("q.yaml", []byte(head+"    - {name: h100, accelerators: [nvidia-h100-sxm], nominal: 64.0, borrowingLimit: 1e3}\n"), accelerators(t))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := q.Nominal("vision", "nvidia-h100-sxm"); n != 64 {
		t.Errorf("nominal: 64.0 read as %d", n)
	}
}

// cohortQuotasYAML is n tenants of one cohort, each with a nominal of 8
// H100s, as a file.
func cohortQuotasYAML(n int) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: t%d}\nspec:\n  cohort: lab\n  families:\n    - {name: h100, accelerators: [nvidia-h100-sxm, nvidia-h100-pcie], nominal: 8}\n", i)
	}
	return []byte(b.String())
}

// cohortQuotas is n tenants of one cohort, each with a nominal of 8 H100s.
func cohortQuotas(t testing.TB, n int) *Quotas {
	t.Helper()
	q, err := ParseQuotas("quotas.yaml", cohortQuotasYAML(n), accelerators(t))
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestQuotaLimitsWorkedOutOnce: the admission loop asks for a tenant's
// limits for every option of every waiting run, and each answer added up
// the nominal quota of every member of the tenant's cohort and formatted
// the limits' names again (0.1 ms a call in a cohort of 1,000). The limits
// are worked out when the quotas are read: asking costs no allocation,
// and gives what the quotas say.
func TestQuotaLimitsWorkedOutOnce(t *testing.T) {
	q := cohortQuotas(t, 1000)
	ls := q.Limits("t5", "nvidia-h100-pcie")
	if len(ls) != 2 || ls[0].Max != 8000 || ls[1].Max != 8000 || len(ls[1].Tenants) != 1000 ||
		!slices.Equal(ls[0].Tenants, []string{"t5"}) || !strings.HasPrefix(ls[1].Name, "cohort lab's quota for family h100") {
		t.Fatalf("limits of t5 in a cohort of 1,000 with 8 each: %+v", ls)
	}
	if n := testing.AllocsPerRun(100, func() { q.Limits("t5", "nvidia-h100-pcie") }); n != 0 {
		t.Errorf("Limits allocates %v times a call, want 0: it works out again what the quotas fixed", n)
	}
	if ls := q.Limits("nobody", "nvidia-h100-sxm"); len(ls) != 1 || ls[0].Max != 0 {
		t.Errorf("a tenant without a quota: %+v, want one limit of 0", ls)
	}
}

// BenchmarkQuotaLimits is one tenant's limits in a cohort of 10 and of
// 1,000 tenants.
func BenchmarkQuotaLimits(b *testing.B) {
	for _, n := range []int{10, 1000} {
		q := cohortQuotas(b, n)
		b.Run(fmt.Sprintf("cohort=%d", n), func(b *testing.B) {
			for b.Loop() {
				q.Limits("t5", "nvidia-h100-sxm")
			}
		})
	}
}

// BenchmarkParseQuotas reads a file of the quotas of 1,000 tenants.
func BenchmarkParseQuotas(b *testing.B) {
	data, accs := cohortQuotasYAML(1000), accelerators(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseQuotas("quotas.yaml", data, accs); err != nil {
			b.Fatal(err)
		}
	}
}

// TestQuotaEmptyDocuments: a document with nothing in it (a "---" that
// ends the file, or one holding only comments) was decoded as a Quota with
// every field missing, and the whole file refused, where the catalog's
// files read the same document as none. It is skipped; a file of nothing
// but such documents is still refused.
func TestQuotaEmptyDocuments(t *testing.T) {
	one := "apiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: vision}\nspec:\n  families:\n    - {name: h100, accelerators: [nvidia-h100-sxm], nominal: 8}\n"
	for _, data := range []string{
		"---\n" + one + "---\n",
		one + "---\n# retired: speech\n---\n" + strings.Replace(one, "vision", "solo", 1),
		one + "--- ~\n",
	} {
		q, err := ParseQuotas("q.yaml", []byte(data), accelerators(t))
		if err != nil {
			t.Errorf("%q: %v", data, err)
			continue
		}
		if n, ok := q.Nominal("vision", "nvidia-h100-sxm"); !ok || n != 8 {
			t.Errorf("%q: vision's nominal %d, %v; want 8", data, n, ok)
		}
	}
	if _, err := ParseQuotas("q.yaml", []byte("---\n# nothing yet\n---\n"), accelerators(t)); err == nil || !strings.Contains(err.Error(), "q.yaml: no Quota documents") {
		t.Errorf("a file of empty documents: %v, want it refused as holding no Quota", err)
	}
}

// An accelerator no quota names is bounded by capacity alone, for every
// tenant: a variant added to the catalog is quota-free until a quota names
// it. Reading quotas says so, naming each; it says nothing when the quotas
// name every accelerator.
func TestQuotaUnnamedAcceleratorsWarned(t *testing.T) {
	accs := accelerators(t)
	added := *accs["nvidia-h100-sxm"]
	accs["nvidia-h100-nvl"] = &added
	q, err := ParseQuotas("quotas.yaml", []byte(labQuotas), accs)
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{"nvidia-h100-sxm": true, "nvidia-h100-pcie": true, "amd-mi300x": true}
	var want []string
	for a := range accs {
		if !named[a] {
			want = append(want, a)
		}
	}
	slices.Sort(want)
	if got := q.Unnamed(); !slices.Equal(got, want) {
		t.Errorf("unnamed: %v, want %v", got, want)
	}
	w := q.UnnamedWarning()
	for _, a := range want {
		if !strings.Contains(w, a) {
			t.Errorf("warning %q does not name %s", w, a)
		}
	}
	for a := range named {
		if strings.Contains(w, a+",") || strings.HasSuffix(w, a) || strings.Contains(w, a+" ") {
			t.Errorf("warning %q names %s, which a quota names", w, a)
		}
	}
	if !strings.Contains(w, "nvidia-h100-nvl") || !strings.Contains(w, "capacity") {
		t.Errorf("warning %q: want the added variant named and what bounds it", w)
	}

	all := slices.Sorted(mapsKeys(accs))
	doc := "apiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: vision}\nspec:\n  families:\n    - {name: all, accelerators: [" + strings.Join(all, ", ") + "], nominal: 8}\n"
	q, err = ParseQuotas("quotas.yaml", []byte(doc), accs)
	if err != nil {
		t.Fatal(err)
	}
	if u, w := q.Unnamed(), q.UnnamedWarning(); len(u) != 0 || w != "" {
		t.Errorf("every accelerator named: unnamed %v, warning %q", u, w)
	}
	var none *Quotas
	if none.UnnamedWarning() != "" {
		t.Error("nil quotas warn")
	}
}

// TestQuotaErrorsEscapeControlCharacters: a quotas file's names went into
// its errors as written, so that a tenant or cohort name holding a newline
// or a terminal escape forged lines in the server's log or rewrote the
// operator's screen. Such text is shown quoted, its control characters
// escaped.
func TestQuotaErrorsEscapeControlCharacters(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: \"a\\nlevel=INFO msg=forged\"}\nspec:\n  families: [{name: h, accelerators: [nvidia-h100-sxm], nominal: 1}]\n",
		"apiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: \"a\\e[2J\"}\nspec:\n  families: [{name: h, accelerators: [nvidia-h100-sxm], nominal: 1}]\n",
		"apiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: a}\nspec:\n  cohort: \"c\\r\"\n  families: [{name: h, accelerators: [nvidia-h100-sxm], nominal: 1}]\n" +
			"---\napiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: b}\nspec:\n  cohort: \"c\\r\"\n  families: [{name: h, accelerators: [amd-mi300x], nominal: 1}]\n",
		"apiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: a}\nspec:\n  families: [{name: h, accelerators: [nvidia-h100-sxm], nominal: \"\\n  line\\e[2J\"}]\n",
		// A family's name that is refused was still named, as written, in
		// the error of an accelerator given again in a later family.
		"apiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: a}\nspec:\n  families: [{name: \"h\\nlevel=INFO msg=forged\\e[2J\", accelerators: [nvidia-h100-sxm], nominal: 1}, {name: g, accelerators: [nvidia-h100-sxm], nominal: 1}]\n",
		"apiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: a}\nspec:\n  families: [{name: \"h\\u202e\\u2028forged\", accelerators: [nvidia-h100-sxm], nominal: 1}, {name: g, accelerators: [nvidia-h100-sxm], nominal: 1}]\n",
	} {
		_, err := ParseQuotas("q.yaml", []byte(doc), accelerators(t))
		if err == nil {
			t.Fatalf("accepted %q", doc)
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if !textsafe.Safe(line) || !(strings.HasPrefix(line, "q.yaml: ") || strings.HasPrefix(line, "  line ")) {
				t.Errorf("error line %q is not one of the file's errors, escaped", line)
			}
		}
	}
}
