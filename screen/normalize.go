package screen

import (
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Names are compared after normalising: invisible characters dropped,
// letters folded to lower case without accents and look-alike letters of
// other scripts to the Latin ones they imitate (lookalike.go),
// punctuation read as a space, and the words that only say what kind of
// company it is (co, ltd, inc, gmbh, ...) left out, so "Example Advanced
// Computing Co., Ltd.", "EXAMPLE ADVANCED COMPUTING" and the same words
// in Cyrillic look-alikes are the same name.
//
// The list's names are normalised when a list is read (newIndex), never
// stored: a list imported by an older version is folded as a new one is.

// legalForms are words that name a company's legal form, not the company.
var legalForms = map[string]bool{
	"co": true, "company": true, "corp": true, "corporation": true, "inc": true, "incorporated": true,
	"ltd": true, "limited": true, "llc": true, "llp": true, "lp": true, "plc": true, "pte": true,
	"pty": true, "bhd": true, "sdn": true, "gmbh": true, "ag": true, "sa": true, "sas": true, "sarl": true,
	"srl": true, "spa": true, "bv": true, "nv": true, "ab": true, "oy": true, "as": true, "kk": true,
	"ooo": true, "oao": true, "zao": true, "pao": true, "jsc": true, "ojsc": true, "cjsc": true,
	"the": true, "and": true, "of": true,
}

// legalFormSkeletons are the legal forms as Normalize's words are: folded
// to their skeletons ("company" is "cornpany"), so that "Cо." with a
// Cyrillic о is left out like "Co.".
var legalFormSkeletons = func() map[string]bool {
	m := map[string]bool{}
	for w := range legalForms {
		m[skeleton(w)] = true
	}
	return m
}()

var fold = transform.Chain(runes.Remove(runes.Predicate(ignorable)), norm.NFKD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)

// Normalize returns a name as screening compares it.
func Normalize(s string) string {
	return normalize(s, true)
}

// normalize is Normalize, with look-alike letters folded or, for saying
// whether a match needed that, not.
func normalize(s string, lookAlike bool) string {
	t, _, err := transform.String(fold, s)
	if err != nil {
		t = strings.Map(func(r rune) rune {
			if ignorable(r) {
				return -1
			}
			return r
		}, s)
	}
	var b strings.Builder
	b.Grow(len(t))
	var look map[rune]string
	if lookAlike {
		look = lookAlikeRunes()
	}
	for _, r := range t {
		switch {
		case r == '.' || r == '\'' || r == '\u2019':
			// Dots and apostrophes join what they separate: L.L.C. is
			// llc, O'Brien is obrien.
		case r < utf8.RuneSelf:
			switch {
			case 'A' <= r && r <= 'Z':
				b.WriteRune(r + 'a' - 'A')
			case 'a' <= r && r <= 'z' || '0' <= r && r <= '9':
				b.WriteRune(r)
			case lookAlike && asciiAlnum(asciiSkel[r]):
				b.WriteString(asciiSkel[r]) // "|" is l
			default:
				b.WriteByte(' ')
			}
		case look[r] != "":
			b.WriteString(look[r])
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteByte(' ')
		}
	}
	t = b.String()
	forms := legalForms
	if lookAlike {
		t, forms = skeleton(t), legalFormSkeletons
	}
	words := strings.Fields(t)
	kept := words[:0]
	for _, w := range words {
		if !forms[w] {
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
	var sc jwScratch
	x, y := prepare(a), prepare(b)
	return sc.similarity(&x, &y, 0)
}

// prepared is a normalised name split as similarity reads it, made once
// per name (a list's when it is read, an organisation's once per
// screening): comparing the same names again allocates nothing.
type prepared struct {
	norm   string
	runes  []rune
	sorted []rune   // its words in order, joined by spaces
	words  [][]rune // its words
	weight int      // its letters: the sum of the words' lengths
}

func prepare(n string) prepared {
	p := prepared{norm: n, runes: []rune(n), sorted: []rune(sortedWords(n))}
	for _, w := range strings.Fields(n) {
		r := []rune(w)
		p.words = append(p.words, r)
		p.weight += len(r)
	}
	return p
}

// jwScratch holds the buffers of Jaro–Winkler, reused between pairs.
type jwScratch struct{ ma, mb []bool }

// similarity is the similarity of two prepared names when it is at least
// floor; below it, it may be any lower value (screening has no use for a
// score under corroboratedNameMin, and skips the word-by-word comparison
// once it cannot reach it).
func (sc *jwScratch) similarity(a, b *prepared, floor float64) float64 {
	if a.norm == b.norm {
		return 1
	}
	best := sc.jaroWinkler(a.runes, b.runes)
	if !slices.Equal(a.sorted, a.runes) || !slices.Equal(b.sorted, b.runes) {
		best = max(best, sc.jaroWinkler(a.sorted, b.sorted))
	}
	floor = max(floor, best)
	if w := sc.wordScore(a, b, floor); w >= floor {
		return max(best, min(w, sc.wordScore(b, a, floor)))
	}
	return best
}

// wordScore is the length-weighted mean, over the words of a, of each
// word's best Jaro–Winkler score against the words of b; or, once it
// is sure to be below floor, 0.
func (sc *jwScratch) wordScore(a, b *prepared, floor float64) float64 {
	if a.weight == 0 {
		return 0
	}
	weight := float64(a.weight)
	// lost is what the words so far fell short of a perfect score by:
	// past (1-floor) of the weight, the mean is below floor.
	var sum, lost float64
	for _, x := range a.words {
		bestW := 0.0
		for _, y := range b.words {
			if bestW = max(bestW, sc.jaroWinkler(x, y)); bestW == 1 {
				break
			}
		}
		sum += float64(len(x)) * bestW
		if lost += float64(len(x)) * (1 - bestW); lost > (1-floor)*weight && floor > 0 {
			return 0
		}
	}
	return sum / weight
}

// JaroWinkler is the Jaro–Winkler similarity of two strings, from 0 (no
// likeness) to 1 (equal), with the usual prefix scale 0.1 over at most
// four characters.
func JaroWinkler(a, b string) float64 {
	var sc jwScratch
	return sc.jaroWinkler([]rune(a), []rune(b))
}

func (sc *jwScratch) jaroWinkler(ra, rb []rune) float64 {
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
	sc.ma, sc.mb = falses(sc.ma, len(ra)), falses(sc.mb, len(rb))
	ma, mb := sc.ma, sc.mb
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

// falses is buf, grown to n if need be, with its first n values false.
func falses(buf []bool, n int) []bool {
	if cap(buf) < n {
		return make([]bool, n)
	}
	buf = buf[:n]
	clear(buf)
	return buf
}
