package screen

import (
	"strings"
	"unicode"
)

// Cyrillic names are compared romanised, as the lists give their names in
// Latin letters, and the lists romanise by more than one system: the US
// lists mostly as BGN/PCGN does Russian ("Obshchestvo s Ogranichennoi
// Otvetstvennostyu"), Ukrainian parties by the Ukrainian national system
// ("Tovarystvo z Obmezhenoiu Vidpovidalnistiu"), and passports, and the
// lists' individuals, by ICAO Doc 9303 ("Aleksandr", "Iurii"). A name is
// compared in each of (romanisations):
//
//   - the Russian reading: BGN/PCGN's system for Russian (1947), without
//     its "ye" for е after a vowel, which the lists seldom write, and the
//     other languages' letters read as the nearest Russian one (Ukrainian
//     і, ї, є as i, yi, ye; Kazakh қ, ғ, ң, ә, ө, ұ, ү as k, g, n, a, o,
//     u, u): the lists often name a party of Ukraine, Belarus or
//     Kazakhstan by its Russian name;
//   - ICAO Doc 9303 Part 3 (2021), section 6, the passport system, with
//     its exceptions for Ukrainian and Belarusian (г is h, Ukrainian и is
//     y, Belarusian ё is io) and Bulgarian (щ is sht);
//   - for a name written in another language (cyrillicLanguage), that
//     language's own system: the Ukrainian national system (Cabinet of
//     Ministers resolution 55 of 2010, which BGN/PCGN adopted in 2019),
//     BGN/PCGN's for Belarusian (1979) and Kazakh (1979), the Serbian
//     Latin alphabet (which BGN/PCGN's system for Serbian is) with
//     BGN/PCGN's Macedonian letters, and the Bulgarian Streamlined System
//     (Transliteration Act 2009, which BGN/PCGN adopted in 2013).
//
// A match takes the best score of them all. Letters no table has (those
// of the Central Asian and Caucasian languages, Old Church Slavonic) are
// left as written: such a name is not romanised reliably, and counts as
// none in Latin letters (hasLatinName).

// ruLatin is the Russian reading: BGN/PCGN's Russian letters, and the
// other languages' letters as the nearest Russian ones.
var ruLatin = map[rune]string{
	'а': "a", 'б': "b", 'в': "v", 'г': "g", 'д': "d", 'е': "e", 'ё': "e", 'ж': "zh", 'з': "z", 'и': "i",
	'й': "y", 'к': "k", 'л': "l", 'м': "m", 'н': "n", 'о': "o", 'п': "p", 'р': "r", 'с': "s", 'т': "t",
	'у': "u", 'ф': "f", 'х': "kh", 'ц': "ts", 'ч': "ch", 'ш': "sh", 'щ': "shch", 'ъ': "", 'ы': "y", 'ь': "",
	'э': "e", 'ю': "yu", 'я': "ya",
	// Ukrainian and Belarusian.
	'і': "i", 'ї': "yi", 'є': "ye", 'ґ': "g", 'ў': "u",
	// Kazakh.
	'ә': "a", 'ғ': "g", 'қ': "k", 'ң': "n", 'ө': "o", 'ұ': "u", 'ү': "u", 'һ': "h",
	// Serbian and Macedonian.
	'ђ': "dj", 'ј': "j", 'љ': "lj", 'њ': "nj", 'ћ': "c", 'џ': "dz", 'ѓ': "g", 'ќ': "k", 'ѕ': "dz",
}

// icaoLatin is ICAO Doc 9303's table of Cyrillic letters; the letters it
// has not (Kazakh's) are read as in ruLatin.
var icaoLatin = withLetters(ruLatin, map[rune]string{
	'ё': "e", 'й': "i", 'х': "kh", 'ц': "ts", 'ъ': "ie", 'ю': "iu", 'я': "ia",
	'і': "i", 'ї': "i", 'є': "ie", 'ґ': "g", 'ў': "u",
	'ђ': "d", 'ј': "j", 'љ': "lj", 'њ': "nj", 'ћ': "c", 'џ': "dz", 'ѓ': "g", 'ќ': "kj", 'ѕ': "dz",
})

// icaoExceptions are ICAO Doc 9303's letters of one language.
var icaoExceptions = map[string]map[rune]string{
	"uk": {'г': "h", 'и': "y"},
	"be": {'г': "h", 'ё': "io"},
	"bg": {'щ': "sht"},
}

