package screen

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// Thresholds of the matcher. They are Meridian's choice, tuned on the
// fixtures, not a legal standard: a possible match only asks a person to
// look, so they err towards asking.
const (
	// FuzzyThreshold is the Jaro–Winkler score of two normalised names
	// from which they may be the same party.
	FuzzyThreshold = 0.90
	// addressCorroborates lowers the name score needed when the addresses
	// share most of their words.
	addressThreshold    = 0.6
	corroboratedNameMin = 0.80
	// minFuzzyLen keeps very short names from matching by chance.
	minFuzzyLen = 4
)

// Match kinds.
const (
	// Exact: a name or alias equals the entry's name or an alias after
	// normalising, and a country of the organisation is among the entry's.
	Exact = "exact"
	// Possible: anything weaker; a person must confirm or dismiss it.
	Possible = "possible"
)

// Match is one list entry an organisation may be.
type Match struct {
	Kind    string  `json:"kind"`
	Score   float64 `json:"score"` // name similarity, 1 for equal names
	OrgName string  `json:"orgName"`
	Matched string  `json:"matched"` // the entry's name or alias
	// CountryMatch: a country of the organisation (headquarters, parent)
	// is among the entry's address countries.
	CountryMatch bool    `json:"countryMatch"`
	AddressScore float64 `json:"addressScore,omitempty"`
	// LookAlike: the names are the same only once look-alike letters of
	// other scripts are folded to the Latin ones they imitate.
	LookAlike bool `json:"lookAlike,omitempty"`
	// MixedScript: the organisation's name mixes scripts within a word
	// (Latin and Cyrillic letters, say), so a near match is enough.
	MixedScript bool `json:"mixedScript,omitempty"`
	// Romanised: the names are this alike once the organisation's
	// Cyrillic letters are romanised.
	Romanised bool `json:"romanised,omitempty"`
	// SpacedLetters: the names are this alike once the one-letter words
	// of the organisation's name are joined ("R O S T E C").
	SpacedLetters bool  `json:"spacedLetters,omitempty"`
	Entry         Entry `json:"entry"`
	// EntrySHA256 is the entry's hash as this screening saw it
	// (Entry.ContentHash): a decision can name it (DecideSeen), so that
	// it is refused if the entry changes before it is recorded.
	EntrySHA256 string `json:"entrySha256"`
	// Decision is a person's confirmation or dismissal, when made.
	Decision *Decision `json:"decision,omitempty"`
	// Changed: the match stands only by a confirmation made before the
	// organisation changed its names, country or addresses.
	Changed bool `json:"changed,omitempty"`
	// Lapsed is a dismissal of this match that no longer applies: the
	// entry has changed since it was made (Decision.EntrySHA256), so the
	// match needs a person's review again.
	Lapsed *Decision `json:"lapsedDismissal,omitempty"`
}

// Result is one organisation's screening.
type Result struct {
	Org     string  `json:"org"`
	Status  string  `json:"status"`
	Source  string  `json:"source"`
	Matches []Match `json:"matches,omitempty"`
	// OrgFingerprint is the organisation as this screening read it
	// (Fingerprint): a decision can name it, so that it is refused if
	// the organisation changes before the decision is recorded.
	OrgFingerprint string `json:"orgFingerprint,omitempty"`
}

// Screening is the result as the policy engine takes it.
func (r Result) Screening() *policy.Screening {
	return &policy.Screening{Status: r.Status, Source: r.Source}
}

// index holds a list's names and addresses normalised once, and where
// each entry id first appears.
type index struct {
	list  *List
	names [][]prepared // per entry: normalised name, then aliases
	addrs [][]map[string]bool
	byID  map[string]int
	// exact finds the listed names that may equal a name by the keys of
	// exactKeys, made the first time an organisation is screened past
	// the bounds.
	exactOnce sync.Once
	exact     map[string][]listedName
	// squashed finds the listed names whose words, run together, are a
	// key of squashKeys, made the first time an organisation is
	// screened.
	squashedOnce sync.Once
	squashed     map[string][]listedName
}

// listedName is one of an entry's names: ix.names[entry][name].
type listedName struct{ entry, name int32 }

// exactKeys are the keys a name is found by for an exact match: the set
// of the words of each version of it (as normalised, with the Russian
// legal forms spelt out kept, with only the earlier ones left out), and
// of each with its legal forms kept when it is too short to compare
// without them. Two names with no key in common never score 1
// (pairScore): versionScore is 1 only when the versions compared (each as
// normalised, or with its legal forms kept when short, p.full) are the
// same name or the same words in any order or number (similarity), the
// same set of words.
func exactKeys(p *prepared, add func(string)) {
	var done []*prepared
	for _, v := range []*prepared{p, p.keptOr(), p.earlierOr()} {
		for _, w := range []*prepared{v, v.full} {
			if w != nil && !slices.Contains(done, w) {
				done = append(done, w)
				add(wordSetKey(w))
			}
		}
	}
}

