package screen

import (
	"maps"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"sync"
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

// legalForms are words that name a company's legal form, not the company:
// shortForms and spelledForms.
var legalForms = func() map[string]bool {
	m := maps.Clone(shortForms)
	maps.Copy(m, spelledForms)
	return m
}()

// shortForms are the legal forms but the Russian ones spelt out.
var shortForms = map[string]bool{
	"co": true, "company": true, "corp": true, "corporation": true, "inc": true, "incorporated": true,
	"ltd": true, "limited": true, "llc": true, "llp": true, "lp": true, "plc": true, "pte": true,
	"pty": true, "bhd": true, "sdn": true, "gmbh": true, "ag": true, "sa": true, "sas": true, "sarl": true,
	"srl": true, "spa": true, "bv": true, "nv": true, "ab": true, "oy": true, "as": true, "kk": true,
	"ooo": true, "oao": true, "zao": true, "pao": true, "jsc": true, "ojsc": true, "cjsc": true,
	"the": true, "and": true, "of": true,
	// The words of the long forms (Limited Liability Company, Public Joint
	// Stock Company, Private Limited) and the abbreviations of other
	// countries' forms: a listed "Example Limited Liability Company" is
	// "Example PJSC", "Example KG", "Example Sp. z o.o." too, which each
	// matched nothing.
	"liability": true, "joint": true, "stock": true, "public": true, "private": true, "pvt": true,
	"pjsc": true, "ao": true, "tov": true, "kg": true, "kgaa": true, "ohg": true, "ug": true, "mbh": true,
	"sp": true, "z": true, "oo": true, "sro": true, "doo": true, "kft": true, "zrt": true, "nyrt": true,
	"ltda": true, "sl": true, "slu": true, "de": true, "cv": true, "eireli": true, "sasu": true, "eurl": true,
	"snc": true, "asa": true, "aps": true, "oyj": true, "sti": true, "gk": true, "tbk": true, "pt": true,
}

// spelledForms are the legal forms of Russia and its neighbours spelt out
// (Russian, Ukrainian, Belarusian, Kazakh; their abbreviations that other
// words spell too, PAT, VAT, TOO, are not taken for forms), as the lists
// romanise them (OOO is "Obshchestvo s Ogranichennoi Otvetstvennostyu",
// AO "Aktsionernoe Obshchestvo", ZAO, OAO, PAO and NAO that with
// Zakrytoe, Otkrytoe, Publichnoe, Nepublichnoe before it), in the
// transliterations the lists, registries and standards use (BGN/PCGN,
// GOST 7.79 "shh" and "j", ISO 9 "ŝ" and "č" folded to "s" and "c") and
// as a Cyrillic name romanises: a listed "OBSHCHESTVO S OGRANICHENNOI
// OTVETSTVENNOSTYU ACHIM" kept the four words as its name's and matched
// no "OOO Achim". The "s" (with) of the first is a form only between two
// of these words (formWith).
//
// They are legal forms (legalForms), but a name is also compared with
// them kept (prepared.kept), taking the higher score: dropped word by
// word, a spelling not listed here kept part of the phrase and lost the
// rest, and the name then scored lower than with the whole phrase kept.
// Leaving them out can so only add matches.
var spelledForms = func() map[string]bool {
	m := maps.Clone(earlierSpelledForms)
	maps.Copy(m, neighbourSpelledForms)
	return m
}()

// earlierSpelledForms are the Russian commercial forms spelt out (OOO,
// AO, ZAO, OAO, PAO, NAO), the spelledForms that were the only ones
// before the others were added. A name is compared with only these left
// out too (prepared.earlier): left out, the others ("Federalnoe Kazennoe
// Predpriyatie", "Unitarnoe") lowered or removed matches that leaving
// out these alone found.
var earlierSpelledForms = map[string]bool{
	"obshchestvo": true, "obshestvo": true, "obschestvo": true, "obshhestvo": true, "obsestvo": true, "obscestvo": true,
	"ogranichennoi": true, "ogranichennoy": true, "ogranichennoj": true, "ogranicennoj": true, "ogranicennoi": true, "ogranicennoy": true,
	"otvetstvennostyu": true, "otvetstvennostiu": true, "otvetstvennostju": true, "otvetstvennostu": true, "otvetstvennostiyu": true,
	"aktsionernoe": true, "aktsionernoye": true, "aktsionernoje": true, "akcionernoe": true, "akcionernoye": true, "akcionernoje": true,
	"zakrytoe": true, "zakrytoye": true, "zakrytoje": true, "otkrytoe": true, "otkrytoye": true, "otkrytoje": true,
	"publichnoe": true, "publichnoye": true, "publichnoje": true, "publicnoe": true,
	"nepublichnoe": true, "nepublichnoye": true, "nepublichnoje": true, "nepublicnoe": true,
}

// neighbourSpelledForms are the spelledForms but the earlier ones.
var neighbourSpelledForms = map[string]bool{
	// Russian state enterprises and institutions: FGUP (Federalnoe
	// Gosudarstvennoe Unitarnoe Predpriyatie), GUP, MUP, FKP (Kazennoe),
	// FGBU (Byudzhetnoe Uchrezhdenie), ANO (Avtonomnaya Nekommercheskaya
	// Organizatsiya), and the Kazakh TOO (Tovarishchestvo s Ogranichennoi
	// Otvetstvennostyu).
	"federalnoe": true, "federalnoye": true, "gosudarstvennoe": true, "gosudarstvennoye": true, "gosudarstvennoje": true,
	"unitarnoe": true, "unitarnoye": true, "munitsipalnoe": true, "munitsipalnoye": true, "kazennoe": true, "kazennoye": true,
	"predpriyatie": true, "predpriiatie": true, "predprijatie": true, "predpriyatiye": true,
	"byudzhetnoe": true, "biudzhetnoe": true, "uchrezhdenie": true, "uchrezhdeniye": true,
	"avtonomnaya": true, "avtonomnaia": true, "nekommercheskaya": true, "nekommercheskaia": true,
	"tovarishchestvo": true, "tovarishestvo": true, "tovarischestvo": true, "tovarishhestvo": true,
	// Ukrainian, in the national system, BGN/PCGN's earlier one and the
	// Russian reading: TOV (Tovarystvo z Obmezhenoiu Vidpovidalnistiu),
	// AT, PAT, PrAT, VAT, ZAT (Aktsionerne Tovarystvo, Publichne,
	// Pryvatne, Vidkryte, Zakryte) and DP (Derzhavne Pidpryiemstvo).
	"tovarystvo": true, "tovaristvo": true,
	"obmezhenoiu": true, "obmezhenoyu": true, "obmezhenoju": true, "obmezhenou": true,
	"vidpovidalnistiu": true, "vidpovidalnistyu": true, "vidpovidalnistju": true, "vidpovidalnistu": true,
	"aktsionerne": true, "akcionerne": true, "publichne": true, "pryvatne": true, "privatne": true,
	"vidkryte": true, "vidkrite": true, "zakryte": true, "zakrite": true, "derzhavne": true,
	"pidpryiemstvo": true, "pidpryyemstvo": true, "pidpriyemstvo": true, "pidpriiemstvo": true,
	// Belarusian (BGN/PCGN, ICAO Doc 9303): TAA (Tavarystva z Abmezhavanai
	// Adkaznastsyu), AAT, ZAT, PrAT (Adkrytae, Zakrytae, Pryvatnae
	// Aktsyyanernae Tavarystva), UP (Unitarnae Pradpryemstva).
	"tavarystva": true, "abmezhavanay": true, "abmezhavanai": true, "abmezhavanaj": true,
	"adkaznastsyu": true, "adkaznastsiu": true, "adkaznastsju": true, "adkaznasciu": true,
	"adkrytae": true, "zakrytae": true, "pryvatnae": true,
	"aktsyyanernae": true, "aktsyianernae": true, "akcyjanernae": true,
	"unitarnae": true, "pradpryemstva": true, "pradpryyemstva": true,
	// Kazakh (BGN/PCGN and the Russian reading): ZhShS (Zhauapkershiligi
	// Shekteuli Seriktestik) and AQ (Aktsionerlik Qogamy).
	"zhauapkershiligi": true, "shekteuli": true, "seriktestik": true, "seriktestigi": true,
	"aktsionerlik": true, "qoghamy": true, "kogamy": true, "qogamy": true,
}

// formWith: "s" (Russian "with") is part of the legal form it stands
// within ("Obshchestvo s Ogranichennoi Otvetstvennostyu"), and a word of
// the name anywhere else ("S Trading").
func formWith(words []string, i int, forms map[string]bool) bool {
	return words[i] == "s" && i > 0 && i+1 < len(words) && forms[words[i-1]] && forms[words[i+1]]
}

// cjkLegalForms are legal forms written, in Chinese, Japanese and Korean,
// as part of the word they follow or precede: "示例科技有限公司" is the
// name "示例科技". Longer forms come first.
var cjkLegalForms = []string{
	"股份有限公司", "有限责任公司", "有限責任公司", "有限公司", "株式会社", "有限会社", "合同会社", "주식회사", "유한회사", "公司",
}

// cjkLegalFormSkeletons are cjkLegalForms as Normalize's words are.
var cjkLegalFormSkeletons = func() []string {
	var out []string
	for _, f := range cjkLegalForms {
		out = append(out, skeleton(f))
	}
	return out
}()

// isHanKana: Chinese and Japanese write a name without spaces, so a space
// between two of these letters is spelling, not a word break.
func isHanKana(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana)
}

