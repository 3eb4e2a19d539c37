package screen

import (
	"strings"
	"unicode"
)

// cyrillicLatin romanises Cyrillic letters (Russian, Ukrainian and
// Belarusian), close to the BGN/PCGN system the US lists use for their
// Latin names: "Ростек" is "rostek". Look-alike folding alone made it
// "poctek", which is no listed name.
var cyrillicLatin = map[rune]string{
	'а': "a", 'б': "b", 'в': "v", 'г': "g", 'д': "d", 'е': "e", 'ё': "e", 'ж': "zh", 'з': "z", 'и': "i",
	'й': "y", 'к': "k", 'л': "l", 'м': "m", 'н': "n", 'о': "o", 'п': "p", 'р': "r", 'с': "s", 'т': "t",
	'у': "u", 'ф': "f", 'х': "kh", 'ц': "ts", 'ч': "ch", 'ш': "sh", 'щ': "shch", 'ъ': "", 'ы': "y", 'ь': "",
	'э': "e", 'ю': "yu", 'я': "ya", 'і': "i", 'ї': "yi", 'є': "ye", 'ґ': "g", 'ў': "u",
}

// transliterate is s with its Cyrillic letters romanised, and whether it
// had any.
func transliterate(s string) (string, bool) {
	if !strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Cyrillic, r) }) {
		return s, false
	}
	var b strings.Builder
	for _, r := range s {
		if l, ok := cyrillicLatin[unicode.ToLower(r)]; ok {
			b.WriteString(l)
			continue
		}
		b.WriteRune(r)
	}
	return b.String(), true
}