// wordSetKey is the words of p, sorted, without repeats.
func wordSetKey(p *prepared) string {
	if len(p.texts) == 1 {
		return p.texts[0]
	}
	ws := slices.Clone(p.texts)
	slices.Sort(ws)
	return strings.Join(slices.Compact(ws), " ")
}

// exactIndex is ix.exact, made once.
func (ix *index) exactIndex() map[string][]listedName {
	ix.exactOnce.Do(func() { ix.exact = ix.namesBy(exactKeys) })
	return ix.exact
}

// squashKeys are the keys a name is found by with its words run
// together: the words of each version of it that exactKeys finds it by,
// in their order, joined with no space, where that is at least
// minSquashed letters. Two names with a key in common are the same
// letters in the same order, spaced apart differently: a listed name
// split into chunks of any length ("H oldf ield D ynam ics"), which the
// comparison of words scored anywhere from near 1 to nothing.
func squashKeys(p *prepared, add func(string)) {
	var done []*prepared
	for _, v := range []*prepared{p, p.keptOr(), p.earlierOr()} {
		for _, w := range []*prepared{v, v.full} {
			if w == nil || slices.Contains(done, w) {
				continue
			}
			done = append(done, w)
			if k := strings.Join(w.texts, ""); utf8.RuneCountInString(k) >= minSquashed {
				add(k)
			}
		}
	}
}

// minSquashed is the fewest letters a name run together is found by
// (squashKeys): shorter ones ("ZTE", "AB C") are left to the comparison
// of words and the joining of spaced letters, as run together they
// would equal the chance spacing of too many ordinary names.
const minSquashed = 8

// squashedIndex is ix.squashed, made once.
func (ix *index) squashedIndex() map[string][]listedName {
	ix.squashedOnce.Do(func() { ix.squashed = ix.namesBy(squashKeys) })
	return ix.squashed
}

// namesBy is the listed names by each key keys finds them by, in the
// list's order, each at most once a key.
func (ix *index) namesBy(keys func(*prepared, func(string))) map[string][]listedName {
	by := map[string][]listedName{}
	for i := range ix.names {
		for ni := range ix.names[i] {
			ln := listedName{int32(i), int32(ni)}
			keys(&ix.names[i][ni], func(k string) {
				if ls := by[k]; len(ls) == 0 || ls[len(ls)-1] != ln {
					by[k] = append(ls, ln)
				}
			})
		}
	}
	return by
}

// squashHit is one of an organisation's names whose words, run together,
// are a listed name's (squashKeys): which, and which listed name.
type squashHit struct {
	raw       string
	romanised bool
	name      int32
}

func newIndex(l *List) *index {
	ix := &index{list: l, names: make([][]prepared, len(l.Entries)), addrs: make([][]map[string]bool, len(l.Entries)),
		byID: make(map[string]int, len(l.Entries))}
	for i, e := range l.Entries {
		if _, ok := ix.byID[e.ID]; !ok {
			ix.byID[e.ID] = i
		}
		for _, n := range append([]string{e.Name}, e.AltNames...) {
			ix.names[i] = append(ix.names[i], prepareName(n, Normalize(n), keepingSpelled(n), false))
		}
		for _, a := range e.Addresses {
			ix.addrs[i] = append(ix.addrs[i], wordSet(Normalize(a.String())))
		}
	}
	return ix
}

// Screen compares an organisation's names, aliases and addresses with
// every entry of the list, applies the decisions people have recorded,
// and says what its restricted-party status is and why.
func Screen(tenant string, org *catalog.Organization, l *List, decisions []Decision) Result {
	return newIndex(l).screen(tenant, org, decisions)
}

// prepareOrg prepares one of an organisation's names, with the set of its
// words: each is compared with every name of the list.
func prepareOrg(n string) prepared {
	p := prepare(n)
	p.set = make(map[string]bool, len(p.texts))
	for _, w := range p.texts {
		p.set[w] = true
	}
	return p
}

// orgName is one of an organisation's names as screening compares it.
type orgName struct {
	raw       string
	mixed     bool // it mixes scripts within a word
	romanised bool // compared with its Cyrillic letters romanised
	spaced    bool // compared with its spaced letters joined
	// written is the letters of the version compared, as written before
	// normalising (romanised, if it is): what bounds its cost.
	written int
	// tier is what compares it past the bounds (withinBounds): 0 a name
	// as written, 1 in the Russian reading, as both were compared before
	// the other versions were; 2 another romanisation or spaced letters
	// joined, compared within the bounds only.
	tier int
	prepared
}