// joinCJK joins words where one ends and the next starts with Han or kana
// ("示例 科技 有限 公司" is "示例科技有限公司").
func joinCJK(words []string) []string {
	out := words[:0]
	for _, w := range words {
		if n := len(out); n > 0 {
			last, _ := utf8.DecodeLastRuneInString(out[n-1])
			first, _ := utf8.DecodeRuneInString(w)
			if isHanKana(last) && isHanKana(first) {
				out[n-1] += w
				continue
			}
		}
		out = append(out, w)
	}
	return out
}

// wordsWithin: every word of b, a name of two words or more, is a word of
// a. A listed name with words around it ("Global Northwind Supercomputing
// Center Research Institute") scored too low by the letters and by the
// words alike, and matched nothing.
func wordsWithin(a, b *prepared) bool {
	if len(b.texts) < 2 || len(b.texts) > len(a.texts) {
		return false
	}
	for _, w := range b.texts {
		if a.set != nil {
			if !a.set[w] {
				return false
			}
		} else if !slices.Contains(a.texts, w) {
			return false
		}
	}
	return true
}

// cjkContains: one of two names has a word of Han or kana letters, at
// least minCJKContained long, within a word of the other. Chinese names
// are registered with the place before them (深圳市示例科技 is 示例科技 of
// Shenzhen), which the list may leave out.
func cjkContains(a, b *prepared) bool {
	for _, x := range a.words {
		for _, y := range b.words {
			short, long := x, y
			if len(short) > len(long) {
				short, long = long, short
			}
			if len(short) >= minCJKContained && isHanKana(short[0]) && isHanKana(long[0]) && containsRunes(long, short) {
				return true
			}
		}
	}
	return false
}

// minCJKContained is the shortest name of Han or kana letters that counts
// as contained in another (two letters name too much by chance).
const minCJKContained = 3

