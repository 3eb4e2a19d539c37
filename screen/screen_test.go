package screen

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/catalog"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestParseFormats: the published CSV (both layouts) and JSON give the
// same parties, lists and countries.
func TestParseFormats(t *testing.T) {
	type row struct {
		List, Name string
		Alt        []string
		Countries  []string
	}
	summary := func(es []Entry) []row {
		var out []row
		for _, e := range es {
			out = append(out, row{e.List, e.Name, e.AltNames, e.Countries()})
		}
		return out
	}
	var first []row
	for _, f := range []string{"csl-sample.csv", "csl-sample-id.csv", "csl-sample.json"} {
		es, err := Parse(f, read(t, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		got := summary(es)
		if first == nil {
			first = got
			want := row{"EL", "Example Advanced Computing Co., Ltd.", []string{"EXAC", "Example AC Technology"}, []string{"CN", "HK"}}
			if diff := cmp.Diff(want, got[0]); diff != "" {
				t.Fatalf("%s first entry (-want +got):\n%s", f, diff)
			}
			lists := map[string]bool{}
			for _, r := range got {
				lists[r.List] = true
			}
			for _, l := range []string{"EL", "SDN", "DPL", "MEU", "ISN", "MBS"} {
				if !lists[l] {
					t.Errorf("%s: no %s entry read", f, l)
				}
			}
			continue
		}
		if diff := cmp.Diff(first, got); diff != "" {
			t.Errorf("%s reads differently from csl-sample.csv (-csv +this):\n%s", f, diff)
		}
	}
	es, _ := Parse("j", read(t, "csl-sample.json"))
	if es[0].ID != "e1001" || es[0].LicensePolicy != "Presumption of denial." || es[0].StartDate != "2024-12-05" {
		t.Errorf("JSON entry fields: %+v", es[0])
	}
	es, _ = Parse("c", read(t, "csl-sample-id.csv"))
	if es[3].ID != "e1004" || es[3].EntityNumber != "40001" {
		t.Errorf("CSV _id and entity number: %+v", es[3])
	}
}

func TestParseErrors(t *testing.T) {
	csv := string(read(t, "csl-sample.csv"))
	for _, c := range []struct{ name, data, want string }{
		{"not a CSL", "a,b,c\n1,2,3\n", `line 1: header has no "source" column`},
		{"unknown list", strings.Replace(csv, "Denied Persons List (DPL)", "Friends List (FL)", 1), `line 6: source: source "Friends List (FL) - Bureau of Industry and Security": list "FL" is not one of the CSL's`},
		{"no name", strings.Replace(csv, "Northwind Supercomputing Center", "", 1), "line 3: name: empty"},
		{"broken quote", csv + "Entity List (EL) - Bureau of Industry and Security,,,,\"Open quote,,\n", "line 10"},
		{"empty", "", "header"},
		{"json without results", `{"items": []}`, `no "results" array`},
		{"json bad record", `{"results": [{"source": "Entity List (EL) - X", "name": 5}]}`, "results[0]"},
		{"duplicate id", strings.Replace(string(read(t, "csl-sample-id.csv")), "e1002,", "e1001,", 1), `entry id "e1001" appears twice`},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &Store{Dir: t.TempDir()}
			_, err := s.Import("list.csv", []byte(c.data))
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "list.csv") {
				t.Fatalf("error %v, want the file and %q", err, c.want)
			}
			if _, err := s.List(); err != ErrNoList {
				t.Errorf("a refused file left a list behind: %v", err)
			}
		})
	}
}

func org(name, hq, legal string, aliases ...string) *catalog.Organization {
	return &catalog.Organization{Metadata: catalog.Metadata{Name: name},
		Spec: catalog.OrganizationSpec{Headquarters: hq, LegalName: legal, Aliases: aliases}}
}