func (ix *index) screen(tenant string, org *catalog.Organization, decisions []Decision) Result {
	res := Result{Org: org.Metadata.Name, OrgFingerprint: Fingerprint(org)}
	raw := org.ScreeningNames()
	if n := org.ScreeningText(); n > catalog.MaxScreeningText {
		// The cost of a screening grows with the length of the names
		// compared; the catalog refuses such an organisation, and one that
		// got here by another way is not screened but held, failing closed.
		res.Status = catalog.RestrictedUndetermined
		res.Source = fmt.Sprintf("not screened: its legal name and aliases are %d bytes, over the %d the screening compares; shorten them", n, catalog.MaxScreeningText)
		return res
	}
	// Its addresses are compared with those of every entry its names come
	// near, at a cost that grows with their number and length: held the
	// same way past the catalog's bounds.
	if n := len(org.Spec.Addresses); n > catalog.MaxScreeningNames {
		res.Status = catalog.RestrictedUndetermined
		res.Source = fmt.Sprintf("not screened: it has %d addresses, over the %d the screening compares; remove some", n, catalog.MaxScreeningNames)
		return res
	}
	for i, a := range org.Spec.Addresses {
		if len(a) > catalog.MaxScreeningField {
			res.Status = catalog.RestrictedUndetermined
			res.Source = fmt.Sprintf("not screened: its address %d is %d bytes, over the %d the screening compares; shorten it", i+1, len(a), catalog.MaxScreeningField)
			return res
		}
	}
	countries := []string{org.Spec.Headquarters}
	if p := org.ParentHQ(); p != "" && p != org.Spec.Headquarters {
		countries = append(countries, p)
	}
	// Names that normalise alike score alike: each is compared once.
	var names []orgName
	type nameKey struct {
		norm, kept string
		mixed      bool
	}
	seen := map[nameKey]int{} // where in names
	for _, rn := range withSymbolsDropped(raw) {
		shown, n := rn[0], rn[1]
		key := nameKey{Normalize(n), keepingSpelled(n), mixesScripts(n)}
		if i, ok := seen[key]; ok && names[i].spaced {
			// An earlier name read with its letters joined is this
			// name as written: a match by it may be exact.
			names[i] = orgName{raw: shown, mixed: key.mixed, written: utf8.RuneCountInString(n), prepared: prepareName(n, key.norm, key.kept, true)}
		} else if ok {
			names[i].tier = 0
		} else {
			seen[key] = len(names)
			names = append(names, orgName{raw: shown, mixed: key.mixed, written: utf8.RuneCountInString(n), prepared: prepareName(n, key.norm, key.kept, true)})
		}
		// A name in Cyrillic is compared romanised too, as the lists
		// give their names in Latin letters.
		// Each of its romanisations (translit.go) is compared, and each
		// version with its spaced letters joined (joinSpacedLetters).
		mixed := key.mixed
		add := func(v string, romanised, spaced bool, tier int) {
			key := nameKey{Normalize(v), keepingSpelled(v), mixed}
			if i, ok := seen[key]; ok {
				names[i].tier = min(names[i].tier, tier)
				return
			}
			seen[key] = len(names)
			names = append(names, orgName{raw: shown, mixed: mixed, romanised: romanised, spaced: spaced, written: utf8.RuneCountInString(v),
				tier: tier, prepared: prepareName(v, key.norm, key.kept, true)})
		}
		if j := joinSpacedLetters(n); j != "" {
			add(j, false, true, 2)
		}
		if j := joinShortWords(n); j != "" {
			add(j, false, true, 2)
		}
		for i, lat := range romanisations(n) {
			tier := 2
			if i == 0 {
				tier = 1 // the Russian reading
			}
			add(lat, true, false, tier)
			if j := joinSpacedLetters(lat); j != "" {
				add(j, true, true, 2)
			}
			if j := joinShortWords(lat); j != "" {
				add(j, true, true, 2)
			}
		}
	}
	// Romanised in each system, a Cyrillic name is compared up to four
	// times, and each comparison costs a pass over the list, more for
	// longer names: the versions compared (as written and romanised, not
	// counting those with spaced letters or short words joined, at most
	// two more each, of no more letters: up to three times the
	// comparisons of the versions counted) are bounded as a Latin organisation's names are by the catalog, in
	// number and in letters (maxComparedNames, maxComparedLetters). Bounded
	// by twice the letters alone, many short Cyrillic names cost four
	// times, and the longest twice, what the costliest Latin ones do.
	// Past them, only the names as written and in the Russian reading
	// are compared with every entry, as they were before the other
	// versions were, within the same bounds (withinBounds), and the
	// versions left out only with the listed names they may equal
	// (exactKeys): a listed verdict either finds is kept, and the
	// organisation is otherwise held undetermined, saying the comparison
	// was partial. Held without any comparison, one whose exact listed
	// name is among its aliases was no longer listed; compared as written
	// only, one whose alias is the listed name in Cyrillic letters.
	letters, versions := 0, 0
	for i := range names {
		if !names[i].spaced {
			letters += names[i].written
			versions++
		}
	}
	// Every version, within the bounds or not, is looked up run
	// together: a few lookups each.
	squashed := ix.squashedIndex()
	hits := map[int32]squashHit{}
	for i := range names {
		on := &names[i]
		squashKeys(&on.prepared, func(k string) {
			for _, ln := range squashed[k] {
				if _, ok := hits[ln.entry]; !ok {
					hits[ln.entry] = squashHit{raw: on.raw, romanised: on.romanised, name: ln.name}
				}
			}
		})
	}
	partial := ""
	switch {
	case versions > maxComparedNames:
		partial = fmt.Sprintf("not screened in full: its legal name and aliases, as screening compares them (as written, and romanised in each system the lists use), are %d names, over the %d the screening compares; give fewer aliases in Cyrillic letters (one in Latin letters counts once)", versions, maxComparedNames)
	case letters > maxComparedLetters:
		partial = fmt.Sprintf("not screened in full: its legal name and aliases, as screening compares them (as written, and romanised in each system the lists use), are %d letters, over the %d the screening compares; shorten them, or give fewer aliases", letters, maxComparedLetters)
	}
	// exactOnly are, past the bounds, the versions left out, each by the
	// entries with a name it may equal (exactKeys): looked up, not
	// compared with every entry, they cost a few lookups each, and a
	// name of the organisation that is a listed name exactly, in its
	// Russian reading or another, is listed, not held.
	var exactOnly map[int][]*orgName
	if partial != "" {
		var left int
		var rest []orgName
		names, rest, left = withinBounds(names)
		partial += "; they were compared with every listed name as written and in the Russian reading only"
		if left > 0 {
			partial += fmt.Sprintf(" (%d of those versions not)", left)
		}
		partial += ", the others only with the listed names they equal"
		exact := ix.exactIndex()
		exactOnly = map[int][]*orgName{}
		for ri := range rest {
			on := &rest[ri]
			exactKeys(&on.prepared, func(k string) {
				for _, ln := range exact[k] {
					i := int(ln.entry)
					if ons := exactOnly[i]; len(ons) == 0 || ons[len(ons)-1] != on {
						exactOnly[i] = append(ons, on)
					}
				}
			})
		}
	}
	var orgAddr []map[string]bool
	for _, a := range org.Spec.Addresses {
		orgAddr = append(orgAddr, wordSet(Normalize(a)))
	}
	var sc jwScratch
	for i, e := range ix.list.Entries {
		// best is the most similar pair of names; bestMixed the most
		// similar of the organisation's names that mix scripts.
		best, bestMixed := Match{}, Match{}
		compared := len(names)
		for oi := range compared + len(exactOnly[i]) {
			var on *orgName
			if oi < compared {
				on = &names[oi]
			} else {
				on = exactOnly[i][oi-compared]
			}
			for ei := range ix.names[i] {
				en := &ix.names[i][ei]
				score, ok := sc.pairScore(&on.prepared, en)
				if !ok || oi >= compared && score < 1 {
					continue
				}
				matched := e.Name
				if ei > 0 {
					matched = e.AltNames[ei-1]
				}
				// On a tie, a name as written beats one read with
				// its spaced letters joined, which is never exact.
				if score > best.Score || score == best.Score && best.SpacedLetters && !on.spaced {
					best = Match{Score: score, OrgName: on.raw, Matched: matched, Romanised: on.romanised, SpacedLetters: on.spaced}
				}
				if on.mixed && (score > bestMixed.Score || score == bestMixed.Score && bestMixed.SpacedLetters && !on.spaced) {
					bestMixed = Match{Score: score, OrgName: on.raw, Matched: matched, MixedScript: true, Romanised: on.romanised, SpacedLetters: on.spaced}
				}
			}
		}
		if h, ok := hits[int32(i)]; ok && best.Score < 1 {
			// The same letters in the same order, spaced apart
			// otherwise: a possible match for a person, never exact.
			matched := e.Name
			if h.name > 0 {
				matched = e.AltNames[h.name-1]
			}
			best = Match{Score: 1, OrgName: h.raw, Matched: matched, Romanised: h.romanised, SpacedLetters: true}
		}
		if best.Score < FuzzyThreshold && bestMixed.Score >= corroboratedNameMin {
			// A word that mixes scripts is never an honest spelling: a
			// name with one that comes near a listed name is looked at
			// even without an address to corroborate it.
			best = bestMixed
		}
		if best.Score < corroboratedNameMin {
			continue
		}
		best.AddressScore = addressScore(orgAddr, ix.addrs[i])
		if best.Score < FuzzyThreshold && best.AddressScore < addressThreshold && !best.MixedScript {
			continue
		}
		if best.Score == 1 && !best.Romanised && !best.SpacedLetters {
			best.LookAlike = normalize(best.OrgName, false) != normalize(best.Matched, false)
		}
		for _, c := range e.Countries() {
			if contains(countries, c) {
				best.CountryMatch = true
			}
		}
		// Letters are joined where a name may only have been spaced
		// ("Example Sp. z o.o." reads "Example Zoo"): a match found so
		// asks a person, and sets no status by itself.
		best.Kind = Possible
		if best.Score == 1 && best.CountryMatch && !best.SpacedLetters {
			best.Kind = Exact
		}
		best.Entry = e
		res.Matches = append(res.Matches, best)
	}
	sort.SliceStable(res.Matches, func(i, j int) bool {
		if res.Matches[i].Kind != res.Matches[j].Kind {
			return res.Matches[i].Kind == Exact
		}
		return res.Matches[i].Score > res.Matches[j].Score
	})
	ix.applyDecisions(&res, tenant, org, decisions)
	hashEntries(&res)
	res.Status, res.Source = ix.status(res)
	if partial != "" {
		// A listed verdict stands; no match is no clearance.
		switch res.Status {
		case catalog.RestrictedNone:
			res.Status, res.Source = catalog.RestrictedUndetermined, partial
		case catalog.RestrictedUndetermined:
			res.Source = partial + "; " + res.Source
		}
	}
	holdUncomparable(&res, org, raw)
	return res
}

