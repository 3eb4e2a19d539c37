package screen

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"meridian.dev/meridian/catalog"
)

// The matcher as it was before it was made cheaper (Jaro–Winkler by bit
// sets, pairs of names and words ruled out by the letters they share,
// decisions applied in one pass): kept here, unchanged but for its names
// and for changes of behaviour made to both on purpose (an organisation
// with no name in Latin letters held, holdUncomparable; a dismissal of an
// entry that changed since no longer applying, its hash left to what
// changes a match, the older hash still read, and shown with each match;
// names scored with the
// legal forms spelt out left out, kept, and left out only as the earlier
// Russian ones were), as the reference the
// matcher must agree with on every result (TestMatcherAgreesWithReference).

// refScratch holds the reference Jaro–Winkler's buffers.
type refScratch struct{ ma, mb []bool }

func (ix *index) refScreen(tenant string, org *catalog.Organization, decisions []Decision) Result {
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
	seen := map[nameKey]int{}
	for _, rn := range withSymbolsDropped(raw) {
		shown, n := rn[0], rn[1]
		key := nameKey{Normalize(n), keepingSpelled(n), mixesScripts(n)}
		if i, ok := seen[key]; ok && names[i].spaced {
			names[i] = orgName{raw: shown, mixed: key.mixed, prepared: prepareName(n, key.norm, key.kept, true)}
		} else if !ok {
			seen[key] = len(names)
			names = append(names, orgName{raw: shown, mixed: key.mixed, prepared: prepareName(n, key.norm, key.kept, true)})
		}
		// A name in Cyrillic is compared romanised too, as the lists
		// give their names in Latin letters.
		// And with its spaced letters joined, romanised or not.
		versions := []orgName{{raw: joinSpacedLetters(n), spaced: true}, {raw: joinShortWords(n), spaced: true}}
		for _, lat := range romanisations(n) {
			versions = append(versions, orgName{raw: lat, romanised: true}, orgName{raw: joinSpacedLetters(lat), romanised: true, spaced: true},
				orgName{raw: joinShortWords(lat), romanised: true, spaced: true})
		}
		for _, v := range versions {
			if v.raw == "" {
				continue
			}
			k := nameKey{Normalize(v.raw), keepingSpelled(v.raw), key.mixed}
			if _, ok := seen[k]; !ok {
				seen[k] = len(names)
				names = append(names, orgName{raw: shown, mixed: key.mixed, romanised: v.romanised, spaced: v.spaced, prepared: prepareName(v.raw, k.norm, k.kept, true)})
			}
		}
	}
	var orgAddr []map[string]bool
	for _, a := range org.Spec.Addresses {
		orgAddr = append(orgAddr, wordSet(Normalize(a)))
	}
	var sc refScratch
	for i, e := range ix.list.Entries {
		// best is the most similar pair of names; bestMixed the most
		// similar of the organisation's names that mix scripts.
		best, bestMixed := Match{}, Match{}
		for oi := range names {
			on := &names[oi]
			for ei := range ix.names[i] {
				en := &ix.names[i][ei]
				// The highest score of the names with the legal forms
				// spelt out left out, kept (spelledForms), and left out
				// only as the earlier ones were (earlierSpelledForms).
				score, ok := sc.refVersionScore(&on.prepared, en)
				for _, v := range [][2]*prepared{{on.keptOr(), en.keptOr()}, {on.earlierOr(), en.earlierOr()}} {
					if k, kok := sc.refVersionScore(v[0], v[1]); kok && (!ok || k > score) {
						score, ok = k, true
					}
				}
				if !ok {
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
		// The same letters in the same order, spaced apart otherwise:
		// the first of the organisation's versions (and of its words'
		// versions) whose words run together are a listed name's, by
		// every pair.
		if best.Score < 1 {
		squash:
			for oi := range names {
				for _, ok := range refSquashed(&names[oi].prepared) {
					for ei := range ix.names[i] {
						if slices.Contains(refSquashed(&ix.names[i][ei]), ok) {
							matched := e.Name
							if ei > 0 {
								matched = e.AltNames[ei-1]
							}
							best = Match{Score: 1, OrgName: names[oi].raw, Matched: matched, Romanised: names[oi].romanised, SpacedLetters: true}
							break squash
						}
					}
				}
			}
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
	ix.refApplyDecisions(&res, tenant, org, decisions)
	for i := range res.Matches {
		res.Matches[i].EntrySHA256 = res.Matches[i].Entry.ContentHash()
	}
	res.Status, res.Source = ix.status(res)
	holdUncomparable(&res, org, raw)
	return res
}

func (ix *index) refApplyDecisions(res *Result, tenant string, org *catalog.Organization, decisions []Decision) {
	fp := Fingerprint(org)
	latest := map[string]*Decision{} // by entry, whatever the fingerprint
	for i := range res.Matches {
		m := &res.Matches[i]
		for j := range decisions {
			d := &decisions[j]
			if d.Org == res.Org && d.EntryID == m.Entry.ID && catalog.TenantOr(d.Tenant) == catalog.TenantOr(tenant) && (d.Fingerprint == "" || d.Fingerprint == fp) {
				m.Decision = d // later decisions replace earlier ones
			}
		}
		// A dismissal made against the entry as it was no longer
		// applies once the entry has changed.
		if d := m.Decision; d != nil && d.Action == Dismiss && d.EntrySHA256 != "" && d.EntrySHA256 != m.Entry.ContentHash() && d.EntrySHA256 != m.Entry.contentHashV2() && d.EntrySHA256 != m.Entry.contentHashV1() {
			m.Decision, m.Lapsed = nil, d
		}
	}
	// A tenant of a server registers organisations as it likes: one
	// confirmed as a listed party would otherwise only have to run its
	// jobs under another organisation's name. A confirmation for any of
	// such a tenant's organisations stands for each of them, until a
	// person dismisses the entry for that one (later decisions win). The
	// default tenant's organisations are the operator's own, often of
	// unrelated parties (a consultant's clients): each stands alone.
	crossOrg := catalog.TenantOr(tenant) != catalog.DefaultTenant
	for j := range decisions {
		d := &decisions[j]
		if catalog.TenantOr(d.Tenant) != catalog.TenantOr(tenant) {
			continue
		}
		if d.Org == res.Org || crossOrg && d.Action == Confirm {
			latest[d.EntryID] = d
		}
	}
	for _, id := range slices.Sorted(maps.Keys(latest)) {
		d := latest[id]
		if d.Action != Confirm {
			continue
		}
		i := slices.IndexFunc(res.Matches, func(m Match) bool { return m.Entry.ID == id })
		if i >= 0 {
			res.Matches[i].Decision, res.Matches[i].Lapsed = d, nil
			res.Matches[i].Changed = d.Fingerprint != "" && d.Fingerprint != fp
			continue
		}
		// The organisation no longer matches the entry by name: the
		// confirmation still stands, while the entry is on the list.
		for _, e := range ix.list.Entries {
			if e.ID == id {
				res.Matches = append(res.Matches, Match{Kind: Possible, OrgName: org.ScreeningNames()[0], Matched: e.Name, Entry: e, Decision: d, Changed: true})
				break
			}
		}
	}
}

func (sc *refScratch) refVersionScore(a, b *prepared) (float64, bool) {
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
	return sc.refSimilarity(a, b, corroboratedNameMin), true
}

func (sc *refScratch) refSimilarity(a, b *prepared, floor float64) float64 {
	if a.norm == b.norm {
		return 1
	}
	best := sc.refJaroWinkler(a.runes, b.runes)
	if !slices.Equal(a.sorted, a.runes) || !slices.Equal(b.sorted, b.runes) {
		best = max(best, sc.refJaroWinkler(a.sorted, b.sorted))
	}
	if best < FuzzyThreshold && (a.cjk && b.cjk && cjkContains(a, b) || wordsWithin(a, b) || wordsWithin(b, a)) {
		best = FuzzyThreshold
	}
	floor = max(floor, best)
	if w := sc.refWordScore(a, b, floor); w >= floor {
		return max(best, min(w, sc.refWordScore(b, a, floor)))
	}
	return best
}

func (sc *refScratch) refWordScore(a, b *prepared, floor float64) float64 {
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
			if bestW = max(bestW, sc.refJaroWinkler(x, y)); bestW == 1 {
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

func (sc *refScratch) refJaroWinkler(ra, rb []rune) float64 {
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

// refSquashed is the reference's list of p's versions with their words run
// together: p, with the spelt-out forms kept, with the earlier ones left
// out, and each with its legal forms kept where it has that version, in
// that order, those of at least minSquashed letters.
func refSquashed(p *prepared) []string {
	var out []string
	for _, v := range []*prepared{p, p.keptOr(), p.earlierOr()} {
		for _, w := range []*prepared{v, v.full} {
			if w == nil {
				continue
			}
			k := ""
			for _, t := range w.texts {
				k += t
			}
			if len([]rune(k)) >= minSquashed && !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}