// containsRunes says whether sub is within r.
func containsRunes(r, sub []rune) bool {
	for i := 0; i+len(sub) <= len(r); i++ {
		if slices.Equal(r[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// trimCJKForms strips legal forms from the ends of a word, while
// something is left of it.
func trimCJKForms(w string, forms []string) string {
	for again := true; again; {
		again = false
		for _, f := range forms {
			if r, ok := strings.CutSuffix(w, f); ok && r != "" {
				w, again = r, true
			} else if r, ok := strings.CutPrefix(w, f); ok && r != "" {
				w, again = r, true
			}
		}
	}
	return w
}

// legalFormSkeletons are the legal forms as Normalize's words are: folded
// to their skeletons ("company" is "cornpany"), so that "Cо." with a
// Cyrillic о is left out like "Co.".
var legalFormSkeletons, shortFormSkeletons = skeletons(legalForms), skeletons(shortForms)

// earlierForms are the legal forms that were left out before the
// neighbourSpelledForms were added: shortForms and earlierSpelledForms.
var earlierForms = func() map[string]bool {
	m := maps.Clone(shortForms)
	maps.Copy(m, earlierSpelledForms)
	return m
}()

var earlierFormSkeletons, neighbourFormSkeletons = skeletons(earlierForms), skeletons(neighbourSpelledForms)

// A formSet says which legal forms normalizeWords leaves out.
type formSet int

const (
	allForms    formSet = iota // legalForms
	shortOnly                  // shortForms: the spelt-out forms kept
	earlierOnly                // earlierForms: the neighbours' spelt-out forms kept
)

func skeletons(forms map[string]bool) map[string]bool {
	m := map[string]bool{}
	for w := range forms {
		m[skeleton(w)] = true
	}
	return m
}

// folds hold the transformers that fold a name's letters (ignorables
// removed, decomposed, marks removed (dropMarks), composed). A chain keeps state
// between calls and is for one goroutine at a time: one shared by every
// screening mixed the letters of names folded at once (a server screens
// organisations concurrently), and panicked.
var folds = sync.Pool{New: func() any {
	return transform.Chain(runes.Remove(runes.Predicate(ignorable)), runes.Map(parenthesizedLatin), norm.NFKD)
}}

// dropMarks is s without its combining marks: every non-spacing (Mn,
// accents) and enclosing one (Me: the circle U+20DD and keycap U+20E3
// drawn around a letter, the Cyrillic millions signs U+0489 and U+A670),
// and a spacing one (Mc, U+0903) whose base is a Latin, Greek, Cyrillic
// or common character. With only Mn removed, the others were read as
// spaces, and "Holdfield" with a circle around each letter was nine words
// of one letter that came near no listed name. A spacing mark removed
// from between two letters joins them. Elsewhere a spacing mark is kept,
// as part of its word (keepsMark): the spacing vowel signs of Devanagari,
// Tamil, Sinhala, Khmer or Myanmar are letters in effect, and with them
// dropped "भारती" and "भरत" were one name.
func dropMarks(s string) string {
	keep := false // a spacing mark here is kept
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.Is(unicode.Mc, r):
			if keep {
				return r
			}
			return -1
		case unicode.Is(unicode.M, r):
			return -1
		}
		keep = marksKept(r)
		return r
	}, s)
}

// marksKept reports whether a spacing mark after r is kept (dropMarks):
// r is a letter or digit, of no Latin, Greek, Cyrillic or common script.
func marksKept(r rune) bool {
	return (unicode.IsLetter(r) || unicode.IsDigit(r)) && !unicode.In(r, unicode.Latin, unicode.Greek, unicode.Cyrillic, unicode.Common)
}

// keepsMark reports whether r is a mark that fold keeps (dropMarks): a
// spacing mark on a letter of another script, part of its word. Only
// such a mark is left after fold.
func keepsMark(r rune) bool {
	return r >= utf8.RuneSelf && unicode.Is(unicode.Mc, r)
}

// parenthesizedLatin is the Latin letter r shows in parentheses, for the
// parenthesized letters (⒜ to ⒵, U+249C–U+24B5, and 🄐 to 🄩,
// U+1F110–U+1F129), and r itself for any other. Compatibility
// decomposition writes each as "(a)", a letter between two punctuation
// marks, so that "⒠⒳⒜⒞" was four words of one letter and matched nothing,
// where the circled ⓔⓧⓐⓒ is the word exac.
func parenthesizedLatin(r rune) rune {
	switch {
	case r >= 0x249C && r <= 0x24B5:
		return 'a' + r - 0x249C
	case r >= 0x1F110 && r <= 0x1F129:
		return 'a' + r - 0x1F110
	}
	return r
}

// fold is s with its letters folded.
func fold(s string) (string, error) {
	t := folds.Get().(transform.Transformer)
	defer folds.Put(t)
	out, _, err := transform.String(t, s)
	if err != nil {
		return out, err
	}
	return norm.NFC.String(dropMarks(out)), nil
}

// Normalize returns a name as screening compares it.
func Normalize(s string) string {
	return normalize(s, true)
}

// normalize is Normalize, with look-alike letters folded or, for saying
// whether a match needed that, not.
func normalize(s string, lookAlike bool) string {
	return normalizeForms(s, lookAlike, true)
}

// withForms is Normalize keeping the legal forms: what a name too short
// without them (minFuzzyLen) is compared by.
func withForms(s string) string {
	return normalizeForms(s, true, false)
}

// keepingSpelled is Normalize keeping the Russian legal forms spelt out
// (spelledForms): the version of a name a match is also scored by.
func keepingSpelled(s string) string {
	return normalizeWith(s, true, true, shortOnly)
}

// droppingEarlier is Normalize leaving out, of the forms spelt out, only
// the earlierSpelledForms: the third version a match is scored by.
func droppingEarlier(s string) string {
	return normalizeWith(s, true, true, earlierOnly)
}

// normalizeForms is normalize, leaving legal forms out when dropForms.
func normalizeForms(s string, lookAlike, dropForms bool) string {
	return normalizeWith(s, lookAlike, dropForms, allForms)
}

// normalizeWith is normalizeForms, leaving out of the legal forms those
// of set.
func normalizeWith(s string, lookAlike, dropForms bool, set formSet) string {
	words, kept := normalizeWords(s, lookAlike, set)
	if len(kept) == 0 || !dropForms {
		// A name made only of such words keeps them.
		return strings.Join(words, " ")
	}
	return strings.Join(kept, " ")
}

// formsLeftOut is normalize without look-alike folding and with every
// legal form left out, even when nothing is left: what says whether a
// name has Latin letters (hasLatinName).
func formsLeftOut(s string) string {
	_, kept := normalizeWords(s, false, allForms)
	return strings.Join(kept, " ")
}

// normalizeWords is a name's words, normalised, and those of them that
// are no legal form of set.
func normalizeWords(s string, lookAlike bool, set formSet) (words, kept []string) {
	t := foldedOrPlain(s)
	var b strings.Builder
	b.Grow(len(t))
	var look map[rune]string
	if lookAlike {
		look = lookAlikeRunes()
	}
	for _, r := range t {
		switch {
		case joinsWords(r):
			// Dots and apostrophes join what they separate: L.L.C. is
			// llc, O'Brien is obrien. So do the marks romanisations
			// write the soft and hard signs with (GOST 7.79's backtick,
			// ISO 9's primes): "otvetstvennost`yu" is one word.
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
		case enclosedLatin(r) != 0:
			b.WriteRune(enclosedLatin(r))
		case smallCapitals[r] != "":
			b.WriteString(smallCapitals[r])
		case turnedLetters[r] != "":
			b.WriteString(turnedLetters[r])
		case look[r] != "":
			b.WriteString(look[r])
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		case keepsMark(r):
			b.WriteRune(r)
		default:
			b.WriteByte(' ')
		}
	}
	t = b.String()
	forms, cjk := legalForms, cjkLegalForms
	if lookAlike {
		t, forms, cjk = skeleton(t), legalFormSkeletons, cjkLegalFormSkeletons
	}
	switch {
	case set == shortOnly && lookAlike:
		forms = shortFormSkeletons
	case set == shortOnly:
		forms = shortForms
	case set == earlierOnly && lookAlike:
		forms = earlierFormSkeletons
	case set == earlierOnly:
		forms = earlierForms
	}
	words = joinCJK(strings.Fields(t))
	kept = make([]string, 0, len(words))
	for i, w := range words {
		if w[0] >= utf8.RuneSelf && !slices.Contains(cjk, w) {
			w = trimCJKForms(w, cjk)
			words[i] = w
		}
		if !forms[w] && !slices.Contains(cjk, w) && !formWith(words, i, forms) {
			kept = append(kept, w)
		}
	}
	// A legal form left out from between two words of Han or kana leaves
	// them one word, as they would be written without it: kept apart,
	// "深 Ltd 圳 Ltd 示 Ltd 例" was four words of one letter, and came
	// near no listed name; and its normal form was not its own.
	return words, joinCJK(kept)
}

// smallCapitals are the Latin letters written as small capitals (Unicode's
// LATIN LETTER SMALL CAPITAL A to Z, and the ligatures Æ and Œ), as the
// letter each shows. They are letters of their own to Unicode, which
// neither lower-cases nor decomposes them, and the skeleton does not
// fold them: "ᴇxᴀᴍᴘʟᴇ ᴀᴅᴠᴀɴᴄᴇᴅ ᴄᴏᴍᴘᴜᴛɪɴɢ", which reads as the listed
// name in capitals, was another name, and screened none.
var smallCapitals = map[rune]string{
	'\u1D00': "a", '\u0299': "b", '\u1D04': "c", '\u1D05': "d", '\u1D07': "e", '\uA730': "f",
	'\u0262': "g", '\u029C': "h", '\u026A': "i", '\u1D0A': "j", '\u1D0B': "k", '\u029F': "l",
	'\u1D0D': "m", '\u0274': "n", '\u1D0F': "o", '\u1D18': "p", '\uA7AF': "q", '\u0280': "r",
	'\uA731': "s", '\u1D1B': "t", '\u1D1C': "u", '\u1D20': "v", '\u1D21': "w", '\u028F': "y",
	'\u1D22': "z", '\u1D01': "ae", '\u0276': "oe",
}

// turnedLetters are the Latin letters written turned (upside down),
// reversed (mirrored) or inverted, as the letter each shows: those
// Unicode names as a TURNED, REVERSED or INVERTED form of a letter A to Z
// (ɥ LATIN SMALL LETTER TURNED H, ᴙ LATIN LETTER SMALL CAPITAL REVERSED
// R, ꟻ LATIN EPIGRAPHIC LETTER REVERSED F, ⅄ TURNED SANS-SERIF CAPITAL
// Y), Ↄ ROMAN NUMERAL REVERSED ONE HUNDRED (a reversed C), ∀ FOR ALL (a
// turned A), and the open o, ɔ and Ɔ, which upside-down writing uses for
// a turned c. Unicode neither lower-cases nor decomposes them to their
// letters and the skeleton leaves most as they are, so "EXAↃ" or
// "ʇɥǝ" read as the listed name to a person and as another name to the
// matcher. A letter with a hook, tail or stroke added is not listed: it
// is another letter. Most modifier letters (ᵄ, a superscript turned a)
// decompose to one of these before this table is read; those that do not
// (ᴻ, ᵎ) are listed.
var turnedLetters = map[rune]string{
	'\u018E': "e", '\u019C': "m", '\u01DD': "e", '\u0245': "v", '\u0250': "a", '\u0258': "e",
	'\u0265': "h", '\u026F': "m", '\u0279': "r", '\u0281': "r", '\u0287': "t", '\u028C': "v",
	'\u028D': "w", '\u028E': "y", '\u029E': "k", '\u1D09': "i", '\u1D0E': "n", '\u1D19': "r",
	'\u1D1A': "r", '\u1D77': "g", '\u2132': "f", '\u2141': "g", '\u2142': "l", '\u2143': "l",
	'\u2144': "y", '\u214E': "f", '\u2183': "c", '\u2184': "c", '\u2C6F': "a", '\u2C7B': "e",
	'\uA780': "l", '\uA781': "l", '\uA78D': "h", '\uA7B0': "k", '\uA7B1': "t", '\uA7FA': "m",
	'\uA7FB': "f", '\uA7FC': "p", '\uA7FD': "m", '\u2200': "a", '\u0186': "c", '\u0254': "c",
	'\u1D3B': "n", '\u1D4E': "i", '\U0001DF02': "g", '\U0001DF03': "k", '\U0001DF10': "k",
}

// enclosedLatin is the Latin letter r shows, for the symbols that are a
// Latin letter in a box or circle and that compatibility decomposition
// leaves as they are (the negative circled and squared letters, 🅐 and
// 🅰, and the regional indicators 🇦, which show as letters in boxes
// where no flag is drawn), else 0. Read as punctuation, "🆁🅾🆂🆃🅴🅲
// Trading" was the name "Trading", and cleared.
func enclosedLatin(r rune) rune {
	switch {
	case r < 0x1F150:
		return 0
	case r <= 0x1F169:
		return 'a' + r - 0x1F150
	case 0x1F170 <= r && r <= 0x1F189:
		return 'a' + r - 0x1F170
	case 0x1F1E6 <= r && r <= 0x1F1FF:
		return 'a' + r - 0x1F1E6
	}
	return 0
}

// withSymbolsDropped is names, each as written and as compared, and after
// each with letters in boxes and circles (enclosedLatin) dropped, as they
// were before they were read as letters, when it has any: read as
// letters, "Rostec 🇷🇺🇨🇳" is "Rostec rucn", no longer the same name
// as a listed Rostec, and a name with enough of them matched nothing.
// Compared both ways, reading them can only add matches.
func withSymbolsDropped(names []string) [][2]string {
	out := make([][2]string, 0, len(names))
	for _, n := range names {
		out = append(out, [2]string{n, n})
		if strings.ContainsFunc(n, func(r rune) bool { return enclosedLatin(r) != 0 }) {
			out = append(out, [2]string{n, strings.Map(func(r rune) rune {
				if enclosedLatin(r) != 0 {
					return ' '
				}
				return r
			}, n)})
		}
	}
	return out
}

// joinSpacedLetters is s with each run of two or more one-letter words
// written as one word ("R O S T E C Trading", "R-O-S-T-E-C Trading" are
// "ROSTEC Trading"), or "" when it has none. An organisation's name is
// compared so too: a person reads the spaced letters as the name, and as
// one-letter words they came near no listed name.
//
// The words are those screening reads (spacedWords): read from the text
// as written, a character that is a letter there but a space once folded
// (U+1427, whose skeleton is a middle dot) was part of a word, and
// "Hᐧoᐧlᐧdᐧfᐧiᐧeᐧlᐧd" was one word here and nine of one letter to the
// matcher, never joined.
func joinSpacedLetters(s string) string {
	words := spacedWords(s)
	var out []string
	joined := false
	for i, w := range words {
		if i > 0 && w.letters == 1 && words[i-1].letters == 1 {
			out[len(out)-1] += w.text
			joined = true
			continue
		}
		out = append(out, w.text)
	}
	if !joined {
		return ""
	}
	return strings.Join(out, " ")
}

// joinShortWords is s with each run of two or more words of three
// letters or fewer written as one word, its legal forms left out wherever
// they stand and its longer words kept apart; or "" when it has no such
// run. A name spaced in chunks of two or three letters ("Ho ld fi el d Dy
// na mi cs", "Nor thw ind Sup erc omp uti ng Cen ter") reads as the name
// to a person, and its words came near no listed name's; joined, it comes
// as near the listed name as its letters do (0.98 and more for those).
// Legal forms are left out before the runs are found, and a longer word
// only ends a run: with only the forms at the end left out, and all the
// words joined only when most were short, "OOO AO Ho ld fi el d Dy na mi
// cs" or "Global Ho ld fi el d Dy na mi cs" escaped. It is compared as a
// version of the name with spaced letters joined: never exact, and one
// more version at most, of the letters of the one it is made from.
func joinShortWords(s string) string {
	var out []string
	joined, prevShort := false, false
	for _, w := range spacedWords(s) {
		if legalFormSkeletons[withForms(w.text)] {
			continue
		}
		short := w.letters <= maxShortWord
		if short && prevShort {
			out[len(out)-1] += w.text
			joined = true
		} else {
			out = append(out, w.text)
		}
		prevShort = short
	}
	if !joined {
		return ""
	}
	return strings.Join(out, " ")
}

// maxShortWord is the most letters of a word that joinShortWords counts
// as a chunk of a spaced name.
const maxShortWord = 3

// spacedWord is one word of a name as screening reads it: its characters
// as folded, and how many of them are letters or digits (those that fold
// to nothing not counted).
type spacedWord struct {
	text    string
	letters int
}

// spacedWords are the words of s as Normalize splits them: folded (fold),
// and split wherever normalizeWords, or the skeleton after it, reads a
// space; and, unlike Normalize, at dots and apostrophes too, which join
// what they separate ("Sp. z o.o." has the one-letter words z, o and o).
// Each word's characters are kept as folded, not as their skeletons: the
// text made of them is normalised again, and a letter whose skeleton is
// two ("m" is "rn") counts as one.
func spacedWords(s string) []spacedWord {
	t := foldedOrPlain(s)
	look := lookAlikeRunes()
	var words []spacedWord
	var b strings.Builder
	n := 0
	flush := func() {
		if n > 0 {
			words = append(words, spacedWord{b.String(), n})
		}
		b.Reset()
		n = 0
	}
	for _, r := range t {
		switch {
		case joinsWords(r):
			flush()
			continue
		case r < utf8.RuneSelf:
			if !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9') && !asciiAlnum(asciiSkel[r]) {
				flush()
				continue
			}
		case enclosedLatin(r) != 0, smallCapitals[r] != "", turnedLetters[r] != "", look[r] != "":
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			switch sk := skeleton(string(unicode.ToLower(r))); {
			case sk == "":
				continue // folds to nothing
			case strings.TrimSpace(sk) == "":
				flush() // folds to a space
				continue
			}
		case keepsMark(r):
			b.WriteRune(r) // part of the word, no letter of its own
			continue
		default:
			flush()
			continue
		}
		b.WriteRune(r)
		n++
	}
	flush()
	return words
}