// withinBounds is what of names is compared with every entry past the
// bounds: the names as written, then in the Russian reading (tier 0,
// then 1), each while the versions and their letters are within
// maxComparedNames and maxComparedLetters, so that comparing them costs
// no more than the costliest Latin organisation; rest are the others,
// left how many of rest are of tier 0 or 1.
// The names as written always fit, being within the catalog's bounds,
// unless symbols were dropped from some (withSymbolsDropped).
func withinBounds(names []orgName) (kept, rest []orgName, left int) {
	letters := 0
	for tier := range 3 {
		for _, n := range names {
			if n.tier != tier {
				continue
			}
			if tier == 2 || len(kept) >= maxComparedNames || letters+n.written > maxComparedLetters {
				if tier < 2 {
					left++
				}
				rest = append(rest, n)
				continue
			}
			letters += n.written
			kept = append(kept, n)
		}
	}
	return kept, rest, left
}

// maxComparedLetters bounds the letters of an organisation's names as
// screening compares them, romanisations included, spaced letters joined
// not: what the catalog's bound on their bytes allows in Latin letters.
const maxComparedLetters = catalog.MaxScreeningText

// maxComparedNames bounds the versions of an organisation's names that
// screening compares, as written and romanised, but not counting those
// with spaced letters joined: as many as the names of an organisation in
// Latin letters can be.
const maxComparedNames = catalog.MaxScreeningNames + 1

