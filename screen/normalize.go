package screen

import (
	"sort"
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Names are compared after normalising: letters folded to lower case
// without accents, punctuation read as a space, and the words that only
// say what kind of company it is (co, ltd, inc, gmbh, ...) left out, so
// "Example Advanced Computing Co., Ltd." and "EXAMPLE ADVANCED COMPUTING"
// are the same name.

// legalForms are words that name a company's legal form, not the company.
var legalForms = map[string]bool{
	"co": true, "company": true, "corp": true, "corporation": true, "inc": true, "incorporated": true,
	"ltd": true, "limited": true, "llc": true, "llp": true, "lp": true, "plc": true, "pte": true,
	"pty": true, "bhd": true, "sdn": true, "gmbh": true, "ag": true, "sa": true, "sas": true, "sarl": true,
	"srl": true, "spa": true, "bv": true, "nv": true, "ab": true, "oy": true, "as": true, "kk": true,
	"ooo": true, "oao": true, "zao": true, "pao": true, "jsc": true, "ojsc": true, "cjsc": true,
	"the": true, "and": true, "of": true,
}

var fold = transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)

// Normalize returns a name as screening compares it.
func Normalize(s string) string {
	t, _, err := transform.String(fold, s)
	if err != nil {
		t = s
	}
	// Dots and apostrophes join what they separate: L.L.C. is llc,
	// O'Brien is obrien.
	t = strings.NewReplacer(".", "", "'", "", "\u2019", "").Replace(strings.ToLower(t))
	words := strings.FieldsFunc(t, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	kept := words[:0]
	for _, w := range words {
		if !legalForms[w] {
			kept = append(kept, w)
		}
	}
	if len(kept) == 0 {
		// A name made only of such words keeps them.
		return strings.Join(words, " ")
	}
	return strings.Join(kept, " ")
}

// sortedWords is a normalised name with its words in order, so that
// "Lab Example" and "Example Lab" compare alike.
func sortedWords(n string) string {
	w := strings.Fields(n)
	sort.Strings(w)
	return strings.Join(w, " ")
}

// similarity is how alike two normalised names are: the best of the
// Jaro–Winkler score of the whole names, of their words in sorted order,
// and of their words matched one by one (each word to its most similar
// word in the other name, weighted by length, both ways), so that one
// misspelt word in a long name costs what it should.
func similarity(a, b string) float64 {
	if a == b {
		return 1
	}
	best := max(JaroWinkler(a, b), JaroWinkler(sortedWords(a), sortedWords(b)))
	wa, wb := strings.Fields(a), strings.Fields(b)
	return max(best, min(wordScore(wa, wb), wordScore(wb, wa)))
}

// wordScore is the length-weighted mean, over the words of a, of each
// word's best Jaro–Winkler score against the words of b.
func wordScore(a, b []string) float64 {
	var sum, weight float64
	for _, x := range a {
		bestW := 0.0
		for _, y := range b {
			bestW = max(bestW, JaroWinkler(x, y))
		}
		w := float64(len([]rune(x)))
		sum += w * bestW
		weight += w
	}
	if weight == 0 {
		return 0
	}
	return sum / weight
}

// JaroWinkler is the Jaro–Winkler similarity of two strings, from 0 (no
// likeness) to 1 (equal), with the usual prefix scale 0.1 over at most
// four characters.
func JaroWinkler(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	if len(ra) == 0 && len(rb) == 0 {
		return 1
	}
	if len(ra) == 0 || len(rb) == 0 {
		return 0
	}
	window := max(len(ra), len(rb))/2 - 1
	if window < 0 {
		window = 0
	}
	ma := make([]bool, len(ra))
	mb := make([]bool, len(rb))
	matches := 0
	for i := range ra {
		lo, hi := max(0, i-window), min(len(rb), i+window+1)
		for j := lo; j < hi; j++ {
			if !mb[j] && ra[i] == rb[j] {
				ma[i], mb[j] = true, true
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	transpositions, j := 0, 0
	for i := range ra {
		if !ma[i] {
			continue
		}
		for !mb[j] {
			j++
		}
		if ra[i] != rb[j] {
			transpositions++
		}
		j++
	}
	m := float64(matches)
	jaro := (m/float64(len(ra)) + m/float64(len(rb)) + (m-float64(transpositions)/2)/m) / 3
	prefix := 0
	for prefix < min(4, len(ra), len(rb)) && ra[prefix] == rb[prefix] {
		prefix++
	}
	return jaro + float64(prefix)*0.1*(1-jaro)
}
