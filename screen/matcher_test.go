package screen

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/catalog"
)

// TestJaroWinklerAgreesWithReference: the bit-set Jaro–Winkler gives the
// reference's score, to the bit, on strings of small alphabets (many
// matches and transpositions), of every length around the 64-letter word
// of the bit sets, in ASCII and other scripts, and with windows of one
// letter and of thousands.
func TestJaroWinklerAgreesWithReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabets := [][]rune{
		[]rune("ab"), []rune("abc "), []rune("abcdefghijklmnopqrstuvwxyz0123456789 "),
		[]rune("аеорсхкм"), []rune("示例科技有限公司"), []rune("aаbβ示 "),
	}
	gen := func(alpha []rune, n int) []rune {
		r := make([]rune, n)
		for i := range r {
			r[i] = alpha[rng.IntN(len(alpha))]
		}
		return r
	}
	lengths := []int{0, 1, 2, 3, 4, 5, 7, 31, 63, 64, 65, 127, 128, 129, 300, 2100}
	var sc jwScratch
	var ref refScratch
	pairs := 0
	for _, alpha := range alphabets {
		for _, la := range lengths {
			for _, lb := range lengths {
				for range 3 {
					a, b := gen(alpha, la), gen(alpha, lb)
					if rng.IntN(2) == 0 && la == lb && la > 0 {
						// A near copy: a few letters swapped.
						copy(b, a)
						for range 1 + la/10 {
							i, j := rng.IntN(la), rng.IntN(la)
							b[i], b[j] = b[j], b[i]
						}
					}
					got, want := sc.jaroWinkler(a, b), ref.refJaroWinkler(a, b)
					if got != want {
						t.Fatalf("jaroWinkler(%q, %q) = %v, the reference %v", string(a), string(b), got, want)
					}
					pairs++
				}
			}
		}
	}
	t.Logf("%d pairs agree", pairs)
}

