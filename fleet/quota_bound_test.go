package fleet

import (
	"fmt"
	"strings"
	"testing"
)

// TestQuotaErrorsBounded: a quotas file's error lists at most
// MaxQuotaErrors problems and counts the rest: each problem was listed,
// and a family of 2,000,000 unknown accelerator ids (4 MB) made an error
// of 219 MB, as many unknown fields made one of the decoder's.
func TestQuotaErrorsBounded(t *testing.T) {
	head := "apiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: a}\nspec:\n"
	var fields strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&fields, "  x%d: 1\n", i)
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown accelerators", head + "  families: [{name: h, nominal: 1, accelerators: [" + strings.Repeat("nvidia-h999,", 999) + "nvidia-h999]}]\n",
			"q.yaml: 900 more problems not shown"},
		{"repeated accelerators", head + "  families: [{name: h, nominal: 1, accelerators: [" + strings.Repeat("nvidia-h100-sxm,", 1000) + "nvidia-h100-sxm]}]\n",
			"q.yaml: 900 more problems not shown"},
		{"unknown fields", head + fields.String(), "q.yaml: 900 more problems not shown"},
	} {
		_, err := ParseQuotas("q.yaml", []byte(tc.doc), accelerators(t))
		if err == nil {
			t.Fatalf("%s: accepted", tc.name)
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) > MaxQuotaErrors+2 || !strings.HasPrefix(lines[len(lines)-1], tc.want) {
			t.Errorf("%s: %d lines, the last %q; want at most %d, the last %q", tc.name, len(lines), lines[len(lines)-1], MaxQuotaErrors+2, tc.want)
		}
	}
}

// TestQuotaYAMLBounded: a quotas file is held to the catalog loader's
// bounds on nodes and on what aliases add before the YAML library decodes
// it. The library takes up to about 400,000 values from aliases, and any
// number written out: 100 aliases of a list of 3,900 ids (67 KB) took
// 1.5 s to refuse, one list of 16,000,000 (32 MB) 90 s.
func TestQuotaYAMLBounded(t *testing.T) {
	head := "apiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: a}\nspec:\n"
	var aliases strings.Builder
	aliases.WriteString(head + "  cohort: c\n  families:\n")
	fmt.Fprintf(&aliases, "    - {name: f0, nominal: 1, accelerators: &a [%snvidia-h100-sxm]}\n", strings.Repeat("nvidia-h100-sxm,", 3900-1))
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&aliases, "    - {name: f%d, nominal: 1, accelerators: *a}\n", i)
	}
	long := head + "  families: [{name: h, nominal: 1, accelerators: [" + strings.Repeat("x,", 1_000_000) + "x]}]\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"aliases", aliases.String(), "q.yaml: line 1: aliases expand to more than 10000 values"},
		{"nodes", long, "q.yaml: line 5: more than 100000 nodes in one document"},
	} {
		_, err := ParseQuotas("q.yaml", []byte(tc.doc), accelerators(t))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: %.300v\nwant %q", tc.name, err, tc.want)
		}
	}
}

// TestQuotaCountsNamed: a nominal or borrowing limit that is not a whole
// number in range is refused naming its field and what it holds. A word,
// a list or a number past an int was the decoder's error, naming a line
// and a Go type but not the field; -.inf and -1e20 were read as
// -9223372036854775808 and refused as that number.
func TestQuotaCountsNamed(t *testing.T) {
	head := "apiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: a}\nspec:\n  cohort: c\n  families:\n"
	for _, tc := range []struct{ value, want string }{
		{"-.inf", "borrowingLimit: -.inf: want a whole number of accelerators, 0 to 16777216"},
		{".nan", "borrowingLimit: .nan: want a whole number"},
		{"1e30", "borrowingLimit: 1e30: want a whole number"},
		{"-99999999999999999999", "borrowingLimit: -99999999999999999999: want a whole number"},
		{"99999999999999999999", "borrowingLimit: 99999999999999999999: want a whole number"},
		{"true", "borrowingLimit: true: want a whole number"},
		{`"8"`, `borrowingLimit: "8": want a whole number`},
		{"[1]", "borrowingLimit: a list: want a whole number"},
		{"{n: 1}", "borrowingLimit: a mapping: want a whole number"},
	} {
		doc := head + "    - {name: h, accelerators: [nvidia-h100-sxm], nominal: 1, borrowingLimit: " + tc.value + "}\n"
		_, err := ParseQuotas("q.yaml", []byte(doc), accelerators(t))
		if want := "q.yaml: document 1 (Quota/a) spec.families[0]." + tc.want; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v\nwant %q", tc.value, err, want)
		}
		doc = head + "    - {name: h, accelerators: [nvidia-h100-sxm], nominal: " + tc.value + "}\n"
		_, err = ParseQuotas("q.yaml", []byte(doc), accelerators(t))
		if want := "q.yaml: document 1 (Quota/a) spec.families[0]." + strings.Replace(tc.want, "borrowingLimit", "nominal", 1); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("nominal %s: %v\nwant %q", tc.value, err, want)
		}
	}
}
