package screen

import (
	"testing"
)

// TestExactKeysFindEveryExactPair: past the bounds, the versions of an
// organisation's names left out are compared only with the listed names
// they share a key with (exactKeys): every pair of names that scores 1
// must share one, or a listed name equal to an alias would be missed.
// Checked for the names of a generated corpus (Latin, Cyrillic and
// Chinese names, legal forms spelt out and short names among them), each
// romanised and with spaced letters joined, against every listed name.
func TestExactKeysFindEveryExactPair(t *testing.T) {
	l, orgs := matcherCorpus(11, 250, 250)
	ix := newIndex(l)
	exact := ix.exactIndex()
	var sc jwScratch
	pairs := map[string]int{}
	for _, o := range orgs {
		var versions []string
		for _, n := range o.ScreeningNames() {
			versions = append(versions, n)
			versions = append(versions, romanisations(n)...)
			if j := joinSpacedLetters(n); j != "" {
				versions = append(versions, j)
			}
		}
		for _, v := range versions {
			p := prepareName(v, Normalize(v), keepingSpelled(v), true)
			found := map[listedName]bool{}
			exactKeys(&p, func(k string) {
				for _, ln := range exact[k] {
					found[ln] = true
				}
			})
			for i := range ix.names {
				for ni := range ix.names[i] {
					en := &ix.names[i][ni]
					if score, ok := sc.pairScore(&p, en); !ok || score < 1 {
						continue
					}
					kind := "equal"
					if p.norm != en.norm {
						kind = "equal otherwise"
					}
					pairs[kind]++
					if !found[listedName{int32(i), int32(ni)}] {
						t.Errorf("%q and the listed %q score 1 but share no key", v, ix.list.Entries[i].Name)
					}
				}
			}
		}
	}
	t.Logf("pairs scoring 1: %v", pairs)
	if pairs["equal"] == 0 || pairs["equal otherwise"] == 0 {
		t.Errorf("the corpus gave too few pairs scoring 1 (%v) to show the keys find them", pairs)
	}
}