// pairScore is how alike an organisation's name a and a listed name b
// are: the highest of their scores with the legal forms spelt out
// (spelledForms) left out, kept, and left out only as the Russian
// commercial ones were before the others were added (earlierSpelledForms),
// so that leaving out a form never lowers a score below what either
// found. Each version is pruned by its own letters (mayReach,
// wordMayReach). ok is false when the names are too short to compare.
func (sc *jwScratch) pairScore(a, b *prepared) (score float64, ok bool) {
	score, ok = sc.versionScore(a, b)
	if score < 1 && (a.kept != nil || b.kept != nil) {
		if k, kok := sc.versionScore(a.keptOr(), b.keptOr()); kok && (!ok || k > score) {
			score, ok = k, true
		}
	}
	if score < 1 && (a.earlier != nil || b.earlier != nil) {
		ea, eb := a.earlierOr(), b.earlierOr()
		if ea != a.keptOr() || eb != b.keptOr() {
			if e, eok := sc.versionScore(ea, eb); eok && (!ok || e > score) {
				score, ok = e, true
			}
		}
	}
	return score, ok
}

// versionScore is pairScore for one version of each name.
func (sc *jwScratch) versionScore(a, b *prepared) (float64, bool) {
	if a.norm == b.norm {
		return 1, true
	}
	if len(a.norm) < minFuzzyLen || len(b.norm) < minFuzzyLen {
		// Too short to compare by letters: with their legal forms kept,
		// where that makes them long enough ("Kas PJSC" and "Kaz PJSC").
		if a.full != nil {
			a = a.full
		}
		if b.full != nil {
			b = b.full
		}
		if len(a.norm) < minFuzzyLen || len(b.norm) < minFuzzyLen {
			return 0, false
		}
	}
	return sc.similarity(a, b, corroboratedNameMin), true
}