// TestScreen: an exact name or alias with a country sets the status with
// the entry as source; anything weaker is undetermined until a person
// decides, and the decision is kept with who, when and why.
func TestScreen(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Now: func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	exactEL := org("exac", "CN", "EXAMPLE ADVANCED COMPUTING CO LTD")
	alias := org("exac-hk", "HK", "Some Other Name", "Example AC Technology Limited")
	otherCountry := org("exac-us", "US", "Example Advanced Computing, Inc.")
	fuzzy := org("exemplar", "DE", "Exemplar Lab GmbH")
	sdn := org("bluewater", "AE", "Blue Water Trading L.L.C.")
	clean := org("clean-lab", "FR", "Laboratoire Propre SAS")
	noCountry := org("john", "US", "John Example")
	res, err := s.Screen("", exactEL, alias, otherCountry, fuzzy, sdn, clean, noCountry)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Result{}
	for _, r := range res {
		got[r.Org] = r
	}
	for _, c := range []struct {
		org, status, source string
	}{
		{"exac", catalog.RestrictedEntityList, `Entity List (EL) - Bureau of Industry and Security entry e1001 "Example Advanced Computing Co., Ltd." (CN, HK), listed 2024-12-05, 89 FR 96790; exact match`},
		{"exac-hk", catalog.RestrictedEntityList, "entry e1001"},
		{"exac-us", catalog.RestrictedUndetermined, "same name, but no country of the organisation among the entry's"},
		{"exemplar", catalog.RestrictedUndetermined, `possible match (score 0.9`},
		{"bluewater", catalog.RestrictedListed, "Specially Designated Nationals (SDN) - Treasury Department entry e1004"},
		{"clean-lab", catalog.RestrictedNone, "no match"},
		{"john", catalog.RestrictedUndetermined, "JOHN EXAMPLE"},
	} {
		r := got[c.org]
		if r.Status != c.status || !strings.Contains(r.Source, c.source) {
			t.Errorf("%s: status %q source %q, want %q and %q", c.org, r.Status, r.Source, c.status, c.source)
		}
	}
	if m := got["exemplar"].Matches; len(m) != 1 || m[0].Entry.ID != "e1003" || m[0].Kind != Possible || m[0].Score >= 1 || !m[0].CountryMatch {
		t.Fatalf("exemplar matches: %+v", m)
	}

	if _, err := s.Decide("", fuzzy, "e1003", Dismiss, "", "different company"); err == nil {
		t.Error("a decision without a person was accepted")
	}
	if _, err := s.Decide("", fuzzy, "nope", Dismiss, "a.person", "x"); err == nil {
		t.Error("a decision on an unknown entry was accepted")
	}
	if _, err := s.Decide("", fuzzy, "e1003", Dismiss, "a.person", "different register number (HRB 1)"); err != nil {
		t.Fatal(err)
	}
	r, _ := s.Screen("", fuzzy)
	if r[0].Status != catalog.RestrictedNone || !strings.Contains(r[0].Source, "dismissed by a.person on 2026-03-01: different register number (HRB 1)") {
		t.Errorf("after dismissal: %+v", r[0])
	}
	if _, err := s.Decide("", fuzzy, "e1003", Confirm, "b.person", "same company, old spelling"); err != nil {
		t.Fatal(err)
	}
	r, _ = s.Screen("", fuzzy)
	if r[0].Status != catalog.RestrictedEntityList || !strings.Contains(r[0].Source, "confirmed by b.person on 2026-03-01: same company, old spelling") {
		t.Errorf("after confirmation: %+v", r[0])
	}
	ds, _ := s.Decisions()
	if len(ds) != 2 || ds[0].Action != Dismiss || ds[1].Action != Confirm || ds[1].ListSHA256 == "" {
		t.Errorf("the decisions' history: %+v", ds)
	}
	if sc := got["exac"].Screening(); sc.Status != catalog.RestrictedEntityList || sc.Source != got["exac"].Source {
		t.Errorf("Screening(): %+v", sc)
	}
}

// TestDecideConcurrently: decisions made at once are all kept.
func TestDecideConcurrently(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if _, err := s.Import("consolidated.json", read(t, "csl-sample.json")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				if _, err := s.Decide("", org(fmt.Sprintf("org-%d-%d", g, i), "DE", "Exemplar Lab GmbH"), "e1003", Dismiss, "p", "r"); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	ds, err := s.Decisions()
	if err != nil || len(ds) != 40 {
		t.Fatalf("%d decisions kept of 40: %v", len(ds), err)
	}
}

// TestNormalize: the folding a person can read (case, accents,
// punctuation, legal forms), then the look-alike folding on top of it:
// names that look alike normalise alike, names that do not stay apart.
func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"Example Advanced Computing Co., Ltd.": "example advanced computing",
		"EXAMPLE  ADVANCED-COMPUTING CO LTD":   "example advanced computing",
		"Société Générale S.A.":                "societe generale",
		"Blue Water Trading L.L.C.":            "blue water trading",
		"Müller GmbH":                          "muller",
		"The Company Ltd":                      "the company ltd",
		"Ex\u200bam\u00adple\ufeff La\u2060b":  "example lab",
	} {
		if got := normalize(in, false); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"Example Advanced Computing Co., Ltd.", "EXAMPLE ADVANCED COMPUTING", true},
		{"Example Advanced Computing Co., Ltd.", "Ехаmрlе Аdvаnсеd Соmрutіng Cо., Ltd.", true}, // Cyrillic, the legal form too
		{"Example Lab", "ΕΧΑΜΡLΕ LΑΒ", true},                                                   // Greek capitals
		{"Example Lab", "Ｅｘａｍｐｌｅ Ｌａｂ", true},                                                   // fullwidth
		{"Example Lab", "E\u200bx\u200ba\u200bmple Lab", true},                                 // zero-width spaces
		{"Example Lab", "Exa\U000E0020mple La\ufe0fb", true},                                   // a tag and a variation selector
		{"Northwind", "NОRТНWІND", true},                                                       // Cyrillic capitals, Т and Н among them
		{"Северный Ветер", "СЕВЕРНЫЙ ВЕТЕР", true},                                             // Russian, in either case
		{"Αθηναϊκή Ναυτιλιακή", "ΑΘΗΝΑΪΚΗ ΝΑΥΤΙΛΙΑΚΗ", true},                                   // Greek, in either case
		{"Cornwall", "Comwall", true},                                                          // rn and m look alike
		{"Example Lab", "Examplar Lab", false},
		{"Северный Ветер", "Южный Ветер", false},
		{"示例先进计算", "示例科技", false},
	} {
		na, nb := Normalize(c.a), Normalize(c.b)
		if (na == nb) != c.same {
			t.Errorf("Normalize(%q) = %q, Normalize(%q) = %q: same %v, want %v", c.a, na, c.b, nb, na == nb, c.same)
		}
	}
}

// TestJaroWinkler checks the textbook values.
func TestJaroWinkler(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want float64
	}{
		{"martha", "marhta", 0.961}, {"dwayne", "duane", 0.840}, {"dixon", "dicksonx", 0.813},
		{"same", "same", 1}, {"abc", "", 0}, {"", "", 1},
	} {
		if got := JaroWinkler(c.a, c.b); math.Abs(got-c.want) > 0.001 {
			t.Errorf("JaroWinkler(%q, %q) = %.3f, want %.3f", c.a, c.b, got, c.want)
		}
	}
}