// matcherCorpus is a generated list and organisations made from its
// names the ways a party's name varies or is disguised: the same name
// with its legal form changed or dropped, its words reordered, a letter
// mistyped, swapped or dropped, in capitals, with Cyrillic look-alike
// letters or invisible characters, inside a longer name, in Cyrillic
// where the list romanises it, in Chinese with a place before it, too
// short without its legal form, and names unrelated to any.
func matcherCorpus(seed uint64, entries, orgs int) (*List, []*catalog.Organization) {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	latin := []string{"Example", "Advanced", "Computing", "Northwind", "Supercomputing", "Center", "Trading", "Avionics",
		"Institute", "Research", "Technology", "Red", "Star", "Blue", "Water", "Sovereign", "Fund", "Propulsion",
		"Müller", "Société", "Générale", "Kas", "Orion", "Polar", "Delta", "Systems", "Dynamics", "Quartz", "Lab"}
	cyrillic := []string{"Алмаз", "Антей", "Ростек", "Северный", "Ветер", "Звезда", "Технологии", "Научный", "Центр", "Полюс"}
	chinese := []string{"示例科技", "北方计算", "红星航电", "蓝水贸易", "先进计算"}
	forms := []string{"", "", "Co., Ltd.", "LLC", "GmbH", "PJSC", "Sp. z o.o.", "Inc.", "ООО", "Limited Liability Company", "有限公司"}
	places := []string{"深圳市", "北京市", "上海"}
	countries := []string{"CN", "RU", "DE", "AE", "HK", "US", ""}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	words := func(vocab []string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = pick(vocab)
		}
		return out
	}
	name := func() string {
		switch rng.IntN(10) {
		case 0: // Russian, as the list romanises it
			ws := words(cyrillic, 1+rng.IntN(3))
			lat, _ := transliterate(strings.Join(ws, " "))
			return lat + " " + pick(forms)
		case 1:
			return pick(chinese) + pick([]string{"", "有限公司", "股份有限公司"})
		case 2: // short: compared with its legal form when it has one
			return pick([]string{"Kas", "Kaz", "Ora", "Ex", "BW"}) + " " + pick(forms)
		default:
			return strings.Join(words(latin, 1+rng.IntN(4)), " ") + " " + pick(forms)
		}
	}
	l := &List{File: "generated.csv", SHA256: "generated", Entries: make([]Entry, entries)}
	for i := range l.Entries {
		e := Entry{ID: fmt.Sprintf("g%d", i), List: pick([]string{"EL", "SDN", "MEU"}), Name: strings.TrimSpace(name())}
		for range rng.IntN(3) {
			e.AltNames = append(e.AltNames, strings.TrimSpace(name()))
		}
		for range rng.IntN(3) {
			e.Addresses = append(e.Addresses, Address{Address: strings.Join(words(latin, 3), " ") + " Road " + fmt.Sprint(rng.IntN(50)), Country: pick(countries)})
		}
		l.Entries[i] = e
	}
	mistype := func(s string) string {
		r := []rune(s)
		if len(r) < 3 {
			return s
		}
		i := 1 + rng.IntN(len(r)-2)
		switch rng.IntN(3) {
		case 0:
			r[i] = 'a' + rune(rng.IntN(26))
		case 1:
			r[i], r[i+1] = r[i+1], r[i]
		default:
			r = append(r[:i], r[i+1:]...)
		}
		return string(r)
	}
	lookAlike := strings.NewReplacer("a", "а", "e", "е", "o", "о", "p", "р", "c", "с", "x", "х")
	latinCyrillic := map[string]string{}
	for _, w := range cyrillic {
		lat, _ := transliterate(w)
		latinCyrillic[strings.ToLower(lat)] = w
	}
	vary := func(n string) string {
		ws := strings.Fields(n)
		switch rng.IntN(15) {
		case 0:
			return n
		case 1: // reordered
			rng.Shuffle(len(ws), func(i, j int) { ws[i], ws[j] = ws[j], ws[i] })
			return strings.Join(ws, " ")
		case 2: // another legal form
			return strings.Join(ws[:max(1, len(ws)-1)], " ") + " " + pick(forms)
		case 3:
			return mistype(n)
		case 4:
			return strings.ToUpper(n)
		case 5: // look-alike letters, some words only (mixing scripts)
			for i := range ws {
				if rng.IntN(2) == 0 {
					ws[i] = lookAlike.Replace(ws[i])
				}
			}
			return strings.Join(ws, " ")
		case 6: // invisible characters
			return strings.Replace(n, " ", " \u200b", -1) + "\u00ad"
		case 7: // words around it
			return pick(latin) + " " + n + " " + pick(latin)
		case 8: // back in Cyrillic, where the list romanised it
			for i, w := range ws {
				if c, ok := latinCyrillic[strings.ToLower(w)]; ok {
					ws[i] = c
				}
			}
			return strings.Join(ws, " ")
		case 9: // a place before a Chinese name
			return pick(places) + n
		case 10:
			return mistype(mistype(strings.ToLower(n)))
		case 11: // one word of a longer name another
			if len(ws) > 2 {
				ws[rng.IntN(len(ws))] = pick(latin)
			}
			return strings.Join(ws, " ")
		case 12: // a word's letters spaced apart
			i := rng.IntN(len(ws))
			ws[i] = strings.Join(strings.Split(ws[i], ""), pick([]string{" ", "-", ". "}))
			return strings.Join(ws, " ")
		case 13: // its letters split into chunks of one to five
			var b strings.Builder
			for i, r := range []rune(strings.ReplaceAll(n, " ", "")) {
				if i > 0 && rng.IntN(3) == 0 {
					b.WriteByte(' ')
				}
				b.WriteRune(r)
			}
			return b.String()
		default:
			return name()
		}
	}
	out := make([]*catalog.Organization, orgs)
	for i := range out {
		e := l.Entries[rng.IntN(len(l.Entries))]
		names := append([]string{e.Name}, e.AltNames...)
		legal := vary(pick(names))
		var aliases []string
		for range rng.IntN(4) {
			aliases = append(aliases, vary(pick(names)))
		}
		o := org(fmt.Sprintf("org-%d", i), pick(countries[:5]), legal, aliases...)
		if rng.IntN(2) == 0 && len(e.Addresses) > 0 {
			o.Spec.Addresses = []string{e.Addresses[0].Address}
		}
		out[i] = o
	}
	return l, out
}