// joinsWords: dots and apostrophes join what they separate (normalizeWords).
func joinsWords(r rune) bool {
	return r == '.' || r == '\'' || r == '\u2019' || r == '`' || r == '\u02b9' || r == '\u02ba' || r == '\u02bc'
}

// cosmetic is s as far as only what can change how it screens: folded as
// normalizeWords folds it (invisible characters dropped, compatibility
// forms and accents taken apart, dots and apostrophes dropped), each
// character that normalizeWords reads as a space one space, runs of them
// one, and letters in small form; every other character as written,
// look-alikes unfolded and legal forms kept. Two texts with one cosmetic
// form are the same text to every normalisation screening makes of them
// (Normalize, keepingSpelled, withForms, with or without look-alike
// folding): normalizeWords maps a letter and its small form alike, and
// each character kept here to no space.
func cosmetic(s string) string {
	t := foldedOrPlain(s)
	look := lookAlikeRunes()
	var b strings.Builder
	b.Grow(len(t))
	space := true // none at the start
	for _, r := range t {
		switch {
		case joinsWords(r):
			continue
		case r < utf8.RuneSelf && !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9') && !asciiAlnum(asciiSkel[r]),
			r >= utf8.RuneSelf && look[r] == "" && enclosedLatin(r) == 0 && !unicode.IsLetter(r) && !unicode.IsDigit(r) && !keepsMark(r):
			if !space {
				b.WriteByte(' ')
				space = true
			}
			continue
		}
		b.WriteRune(unicode.ToLower(r))
		space = false
	}
	return strings.TrimSuffix(b.String(), " ")
}