// holdUncomparable holds undetermined an organisation none of whose names
// has a Latin letter as screening compares it (Cyrillic romanised, other
// scripts as written), unless a match in its own script already set a
// status: the lists write their parties' names in Latin letters, so such
// an organisation matches none of them, and a listed party registered
// under its Chinese or Arabic name alone screened none. The result says
// which fields to give a name in Latin letters.
func holdUncomparable(res *Result, org *catalog.Organization, names []string) {
	if res.Status != catalog.RestrictedNone && res.Status != catalog.RestrictedUndetermined || hasLatinName(names) {
		return
	}
	fields := fmt.Sprintf("spec.legalName %q", org.Spec.LegalName)
	if org.Spec.LegalName == "" {
		fields = fmt.Sprintf("metadata.name %q", org.Metadata.Name)
	}
	switch n := len(org.Spec.Aliases); n {
	case 0:
	case 1:
		fields += fmt.Sprintf(" and its spec.aliases %q", org.Spec.Aliases[0])
	default:
		fields += fmt.Sprintf(" and its %d spec.aliases", n)
	}
	why := "no name of it has a Latin letter"
	if onlyLegalForms(names) {
		// "Obshchestvo s Ogranichennoi Otvetstvennostyu", "LLC": it has
		// Latin letters, but they only say what kind of company it is,
		// and a person told it has none would look for no fix.
		why = "its names have Latin letters, as written or romanised, only in legal forms (\"Co., Ltd.\", \"LLC\", \"Obshchestvo s Ogranichennoi Otvetstvennostyu\"), which name no party"
	}
	msg := fmt.Sprintf("not comparable with the list: %s (%s), and the list writes its parties' names in Latin letters, "+
		"so none of them could match; add the name it uses in Latin letters (its English name, or the romanisation on its registration or export documents) to spec.aliases", why, fields)
	res.Status, res.Source = catalog.RestrictedUndetermined, msg+"; in its own script: "+res.Source
}

// hasLatinName reports whether one of names has a Latin letter as
// screening compares it: folded (accents and width), Cyrillic romanised,
// legal forms left out ("示例科技 Co., Ltd." has none), even when nothing
// else is left: a name that is only a legal form ("Co., Ltd.", "LLC",
// "S.A."), which Normalize keeps whole, names no party, and an alias of
// it made an organisation written in Chinese comparable, and cleared.
// Look-alike folding is not counted: it turns some Greek letters into
// Latin ones, and a Greek name is no more comparable with a Latin one for
// it.
//
// A Cyrillic name counts by its romanisations, but not one that leaves a
// Cyrillic letter no table has (translit.go) and has no Latin letter of
// its own: romanised in part ("ҷumҳurii"), it is compared with no name a
// list would write.
func hasLatinName(names []string) bool {
	latin := func(s string) bool {
		return strings.ContainsFunc(formsLeftOut(s), func(r rune) bool { return unicode.Is(unicode.Latin, r) })
	}
	for _, n := range names {
		own := latin(n)
		if own {
			return true
		}
		for _, lat := range romanisations(n) {
			if latin(lat) && !strings.ContainsFunc(lat, isCyrillic) {
				return true
			}
		}
	}
	return false
}

// onlyLegalForms reports whether one of names, which hasLatinName has
// none of, has Latin letters with its legal forms kept: they are all in
// legal forms.
func onlyLegalForms(names []string) bool {
	latin := func(s string) bool {
		return strings.ContainsFunc(normalizeForms(s, false, false), func(r rune) bool { return unicode.Is(unicode.Latin, r) })
	}
	for _, n := range names {
		if latin(n) {
			return true
		}
		for _, lat := range romanisations(n) {
			if latin(lat) && !strings.ContainsFunc(lat, isCyrillic) {
				return true
			}
		}
	}
	return false
}

