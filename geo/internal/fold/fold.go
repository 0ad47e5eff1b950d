// Package fold is in charge of turning a French place name into a key that
// two spellings of the same name share: "Saint-Nazaire", "ST NAZAIRE" and
// "saint nazaire" all give "saintnazaire"; "Faa'a" and "Faaa" give "faaa";
// "Moÿ-de-l'Aisne" gives "moydelaisne".
//
// The key drops case, diacritics, and every character that is neither a
// letter nor a digit, and expands the abbreviations La Poste writes in its
// labels ("ST", "STE", as whole words) into "saint" and "sainte". It is used
// both by the generator in geo/gen and by package geo, so that names are
// matched the same way when the data is built and when it is searched.
package fold

import (
	"unicode"
	"unicode/utf8"
)

// Key returns the search key of name, as described in the package doc.
func Key(name string) string {
	key := make([]byte, 0, len(name))
	word := 0 // where the current word starts in key
	flush := func() {
		switch string(key[word:]) {
		case "st":
			key = append(key[:word], "saint"...)
		case "ste":
			key = append(key[:word], "sainte"...)
		}
		word = len(key)
	}
	for _, r := range name {
		if r < 0x80 {
			switch {
			case 'a' <= r && r <= 'z' || '0' <= r && r <= '9':
				key = append(key, byte(r))
			case 'A' <= r && r <= 'Z':
				key = append(key, byte(r)+'a'-'A')
			default:
				flush()
			}
			continue
		}
		r = unicode.ToLower(r)
		if s, ok := latin[r]; ok {
			key = append(key, s...)
			continue
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			key = utf8.AppendRune(key, r)
			continue
		}
		if unicode.Is(unicode.Mn, r) { // a combining accent of decomposed text
			continue
		}
		flush()
	}
	flush()
	return string(key)
}

// latin maps the lower-case letters with diacritics found in French,
// Breton, Occitan, Basque, Corsican and Polynesian place names (and a few
// more of Latin-1 and Latin Extended-A) to their base letters.
var latin = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ä': "a", 'å': "a", 'ā': "a", 'ă': "a", 'ą': "a",
	'æ': "ae",
	'ç': "c", 'ć': "c", 'č': "c",
	'ď': "d", 'đ': "d",
	'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'ē': "e", 'ĕ': "e", 'ė': "e", 'ę': "e", 'ě': "e",
	'ğ': "g",
	'ì': "i", 'í': "i", 'î': "i", 'ï': "i", 'ī': "i", 'ĭ': "i", 'į': "i", 'ı': "i",
	'ł': "l", 'ľ': "l",
	'ñ': "n", 'ń': "n", 'ň': "n",
	'ò': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ö': "o", 'ø': "o", 'ō': "o", 'ő': "o",
	'œ': "oe",
	'ř': "r",
	'ś': "s", 'š': "s", 'ş': "s", 'ß': "ss",
	'ť': "t", 'ţ': "t",
	'ù': "u", 'ú': "u", 'û': "u", 'ü': "u", 'ū': "u", 'ŭ': "u", 'ů': "u", 'ű': "u",
	'ý': "y", 'ÿ': "y",
	'ź': "z", 'ż': "z", 'ž': "z",
	'\u02bb': "", // ʻokina of Polynesian names: part of the word, not a separator
}