// sortedWords is a normalised name with its words in order, so that
// "Lab Example" and "Example Lab" compare alike.
func sortedWords(n string) string {
	w := strings.Fields(n)
	sort.Strings(w)
	return strings.Join(w, " ")
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
	cjk    bool     // a word of it starts with Han or kana (cjkContains)
	// texts are its words as strings; set holds them, for an
	// organisation's names only (wordsWithin).
	texts []string
	set   map[string]bool
	// reordered: sorted differs from runes.
	reordered bool
	// letters counts its letters (spaces included), by letter in order
	// (mayReach); wordLetters are each word's letters (wordMayReach).
	letters     []letterCount
	wordLetters []letterSet
	// full is the name with its legal forms kept, when it is too short
	// to compare by letters without them (minFuzzyLen) and long enough
	// with them; nil otherwise.
	full *prepared
	// kept is the name with the Russian legal forms spelt out kept
	// (spelledForms), when it has any; nil otherwise.
	kept *prepared
	// earlier is the name with only the earlierSpelledForms of them left
	// out (droppingEarlier), when that differs from norm: kept itself,
	// when it is the same as that.
	earlier *prepared
}

// keptOr is p with the Russian legal forms spelt out kept.
func (p *prepared) keptOr() *prepared {
	if p.kept != nil {
		return p.kept
	}
	return p
}