// addressScore is the largest share of words two addresses have in
// common (Jaccard), over the organisation's and the entry's addresses.
func addressScore(orgAddr, addrs []map[string]bool) float64 {
	best := 0.0
	for _, ow := range orgAddr {
		for _, aw := range addrs {
			inter := 0
			for w := range ow {
				if aw[w] {
					inter++
				}
			}
			if union := len(ow) + len(aw) - inter; union > 0 {
				best = max(best, float64(inter)/float64(union))
			}
		}
	}
	return best
}

func wordSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// applyDecisions attaches each match's latest decision for this tenant's
// organisation as it is now (Decision). A confirmation is the exception:
// when the latest decision on an entry for the tenant's organisation of
// this name confirms it, the match stands whatever the organisation has
// changed since, names included, until a person dismisses it. Held to the
// fingerprint, a confirmed listed party only had to respell its legal
// name until screening found no match, and was cleared.
//
// One pass over the decisions, the latest of each kind kept by entry: the
// decisions file only grows, and an organisation's names may match
// thousands of entries, so comparing every match with every decision cost
// their product.
func (ix *index) applyDecisions(res *Result, tenant string, org *catalog.Organization, decisions []Decision) {
	fp := Fingerprint(org)
	tenant = catalog.TenantOr(tenant)
	// A tenant of a server registers organisations as it likes: one
	// confirmed as a listed party would otherwise only have to run its
	// jobs under another organisation's name. A confirmation for any of
	// such a tenant's organisations stands for each of them, until a
	// person dismisses the entry for that one (later decisions win). The
	// default tenant's organisations are the operator's own, often of
	// unrelated parties (a consultant's clients): each stands alone.
	crossOrg := tenant != catalog.DefaultTenant
	current := map[string]*Decision{} // by entry: about the organisation as it is now
	latest := map[string]*Decision{}  // by entry, whatever the fingerprint
	for j := range decisions {
		d := &decisions[j]
		if catalog.TenantOr(d.Tenant) != tenant {
			continue
		}
		if d.Org == res.Org && (d.Fingerprint == "" || d.Fingerprint == fp) {
			current[d.EntryID] = d // later decisions replace earlier ones
		}
		if d.Org == res.Org || crossOrg && d.Action == Confirm {
			latest[d.EntryID] = d
		}
	}
	first := map[string]int{} // by entry: its first match
	for i := range res.Matches {
		m := &res.Matches[i]
		if d, ok := current[m.Entry.ID]; ok {
			if lapsed(d, &m.Entry) {
				m.Lapsed = d
			} else {
				m.Decision = d
			}
		}
		if _, ok := first[m.Entry.ID]; !ok {
			first[m.Entry.ID] = i
		}
	}
	for _, id := range slices.Sorted(maps.Keys(latest)) {
		d := latest[id]
		if d.Action != Confirm {
			continue
		}
		if i, ok := first[id]; ok {
			res.Matches[i].Decision, res.Matches[i].Lapsed = d, nil
			res.Matches[i].Changed = d.Fingerprint != "" && d.Fingerprint != fp
			continue
		}
		// The organisation no longer matches the entry by name: the
		// confirmation still stands, while the entry is on the list.
		if i, ok := ix.byID[id]; ok {
			e := ix.list.Entries[i]
			res.Matches = append(res.Matches, Match{Kind: Possible, OrgName: org.ScreeningNames()[0], Matched: e.Name, Entry: e, Decision: d, Changed: true})
		}
	}
}

// hashEntries gives each match the hash of its entry, for a person to
// name in a decision.
func hashEntries(res *Result) {
	for i := range res.Matches {
		res.Matches[i].EntrySHA256 = res.Matches[i].Entry.ContentHash()
	}
}

// lapsed: d dismisses a match with the entry as it was when decided, and
// the entry has changed since (a later import gave it, say, an alias equal
// to the organisation's name): the dismissal no longer applies. A
// confirmation applies whatever the entry became, failing closed, and a
// decision recorded before entries were hashed applies as it did.
func lapsed(d *Decision, e *Entry) bool {
	return d.Action == Dismiss && d.EntrySHA256 != "" && !e.hashedAs(d.EntrySHA256)
}

// Fingerprint is what screening reads of an organisation (its name,
// country, parent's country, names and addresses), hashed: a decision
// made about it holds while these stay the same.
func Fingerprint(o *catalog.Organization) string {
	if o == nil {
		return ""
	}
	sum := sha256.Sum256([]byte(screenKey(o)))
	return hex.EncodeToString(sum[:])
}