// TestMatcherAgreesWithReference: the matcher as it is now (Jaro–Winkler
// by bit sets, pairs of names and of words that cannot reach the
// threshold ruled out by their letters, decisions applied in one pass)
// gives every organisation of a generated corpus the same result as the
// matcher before it (refmatcher_test.go): the same matches, scores to the
// bit, decisions, status and source, for two tenants, with decisions that
// confirm and dismiss, for the organisation as it is and as it was, made
// against the entry as it is, as it was, and before entries were hashed
// (a dismissal of a changed entry lapses, in both). The
// corpus must produce matches of every kind, or the agreement shows
// nothing.
func TestMatcherAgreesWithReference(t *testing.T) {
	// Seed 11: corroborated matches are rare, and the corpus must give some.
	l, orgs := matcherCorpus(11, 250, 250)
	ix := newIndex(l)
	rng := rand.New(rand.NewPCG(3, 4))
	// Decisions on the entries the organisations match, and on others.
	var ds []Decision
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for i, o := range orgs {
		if i%4 != 0 {
			continue
		}
		r := ix.refScreen("acme", o, nil)
		for _, m := range r.Matches[:min(3, len(r.Matches))] {
			fp := Fingerprint(o)
			if rng.IntN(3) == 0 {
				fp = "an-older-version"
			}
			// Made against the entry as it is, as it was (the list
			// changed since), or before entries were hashed.
			entry := pick3(rng, m.Entry.ContentHash(), "an-older-entry", "")
			ds = append(ds, Decision{Org: o.Metadata.Name, Tenant: pick3(rng, "acme", "", "zeta"), Fingerprint: fp, EntryID: m.Entry.ID,
				Action: pick3(rng, Confirm, Dismiss, Dismiss), By: "a.person", Reason: "checked", Time: at, EntrySHA256: entry})
		}
		if len(r.Matches) > 0 && i%8 == 0 {
			// A person changes their mind: the later decision counts.
			m := r.Matches[0]
			for _, action := range []string{pick3(rng, Confirm, Dismiss, Confirm), pick3(rng, Dismiss, Confirm, Dismiss)} {
				ds = append(ds, Decision{Org: o.Metadata.Name, Tenant: pick3(rng, "acme", "", "acme"), Fingerprint: Fingerprint(o), EntryID: m.Entry.ID,
					Action: action, By: "c.person", Reason: "reviewed", Time: at})
			}
		}
		if i%20 != 0 {
			continue
		}
		// A confirmation of an entry the organisation does not match.
		ds = append(ds, Decision{Org: o.Metadata.Name, Tenant: "acme", EntryID: l.Entries[rng.IntN(len(l.Entries))].ID, Action: Confirm, By: "b.person", Reason: "register", Time: at})
	}
	kinds := map[string]int{}
	for _, decisions := range [][]Decision{nil, ds} {
		for _, tenant := range []string{"", "acme"} {
			for _, o := range orgs {
				want := ix.refScreen(tenant, o, decisions)
				got := ix.screen(tenant, o, decisions)
				if reflect.DeepEqual(want, got) {
					// cmp.Diff of equal results costs most of the test.
				} else if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("tenant %q, %s %q %q: the matcher and the reference differ (-reference +matcher):\n%s",
						tenant, o.Metadata.Name, o.Spec.LegalName, o.Spec.Aliases, diff)
				}
				for _, m := range got.Matches {
					kinds[m.Kind]++
					for k, on := range map[string]bool{"romanised": m.Romanised, "spaced": m.SpacedLetters, "look-alike": m.LookAlike, "mixed-script": m.MixedScript,
						"decided": m.Decision != nil, "changed": m.Changed, "lapsed": m.Lapsed != nil, "fuzzy": m.Score < 1 && m.Score >= FuzzyThreshold,
						"corroborated": m.Score < FuzzyThreshold && m.AddressScore >= addressThreshold} {
						if on {
							kinds[k]++
						}
					}
				}
				kinds["status "+got.Status]++
			}
		}
	}
	t.Logf("%d decisions; matches and results by kind: %v", len(ds), kinds)
	for _, k := range []string{Exact, Possible, "romanised", "spaced", "look-alike", "mixed-script", "decided", "changed", "lapsed", "fuzzy", "corroborated",
		"status " + catalog.RestrictedNone, "status " + catalog.RestrictedEntityList, "status " + catalog.RestrictedListed, "status " + catalog.RestrictedUndetermined} {
		if kinds[k] == 0 {
			t.Errorf("the corpus gave no %s: it does not show the matchers agree there", k)
		}
	}
}

func pick3(rng *rand.Rand, a, b, c string) string {
	return []string{a, b, c}[rng.IntN(3)]
}

// TestMatcherAgreesWithReferenceAtTheBound: the same for the largest
// organisation the catalog accepts, and for organisations made of the
// list's own words, against the synthetic list of the cost benchmarks.
func TestMatcherAgreesWithReferenceAtTheBound(t *testing.T) {
	ix := newIndex(syntheticList(300))
	orgs := []*catalog.Organization{
		hostileOrg(catalog.MaxScreeningText/(catalog.MaxScreeningNames+1) - 1),
		org("lab", "DE", "Example Frontier Model Laboratory"),
		org("near", "CN", "Example Advanced Computng Northwind 12", "Northwind Example Computing Advanced", "Alias Example Avionics Example Center 105"),
	}
	for _, e := range ix.list.Entries[:60] {
		orgs = append(orgs, org("e"+e.ID, "CN", strings.ToLower(e.Name), e.AltNames[0]+" Trading"))
	}
	matched := 0
	for _, o := range orgs {
		want, got := ix.refScreen("", o, nil), ix.screen("", o, nil)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%s: the matcher and the reference differ (-reference +matcher):\n%s", o.Metadata.Name, diff)
		}
		matched += len(got.Matches)
	}
	if matched < 100 {
		t.Errorf("only %d matches: the comparison shows little", matched)
	}
}