// earlierOr is p with only the earlierSpelledForms left out.
func (p *prepared) earlierOr() *prepared {
	if p.earlier != nil {
		return p.earlier
	}
	return p
}

// prepareName prepares raw, one of a list's names or (org) an
// organisation's, from norm, raw normalised, and kept, raw normalised
// keeping the Russian legal forms spelt out (keepingSpelled).
func prepareName(raw, norm, kept string, org bool) prepared {
	mk := prepare
	if org {
		mk = prepareOrg
	}
	p := mk(norm).withFull(raw)
	if kept != norm {
		k := mk(kept).withFull(raw)
		p.kept = &k
	}
	if !slices.ContainsFunc(strings.Fields(kept), func(w string) bool { return neighbourFormSkeletons[w] }) {
		// Without a neighbour's form, the earlier forms leave out what
		// all of them do.
		return p
	}
	switch e := droppingEarlier(raw); {
	case e == norm:
	case e == kept:
		p.earlier = p.kept
	default:
		v := mk(e).withFull(raw)
		p.earlier = &v
	}
	return p
}

// withFull sets p.full from raw, the name p was normalised from.
func (p prepared) withFull(raw string) prepared {
	if len(p.norm) >= minFuzzyLen {
		return p
	}
	if f := withForms(raw); f != p.norm && len(f) >= minFuzzyLen {
		full := prepare(f)
		p.full = &full
	}
	return p
}