// nationalLatin are the languages' own systems (above). Ukrainian's є, ї,
// й, ю and я are written ye, yi, y, yu, ya at the start of a word
// (ukrainianInitial).
var nationalLatin = map[string]map[rune]string{
	"uk": withLetters(ruLatin, map[rune]string{
		'г': "h", 'ґ': "g", 'и': "y", 'і': "i", 'ї': "i", 'є': "ie", 'й': "i", 'ю': "iu", 'я': "ia", 'ь': "",
	}),
	"be": withLetters(ruLatin, map[rune]string{
		'г': "h", 'ё': "yo", 'і': "i", 'ў': "w", 'ь': "",
	}),
	"kk": withLetters(ruLatin, map[rune]string{
		'ә': "a", 'ғ': "gh", 'қ': "q", 'ң': "ng", 'ө': "o", 'ұ': "u", 'ү': "u", 'һ': "h", 'і': "i",
	}),
	// The Serbian Latin alphabet's č, ć, š, ž, đ, dž fold to c, c, s, z,
	// dj, dz as names are compared (đ, which has no accent to drop, is
	// written as the lists write it).
	"sr": withLetters(ruLatin, map[rune]string{
		'ж': "z", 'х': "h", 'ц': "c", 'ч': "c", 'ш': "s",
		'ђ': "dj", 'ј': "j", 'љ': "lj", 'њ': "nj", 'ћ': "c", 'џ': "dz", 'ѓ': "gj", 'ќ': "kj", 'ѕ': "dz",
	}),
	"bg": withLetters(ruLatin, map[rune]string{
		'х': "h", 'щ': "sht", 'ъ': "a", 'ь': "y",
	}),
}

// ukrainianInitial are the Ukrainian national system's letters at the
// start of a word.
var ukrainianInitial = map[rune]string{'є': "ye", 'ї': "yi", 'й': "y", 'ю': "yu", 'я': "ya"}

func withLetters(base, over map[rune]string) map[rune]string {
	m := make(map[rune]string, len(base)+len(over))
	for r, s := range base {
		m[r] = s
	}
	for r, s := range over {
		m[r] = s
	}
	return m
}

// cyrillicLanguage guesses a Cyrillic name's language, s in small letters, from the letters
// only it uses ("ru" when none says otherwise): Ukrainian і, ї, є, ґ;
// Belarusian ў (or і beside ы, э or ё, which Ukrainian has not); Kazakh
// ә, ғ, қ, ң, ө, ұ, ү, һ; Serbian and Macedonian ђ, ј, љ, њ, ћ, џ, ѓ, ќ,
// ѕ; Bulgarian a ъ before a consonant, where Russian writes it only
// before е, ё, ю and я.
func cyrillicLanguage(s string) string {
	var i, ukOnly, ruOnly, w bool
	hard := false // the letter before was ъ
	for _, r := range s {
		if hard && unicode.Is(unicode.Cyrillic, r) && !strings.ContainsRune("еёюя", r) {
			return "bg"
		}
		hard = r == 'ъ'
		switch {
		case strings.ContainsRune("әғқңөұүһ", r):
			return "kk"
		case strings.ContainsRune("ђјљњћџѓќѕ", r):
			return "sr"
		case r == 'ў':
			w = true
		case r == 'і':
			i = true
		case strings.ContainsRune("їєґ", r):
			ukOnly = true
		case strings.ContainsRune("ыэё", r):
			ruOnly = true
		}
	}
	switch {
	case w || i && ruOnly && !ukOnly:
		return "be"
	case i || ukOnly:
		return "uk"
	}
	return "ru"
}

// romanisations are a name's romanisations (above), without repeats, or
// nil when it has no Cyrillic letter. A name in Ukrainian need not have a
// letter only Ukrainian has ("Укргазвидобування"): one without a letter
// only Russian has (ы, э, ё, ъ) is read as Ukrainian too.
func romanisations(s string) []string {
	if !strings.ContainsFunc(s, isCyrillic) {
		return nil
	}
	lower := strings.ToLower(s)
	lang := cyrillicLanguage(lower)
	out := []string{romanise(lower, ruLatin, nil, nil, false)}
	add := func(v string) {
		for _, o := range out {
			if o == v {
				return
			}
		}
		out = append(out, v)
	}
	add(romanise(lower, icaoLatin, icaoExceptions[lang], nil, false))
	if lang == "ru" && !strings.ContainsAny(lower, "ыэёъ") {
		lang = "uk"
	}
	if t := nationalLatin[lang]; t != nil {
		var initial map[rune]string
		if lang == "uk" {
			initial = ukrainianInitial
		}
		add(romanise(lower, t, nil, initial, lang == "bg"))
	}
	return out
}

// transliterate is s in the Russian reading, and whether it had a
// Cyrillic letter.
func transliterate(s string) (string, bool) {
	if !strings.ContainsFunc(s, isCyrillic) {
		return s, false
	}
	return romanise(strings.ToLower(s), ruLatin, nil, nil, false), true
}

func isCyrillic(r rune) bool { return unicode.Is(unicode.Cyrillic, r) }

// romanise writes the Cyrillic letters of s, in small letters, by table,
// over's letters first and initial's at the start of a word; other
// characters as they are. finalIa: a word's final "ия" is "ia", as the
// Bulgarian system has it ("Kompania").
func romanise(s string, table, over, initial map[rune]string, finalIa bool) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	start := true
	prev := rune(0)
	rs := []rune(s)
	for i, r := range rs {
		lat, ok := initial[r]
		if !ok || !start {
			if lat, ok = over[r]; !ok {
				lat, ok = table[r]
			}
		}
		if finalIa && r == 'я' && prev == 'и' && (i+1 == len(rs) || !unicode.IsLetter(rs[i+1])) {
			lat, ok = "a", true
		}
		start = !unicode.IsLetter(r) && r != '\'' && r != '\u2019' && r != '\u02bc'
		prev = r
		if ok {
			b.WriteString(lat)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