// status is what the matches say, strongest first: an exact or confirmed
// match on the Entity List, then on another list, then a possible match
// nobody has decided (undetermined), else none.
func (ix *index) status(res Result) (string, string) {
	var undecided, dismissed []string
	for _, list := range []string{"EL", ""} {
		for _, m := range res.Matches {
			if list == "EL" && m.Entry.List != "EL" {
				continue
			}
			d := m.Decision
			switch {
			case d != nil && d.Action == Dismiss:
			case d != nil && d.Action == Confirm:
				changed := ""
				switch {
				case d.Org != res.Org:
					changed = fmt.Sprintf(" (confirmed for the tenant's organisation %s; a confirmation stands for each of the tenant's organisations until a person dismisses it for this one)", noted(d.Org))
				case m.Changed:
					changed = " (the organisation's names, country or addresses have changed since; a confirmation stands until a person dismisses it)"
				}
				return m.Entry.Status(), fmt.Sprintf("%s; match of %q confirmed by %s on %s: %s%s",
					m.Entry.Describe(), m.OrgName, noted(d.By), d.Time.UTC().Format("2006-01-02"), noted(d.Reason), changed)
			case m.Kind == Exact:
				return m.Entry.Status(), fmt.Sprintf("%s; exact match of %q and country%s%s", m.Entry.Describe(), m.OrgName, lookAlikeNote(m), lapsedNote(m))
			}
		}
	}
	for _, m := range res.Matches {
		if m.Decision != nil && m.Decision.Action == Dismiss {
			dismissed = append(dismissed, fmt.Sprintf("%s (%s) dismissed by %s on %s: %s", shown(m.Entry.ID), shown(m.Entry.Name),
				noted(m.Decision.By), m.Decision.Time.UTC().Format("2006-01-02"), noted(m.Decision.Reason)))
			continue
		}
		why := fmt.Sprintf("score %.2f", m.Score)
		if m.Score == 1 {
			why = "same name, but no country of the organisation among the entry's"
			if m.SpacedLetters && m.CountryMatch {
				why = "same name and country, for a person to confirm"
			}
		}
		if m.MixedScript && m.Score < FuzzyThreshold {
			why += ", a name that mixes scripts within a word"
		}
		why += lookAlikeNote(m)
		undecided = append(undecided, fmt.Sprintf("possible match (%s) of %q with %s%s", why, m.OrgName, m.Entry.Describe(), lapsedNote(m)))
	}
	if len(undecided) > 0 {
		if len(undecided) > maxListed {
			undecided = append(undecided[:maxListed], fmt.Sprintf("and %d more", len(undecided)-maxListed))
		}
		return catalog.RestrictedUndetermined, strings.Join(undecided, "; ") + "; awaiting a person's decision"
	}
	src := fmt.Sprintf("screened against the Consolidated Screening List imported %s (%s, sha256 %s, %d entries): no match",
		ix.list.ImportedAt.UTC().Format("2006-01-02"), shown(ix.list.File), shown(short(ix.list.SHA256)), len(ix.list.Entries))
	if len(dismissed) > 0 {
		if len(dismissed) > maxListed {
			dismissed = append(dismissed[:maxListed], fmt.Sprintf("and %d more", len(dismissed)-maxListed))
		}
		src += " after possible matches were dismissed: " + strings.Join(dismissed, "; ")
	}
	return catalog.RestrictedNone, src
}

// maxListed is how many undecided or dismissed matches a result's source
// names, the others counted; the result's matches hold them all.
const maxListed = 3

// maxNote bounds what of a decision's text (who, why, about which
// organisation) a result's source quotes. The source is kept with every
// screening result a server remembers and recorded with each law check:
// copied whole, a common name's dozens of dismissals, or one decision's
// reason of megabytes in a decisions file, made each of them as large.
const maxNote = 1024

// noted is s for a result's source, cut to maxNote bytes, as shown
// quotes it.
func noted(s string) string {
	if len(s) <= maxNote {
		return shown(s)
	}
	return shown(strings.ToValidUTF8(s[:maxNote], "")) + fmt.Sprintf("... (%d bytes more)", len(s)-maxNote)
}

// lookAlikeNote tells the person reading a finding that the names are
// the same only once look-alike letters are folded.
func lookAlikeNote(m Match) string {
	note := ""
	if m.SpacedLetters {
		note = ", its spaced letters joined"
	}
	if m.Romanised {
		return note + ", its Cyrillic letters romanised"
	}
	if note != "" {
		return note
	}
	if m.LookAlike {
		return ", written with look-alike letters of another script or symbols for letters"
	}
	return ""
}

// lapsedNote says a match was dismissed against an earlier version of
// the entry, which no longer clears it.
func lapsedNote(m Match) string {
	if d := m.Lapsed; d != nil {
		return fmt.Sprintf("; dismissed by %s on %s, but the entry has changed since the dismissal, which no longer applies",
			noted(d.By), d.Time.UTC().Format("2006-01-02"))
	}
	return ""
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