func prepare(n string) prepared {
	p := prepared{norm: n, runes: []rune(n), sorted: []rune(sortedWords(n))}
	p.reordered = !slices.Equal(p.sorted, p.runes)
	for _, w := range strings.Fields(n) {
		r := []rune(w)
		p.words = append(p.words, r)
		p.texts = append(p.texts, w)
		p.weight += len(r)
		p.cjk = p.cjk || isHanKana(r[0])
		p.wordLetters = append(p.wordLetters, lettersOf(r))
	}
	p.letters = countLetters(p.runes)
	return p
}

// letterCount is how many times a letter occurs in a name.
type letterCount struct {
	r rune
	n int32
}

// countLetters counts the letters of r, by letter in order.
func countLetters(r []rune) []letterCount {
	s := slices.Clone(r)
	slices.Sort(s)
	var out []letterCount
	for _, c := range s {
		if n := len(out); n > 0 && out[n-1].r == c {
			out[n-1].n++
			continue
		}
		out = append(out, letterCount{c, 1})
	}
	return out
}

// commonLetters is how many letters two names have in common, counted
// with repeats: no more of them can match (Jaro's m).
func commonLetters(a, b []letterCount) int {
	c := 0
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i].r < b[j].r:
			i++
		case a[i].r > b[j].r:
			j++
		default:
			c += int(min(a[i].n, b[j].n))
			i++
			j++
		}
	}
	return c
}

// letterSet is a word's letters hashed to 64 bits (each ASCII letter and
// digit its own, other letters sharing the rest): once holds the bits of
// letters it has, twice of those it has twice or more, more of those it
// has three times or more. Two words have no more letters in common,
// counted with repeats, than their sets share bits in once and twice,
// unless they share one in more (commonBound).
type letterSet struct{ once, twice, more uint64 }

func lettersOf(r []rune) letterSet {
	var s letterSet
	for _, c := range r {
		var bit uint
		switch {
		case 'a' <= c && c <= 'z':
			bit = uint(c - 'a')
		case '0' <= c && c <= '9':
			bit = 26 + uint(c-'0')
		default:
			bit = 36 + uint(c)%28
		}
		m := uint64(1) << bit
		s.more |= s.twice & m
		s.twice |= s.once & m
		s.once |= m
	}
	return s
}

// wordMayReach is an upper bound on the Jaro–Winkler score of two words,
// from the letters they can have in common and their common prefix:
// Jaro's matches are at most the letters in common, its transpositions
// at least none. Words with no letter in common score 0.
func wordMayReach(x, y []rune, sx, sy letterSet) float64 {
	if sx.once&sy.once == 0 {
		return 0
	}
	n := min(len(x), len(y))
	c := n
	if sx.more&sy.more == 0 {
		c = min(n, bits.OnesCount64(sx.once&sy.once)+bits.OnesCount64(sx.twice&sy.twice))
	}
	m := float64(c)
	jaro := min(1, (m/float64(len(x))+m/float64(len(y))+1)/3)
	prefix := 0
	for prefix < min(4, n) && x[prefix] == y[prefix] {
		prefix++
	}
	return min(1, jaro+float64(prefix)*0.1*(1-jaro)+1e-9)
}

// mayReach reports whether the Jaro–Winkler score of a's and b's letters,
// in their order or with their words sorted, can be floor or more. Jaro's
// matches m are at most the letters the names have in common, c, so its
// score is at most (c/|a| + c/|b| + 1)/3, and Winkler's prefix bonus at
// most four tenths of what is left. A name shares too few letters with
// most names of a list to come near them: those are not compared letter
// by letter at all. The margin keeps rounding from ever pruning a pair
// that reaches floor.
func mayReach(a, b *prepared, floor float64) bool {
	if len(a.runes) == 0 || len(b.runes) == 0 {
		return false // one is empty, the other not (equal names score 1 before this): 0
	}
	c := float64(commonLetters(a.letters, b.letters))
	jaro := min(1, (c/float64(len(a.runes))+c/float64(len(b.runes))+1)/3)
	if c == 0 {
		jaro = 0
	}
	return jaro+0.4*(1-jaro) >= floor-1e-9
}

// jwScratch holds the buffers of Jaro–Winkler, reused between pairs.
type jwScratch struct {
	// used marks the positions of b already matched, one bit each.
	used []uint64
	// masks holds, for each distinct letter of b, the positions where it
	// occurs (nw words each); an ASCII letter's is found by asciiAt, valid
	// while asciiGen is gen, another's by other.
	masks    []uint64
	asciiAt  [utf8.RuneSelf]int32
	asciiGen [utf8.RuneSelf]uint32
	gen      uint32
	other    map[rune]int32
	// matchedA are a's matched letters in order (for transpositions).
	matchedA []rune
}

