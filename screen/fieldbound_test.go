package screen

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// longText is size bytes of words that come near no listed or
// organisation's name.
func longText(i, size int) string {
	var b strings.Builder
	for w := 0; b.Len() < size; w++ {
		fmt.Fprintf(&b, "Qx%dv%d ", i, w)
	}
	return strings.TrimSpace(b.String()[:size])
}

// longFieldList is a list file in the CSL's JSON of n entries, each with
// an alternate name and an address of size bytes.
func longFieldList(t testing.TB, n, size int) []byte {
	t.Helper()
	var recs []map[string]any
	for i := range n {
		recs = append(recs, map[string]any{"id": fmt.Sprint("e", i), "source": elSource, "name": fmt.Sprintf("Party %d Trading", i),
			"alt_names": []string{longText(i, size)}, "addresses": []map[string]any{{"address": longText(i+n, size), "country": "CN"}}})
	}
	data, err := json.Marshal(map[string]any{"results": recs})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestImportBoundsEachField: an import bounded an entry's name but not
// its alternate names or the parts of its addresses, so a hostile list of
// alternate names of hundreds of KB made every screening slow (each name
// of an organisation is compared with each of them). An import refuses
// such a file, naming the entry and the field, in the CSV and the JSON,
// and changes nothing; fields at the bound are taken. A stored list that
// holds longer fields, imported before the bound, still loads and
// screens.
func TestImportBoundsEachField(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if _, err := s.Import("ok.json", longFieldList(t, 3, maxField)); err != nil {
		t.Fatalf("fields at the bound: %v", err)
	}
	stored, err := os.ReadFile(s.listPath())
	if err != nil {
		t.Fatal(err)
	}
	long := maxField + 1
	for _, c := range []struct {
		name string
		rec  map[string]any
		want []string
	}{
		{"alternate name", map[string]any{"alt_names": []string{"Short", longText(0, long)}}, []string{"results[1]", `"e1"`, "alt_names[1]"}},
		{"address", map[string]any{"addresses": []map[string]any{{"address": longText(0, long), "country": "CN"}}}, []string{"results[1]", `"e1"`, "addresses[0].address"}},
		{"city", map[string]any{"addresses": []map[string]any{{"city": "X"}, {"city": longText(0, long)}}}, []string{"results[1]", "addresses[1].city"}},
		{"state", map[string]any{"addresses": []map[string]any{{"state": longText(0, long)}}}, []string{"addresses[0].state"}},
		{"postal code", map[string]any{"addresses": []map[string]any{{"postal_code": longText(0, long)}}}, []string{"addresses[0].postal_code"}},
		{"country", map[string]any{"addresses": []map[string]any{{"country": longText(0, long)}}}, []string{"addresses[0].country"}},
		{"programme", map[string]any{"programs": []string{longText(0, long)}}, []string{"programs[0]"}},
		{"id", map[string]any{"id": longText(0, long)}, []string{"results[1]", "id:"}},
		{"licence policy", map[string]any{"license_policy": longText(0, long)}, []string{"license_policy"}},
	} {
		var recs []map[string]any
		for i := range 3 {
			r := map[string]any{"id": fmt.Sprint("e", i), "source": elSource, "name": fmt.Sprintf("Party %d", i)}
			if i == 1 {
				for k, v := range c.rec {
					r[k] = v
				}
			}
			recs = append(recs, r)
		}
		_, _, err := s.ImportWith("hostile.json", cslJSON(t, recs...), ImportOptions{Partial: true})
		if err == nil {
			t.Errorf("%s of %d bytes: imported", c.name, long)
			continue
		}
		for _, w := range append(c.want, "hostile.json", fmt.Sprint(maxField)) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s of %d bytes: the error does not say %q: %.300s", c.name, long, w, err)
			}
		}
		if len(err.Error()) > 1000 {
			t.Errorf("%s: the error quotes the field: %d bytes", c.name, len(err.Error()))
		}
	}
	csv := "source,name,alt_names,addresses\n" +
		elSource + ",Party One,Short; Other,\"1 Road, CN\"\n" +
		elSource + ",Party Two,Short; " + longText(0, long) + ",\n"
	if _, _, err := s.ImportWith("hostile.csv", []byte(csv), ImportOptions{Partial: true}); err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "alt_names[1]") {
		t.Errorf("a CSV alternate name of %d bytes: %.300v", long, err)
	}
	csv = "source,name,alt_names,addresses\n" + elSource + ",Party Two,,\"1 Road, CN; " + longText(0, long) + ", CN\"\n"
	if _, _, err := s.ImportWith("hostile.csv", []byte(csv), ImportOptions{Partial: true}); err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "addresses[1]") {
		t.Errorf("a CSV address of %d bytes: %.300v", long, err)
	}
	if now, err := os.ReadFile(s.listPath()); err != nil || string(now) != string(stored) {
		t.Errorf("a refused import changed the stored list (%v)", err)
	}

	// A list stored before the bound, with longer fields, still loads.
	l, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	l.Entries[0].AltNames = []string{longText(0, 10*maxField)}
	l.Entries[0].Addresses[0].City = longText(1, 10*maxField)
	data, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.listPath(), data, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := s.Screen("", org("lab", "DE", "Example Frontier Lab"))
	if err != nil || res[0].Status != catalog.RestrictedNone {
		t.Errorf("a stored list with fields over the bound: %v %v", res, err)
	}
}

// BenchmarkScreenLongestImportedNames screens an organisation against a
// list of 100 entries whose alternate name and address are 400 KB, or as
// long as an import takes (the size metric): the cost a hostile list
// puts on every screening.
func BenchmarkScreenLongestImportedNames(b *testing.B) {
	var es []Entry
	var size int
	for _, size = range []int{400 << 10, maxField} {
		var err error
		if es, err = Parse("list.json", longFieldList(b, 100, size)); err == nil {
			break
		}
	}
	ix := newIndex(&List{Entries: es})
	o := org("lab", "CN", "Example Frontier Model Laboratory", "Frontier Lab Holding")
	o.Spec.Addresses = []string{"1 Harbour Road, Tianjin"}
	for b.Loop() {
		if r := ix.screen("", o, nil); r.Status != catalog.RestrictedNone {
			b.Fatal(r.Source)
		}
	}
	b.ReportMetric(float64(size), "size")
}