// similarity is the similarity of two prepared names when it is at least
// floor; below it, it may be any lower value (screening has no use for a
// score under corroboratedNameMin, and skips the word-by-word comparison
// once it cannot reach it).
func (sc *jwScratch) similarity(a, b *prepared, floor float64) float64 {
	if a.norm == b.norm {
		return 1
	}
	// Below floor, the names' own score may be taken as 0: the score
	// returned is then floor or more only by the words (below), and is
	// the same as with the letters' score (under floor) taken into account.
	best := 0.0
	if mayReach(a, b, floor) {
		best = sc.jaroWinkler(a.runes, b.runes)
		if a.reordered || b.reordered {
			best = max(best, sc.jaroWinkler(a.sorted, b.sorted))
		}
	}
	if best < FuzzyThreshold && (a.cjk && b.cjk && cjkContains(a, b) || wordsWithin(a, b) || wordsWithin(b, a)) {
		best = FuzzyThreshold
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
	if floor > 0 {
		// The same with each word's score bounded from its letters
		// (wordMayReach) costs a fraction of it, and settles most pairs
		// of names: no bound reaching floor, no score does.
		for xi, x := range a.words {
			bound := 0.0
			for yi, y := range b.words {
				if bound = max(bound, wordMayReach(x, y, a.wordLetters[xi], b.wordLetters[yi])); bound == 1 {
					break
				}
			}
			if lost += float64(len(x)) * (1 - bound); lost > (1-floor)*weight {
				return 0
			}
		}
		lost = 0
	}
	for xi, x := range a.words {
		bestW := 0.0
		for yi, y := range b.words {
			if a.wordLetters[xi].once&b.wordLetters[yi].once == 0 {
				continue // no letter in common: 0
			}
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

// jaroWinkler is the textbook greedy Jaro matching (each letter of a, in
// order, takes the first letter of b within the window that equals it and
// is not yet taken), computed with bit sets: the letters of b that equal
// a letter of a are a mask, the taken ones another, and the first free
// one in the window is the lowest bit of the two combined. That is the
// same match, letter for letter, at a cost of a's length times the
// window's words instead of times the window's letters: screening an
// organisation's names against a list's spent nearly all its time here.
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
	if len(rb) <= 64 && 2*window+1 <= shortWindow {
		return sc.jaroWinklerShort(ra, rb, window)
	}
	nw := (len(rb) + 63) >> 6
	// Index b's letters: distinct letter k's positions are
	// masks[k*nw : (k+1)*nw].
	sc.gen++
	if sc.gen == 0 {
		// The generation wrapped: forget every letter.
		clear(sc.asciiGen[:])
		sc.gen = 1
	}
	if len(sc.other) > 0 {
		clear(sc.other)
	}
	sc.masks = sc.masks[:0]
	distinct := int32(0)
	for j, r := range rb {
		var k int32
		if r < utf8.RuneSelf {
			if sc.asciiGen[r] != sc.gen {
				sc.asciiGen[r], sc.asciiAt[r] = sc.gen, distinct
				sc.masks = appendZeros(sc.masks, nw)
				distinct++
			}
			k = sc.asciiAt[r]
		} else {
			if sc.other == nil {
				sc.other = map[rune]int32{}
			}
			var ok bool
			if k, ok = sc.other[r]; !ok {
				k = distinct
				sc.other[r] = k
				sc.masks = appendZeros(sc.masks, nw)
				distinct++
			}
		}
		sc.masks[int(k)*nw+j>>6] |= 1 << (uint(j) & 63)
	}
	if cap(sc.used) < nw {
		sc.used = make([]uint64, nw)
	}
	used := sc.used[:nw]
	clear(used)
	sc.matchedA = sc.matchedA[:0]
	for i, r := range ra {
		k := int32(-1)
		if r < utf8.RuneSelf {
			if sc.asciiGen[r] == sc.gen {
				k = sc.asciiAt[r]
			}
		} else if v, ok := sc.other[r]; ok {
			k = v
		}
		if k < 0 {
			continue
		}
		lo, hi := max(0, i-window), min(len(rb), i+window+1)
		if lo >= hi {
			continue
		}
		m := sc.masks[int(k)*nw : int(k+1)*nw]
		for w, last := lo>>6, (hi-1)>>6; w <= last; w++ {
			free := m[w] &^ used[w]
			if w == lo>>6 {
				free &= ^uint64(0) << (uint(lo) & 63)
			}
			if w == last {
				free &= ^uint64(0) >> (63 - uint(hi-1)&63)
			}
			if free != 0 {
				used[w] |= free & -free
				sc.matchedA = append(sc.matchedA, r)
				break
			}
		}
	}
	return sc.jaroWinklerOf(ra, rb, used)
}

// shortWindow is the widest window (in letters) that jaroWinkler scans
// letter by letter: for words of a few letters, indexing b costs more
// than it saves.
const shortWindow = 9

// jaroWinklerShort is jaroWinkler for b of at most 64 letters and a
// narrow window: the same greedy matching, scanning the window.
func (sc *jwScratch) jaroWinklerShort(ra, rb []rune, window int) float64 {
	var used uint64
	sc.matchedA = sc.matchedA[:0]
	for i, r := range ra {
		for j, hi := max(0, i-window), min(len(rb), i+window+1); j < hi; j++ {
			if used&(1<<uint(j)) == 0 && rb[j] == r {
				used |= 1 << uint(j)
				sc.matchedA = append(sc.matchedA, r)
				break
			}
		}
	}
	return sc.jaroWinklerOf(ra, rb, []uint64{used})
}

// jaroWinklerOf is the score of a matching: a's matched letters in order
// (sc.matchedA) and b's (the bits of used).
func (sc *jwScratch) jaroWinklerOf(ra, rb []rune, used []uint64) float64 {
	matches := len(sc.matchedA)
	if matches == 0 {
		return 0
	}
	// Transpositions: a's matched letters against b's, both in order.
	transpositions, n := 0, 0
	for w, taken := range used {
		for taken != 0 {
			j := w<<6 + bits.TrailingZeros64(taken)
			taken &= taken - 1
			if sc.matchedA[n] != rb[j] {
				transpositions++
			}
			n++
		}
	}
	m := float64(matches)
	jaro := (m/float64(len(ra)) + m/float64(len(rb)) + (m-float64(transpositions)/2)/m) / 3
	prefix := 0
	for prefix < min(4, len(ra), len(rb)) && ra[prefix] == rb[prefix] {
		prefix++
	}
	return jaro + float64(prefix)*0.1*(1-jaro)
}

// appendZeros is buf with n zero words more.
func appendZeros(buf []uint64, n int) []uint64 {
	for range n {
		buf = append(buf, 0)
	}
	return buf
}

// foldedOrPlain is s folded (fold), or, where it cannot be, s with its
// ignorable characters dropped and nothing else changed.
func foldedOrPlain(s string) string {
	t, err := fold(s)
	if err == nil {
		return t
	}
	return strings.Map(func(r rune) rune {
		if ignorable(r) {
			return -1
		}
		return r
	}, s)
}
