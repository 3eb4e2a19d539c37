package screen

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/textsafe"
)

// Entry is one party on a restricted-party list, as the CSL publishes it.
type Entry struct {
	// ID is the record's identifier: the JSON id, the CSV _id column when
	// present, else a key made of the list, entity number and name
	// (entity_number alone is not unique across lists).
	ID string `json:"id"`
	// Source is the list's name as published, e.g. "Entity List (EL) -
	// Bureau of Industry and Security"; List is its code (EL).
	Source             string    `json:"source"`
	List               string    `json:"list"`
	EntityNumber       string    `json:"entityNumber,omitempty"`
	Type               string    `json:"type,omitempty"`
	Name               string    `json:"name"`
	AltNames           []string  `json:"altNames,omitempty"`
	Addresses          []Address `json:"addresses,omitempty"`
	Programs           []string  `json:"programs,omitempty"`
	StartDate          string    `json:"startDate,omitempty"`
	LicenseRequirement string    `json:"licenseRequirement,omitempty"`
	LicensePolicy      string    `json:"licensePolicy,omitempty"`
	FRNotice           string    `json:"federalRegisterNotice,omitempty"`
	SourceListURL      string    `json:"sourceListUrl,omitempty"`
}

// Address is one address of an entry; Country is an ISO code when the
// list gives one.
type Address struct {
	Address    string `json:"address,omitempty"`
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postalCode,omitempty"`
	Country    string `json:"country,omitempty"`
}

// String joins the address's parts.
func (a Address) String() string {
	var parts []string
	for _, p := range []string{a.Address, a.City, a.State, a.PostalCode, a.Country} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}

// Lists are the CSL's list codes.
var Lists = []string{"EL", "DPL", "UVL", "MEU", "DTC", "ISN", "SDN", "SSI", "FSE", "CAP", "CMIC", "MBS", "PLC"}

// listCode matches the code in a published list name: "Entity List (EL) -
// ..." gives EL; "Non-SDN Menu-Based Sanctions List (NS-MBS List)" gives MBS.
var listCode = regexp.MustCompile(`\(([A-Z][A-Z-]*?)(?: List)?\)`)

// codeOf returns the list code of a published list name, or of a bare code.
func codeOf(source string) (string, error) {
	s := strings.TrimSpace(source)
	for _, c := range Lists {
		if s == c {
			return c, nil
		}
	}
	m := listCode.FindStringSubmatch(s)
	if m == nil {
		return "", fmt.Errorf("source %s names no list of the CSL (%s)", clip(source), strings.Join(Lists, ", "))
	}
	code := strings.TrimPrefix(m[1], "NS-")
	for _, c := range Lists {
		if code == c {
			return c, nil
		}
	}
	return "", fmt.Errorf("source %s: list %s is not one of the CSL's (%s)", clip(source), clip(m[1]), strings.Join(Lists, ", "))
}

// Status is the restricted-party status an exact or confirmed match on
// this entry's list sets.
func (e *Entry) Status() string {
	if e.List == "EL" {
		return catalog.RestrictedEntityList
	}
	return catalog.RestrictedListed
}

// Countries are the ISO codes of the entry's addresses, without repeats.
func (e *Entry) Countries() []string {
	var out []string
	for _, a := range e.Addresses {
		if c := a.Country; c != "" && !contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// Describe names the entry for a source line: list, id, name, countries,
// start date.
func (e *Entry) Describe() string {
	s := fmt.Sprintf("Consolidated Screening List, %s entry %s %q", shown(e.Source), shown(e.ID), e.Name)
	if cs := e.Countries(); len(cs) > 0 {
		s += " (" + shown(strings.Join(cs, ", ")) + ")"
	}
	if e.StartDate != "" {
		s += ", listed " + shown(e.StartDate)
	}
	if e.FRNotice != "" {
		s += ", " + shown(e.FRNotice)
	}
	return s
}

// shown is text of a list or of the decisions as a result's source
// quotes it: as it is, or in Go's quoted form when it holds a control,
// bidirectional formatting or line-separator character or is not UTF-8
// (textsafe.Quote). The source is
// printed to terminals (meridian screen, a law check's reasons) and kept
// in logs: an escape sequence in an entry's id or a decision's reason
// was sent to them as it was, to rewrite what the person reading saw,
// and a line separator forged a line of the output or of the log.
func shown(s string) string { return textsafe.Quote(s) }

// ContentHash is the hex SHA-256 of what of the entry a match reads or
// means: its id, list, entity type, name, alternate names, addresses,
// programmes, listing date and licence terms, each field length-prefixed
// in a fixed order, the alternate names, addresses and programmes as sets
// (sorted, without repeats). A decision records it, and a dismissal lapses
// when the entry no longer has it. The text is hashed as screening reads
// it (cosmetic): in small letters, without accents or invisible
// characters, punctuation that screening reads as a space read as one and
// runs of spaces as one; the id, list code and countries are hashed as
// written, as they are compared. The list's published name (Source; List
// is its code), the entity number, the Federal Register notice and the
// source link are left out. A feed that republishes an entry in capitals,
// with "Co., Ltd." for "Co. Ltd", or its alternate names in another order,
// changes no match, and lapsed every dismissal at once; a change that can
// change a match changes the hash (TestEntryHashFollowsTheMatch). A field
// added to Entry must be hashed here or deliberately left out
// (TestEntryContentHashReadsEveryField).
//
// Decisions recorded before hold the earlier hashes (contentHashV2, then
// contentHashV1): hashedAs accepts each, so a stored dismissal stands
// while the entry is as it was when decided, by the hash it recorded.
func (e *Entry) ContentHash() string {
	// One buffer hashed at once: a screening hashes the entry of every
	// dismissed match it shows.
	b := make([]byte, 0, 512)
	put := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	putSet := func(set []string) {
		slices.Sort(set)
		set = slices.Compact(set)
		b = binary.AppendUvarint(b, uint64(len(set)))
		for _, s := range set {
			put(s)
		}
	}
	exact := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	put("csl-entry/3")
	put(exact(e.ID))
	put(exact(e.List))
	put(cosmetic(e.Type))
	put(cosmetic(e.Name))
	alts := make([]string, 0, len(e.AltNames))
	for _, s := range e.AltNames {
		alts = append(alts, cosmetic(s))
	}
	putSet(alts)
	addrs := make([]string, 0, len(e.Addresses))
	for _, a := range e.Addresses {
		// Each address as its parts, length-prefixed, so that the set
		// is of whole addresses.
		var ab []byte
		for _, s := range []string{cosmetic(a.Address), cosmetic(a.City), cosmetic(a.State), cosmetic(a.PostalCode), exact(a.Country)} {
			ab = binary.AppendUvarint(ab, uint64(len(s)))
			ab = append(ab, s...)
		}
		addrs = append(addrs, string(ab))
	}
	putSet(addrs)
	progs := make([]string, 0, len(e.Programs))
	for _, s := range e.Programs {
		progs = append(progs, cosmetic(s))
	}
	putSet(progs)
	for _, s := range []string{e.StartDate, e.LicenseRequirement, e.LicensePolicy} {
		put(cosmetic(s))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// contentHashV2 is the hash decisions recorded before ContentHash read
// the text as screening does: the same fields and sets, with only runs of
// spaces as one.
func (e *Entry) contentHashV2() string {
	b := make([]byte, 0, 512)
	put := func(s string) {
		s = strings.Join(strings.Fields(s), " ")
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	putSet := func(ss []string) {
		set := make([]string, 0, len(ss))
		for _, s := range ss {
			set = append(set, strings.Join(strings.Fields(s), " "))
		}
		slices.Sort(set)
		set = slices.Compact(set)
		b = binary.AppendUvarint(b, uint64(len(set)))
		for _, s := range set {
			put(s)
		}
	}
	put("csl-entry/2")
	for _, s := range []string{e.ID, e.List, e.Type, e.Name} {
		put(s)
	}
	putSet(e.AltNames)
	addrs := make([]string, 0, len(e.Addresses))
	for _, a := range e.Addresses {
		var ab []byte
		for _, s := range []string{a.Address, a.City, a.State, a.PostalCode, a.Country} {
			s = strings.Join(strings.Fields(s), " ")
			ab = binary.AppendUvarint(ab, uint64(len(s)))
			ab = append(ab, s...)
		}
		addrs = append(addrs, string(ab))
	}
	putSet(addrs)
	putSet(e.Programs)
	for _, s := range []string{e.StartDate, e.LicenseRequirement, e.LicensePolicy} {
		put(s)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// hashedAs reports whether a decision's entrySha256 is the entry's as it
// is: its ContentHash, or one of the hashes decisions recorded before
// (contentHashV2, contentHashV1), so that a change of hash lapses no
// dismissal of an entry still as it was. A decision keeps the hash it
// recorded: one recorded with an earlier hash lapses on what that hash
// read (a republication in capitals, say), one recorded now only on what
// can change a match.
func (e *Entry) hashedAs(h string) bool {
	return h == e.ContentHash() || h == e.contentHashV2() || h == e.contentHashV1()
}

// contentHashV1 is the hash decisions recorded before ContentHash left out
// what changes no match: every field, alternate names in their order.
func (e *Entry) contentHashV1() string {
	b := make([]byte, 0, 512)
	put := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	putAll := func(ss []string) {
		b = binary.AppendUvarint(b, uint64(len(ss)))
		for _, s := range ss {
			put(s)
		}
	}
	put("csl-entry/1")
	for _, s := range []string{e.ID, e.Source, e.List, e.EntityNumber, e.Type, e.Name} {
		put(s)
	}
	putAll(e.AltNames)
	b = binary.AppendUvarint(b, uint64(len(e.Addresses)))
	for _, a := range e.Addresses {
		for _, s := range []string{a.Address, a.City, a.State, a.PostalCode, a.Country} {
			put(s)
		}
	}
	putAll(e.Programs)
	for _, s := range []string{e.StartDate, e.LicenseRequirement, e.LicensePolicy, e.FRNotice, e.SourceListURL} {
		put(s)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// check refuses entries a list file must not hold.
func (e *Entry) check() error {
	switch {
	case strings.TrimSpace(e.Name) == "":
		return fmt.Errorf("name: empty")
	case len(e.Name) > maxField:
		return fmt.Errorf("name: longer than %d bytes", maxField)
	case len(e.AltNames) > maxItems || len(e.Addresses) > maxItems:
		return fmt.Errorf("more than %d alternate names or addresses", maxItems)
	}
	return nil
}

// checkImported is check with the bounds an import holds each field of
// an entry to: no id, alternate name, part of an address or other field
// over maxField bytes. Screening compares each name of an organisation
// with each of an entry's names and reads its addresses, at a cost that
// grows with their length: a list of alternate names of hundreds of KB
// made every screening slow. The error names the entry and the field as
// the file names it. A stored list is held to check only, so that one
// imported before these bounds still loads.
func (e *Entry) checkImported() error {
	if err := e.check(); err != nil {
		return err
	}
	over := func(field string, v string) error {
		if i := invalidUTF8(v); i >= 0 {
			return fmt.Errorf("entry %s: %s: byte %d (0x%02x) is not UTF-8: the file is in another encoding (the list is published in UTF-8), and names read in the wrong one match nothing", clip(e.ID), field, i, v[i])
		}
		if len(v) <= maxField {
			return nil
		}
		return fmt.Errorf("entry %s: %s: %d bytes, over the %d-byte limit of a field", clip(e.ID), field, len(v), maxField)
	}
	if len(e.ID) > maxField {
		return fmt.Errorf("id: %d bytes, over the %d-byte limit of a field", len(e.ID), maxField)
	}
	for _, f := range []struct{ name, v string }{
		{"id", e.ID}, {"name", e.Name},
		{"source", e.Source}, {"entity_number", e.EntityNumber}, {"type", e.Type}, {"start_date", e.StartDate},
		{"license_requirement", e.LicenseRequirement}, {"license_policy", e.LicensePolicy},
		{"federal_register_notice", e.FRNotice}, {"source_list_url", e.SourceListURL},
	} {
		if err := over(f.name, f.v); err != nil {
			return err
		}
	}
	for i, n := range e.AltNames {
		if err := over(fmt.Sprintf("alt_names[%d]", i), n); err != nil {
			return err
		}
	}
	if len(e.Programs) > maxItems {
		return fmt.Errorf("entry %s: more than %d programs", clip(e.ID), maxItems)
	}
	for i, p := range e.Programs {
		if err := over(fmt.Sprintf("programs[%d]", i), p); err != nil {
			return err
		}
	}
	for i, a := range e.Addresses {
		for _, f := range []struct{ name, v string }{
			{"address", a.Address}, {"city", a.City}, {"state", a.State}, {"postal_code", a.PostalCode}, {"country", a.Country},
		} {
			if err := over(fmt.Sprintf("addresses[%d].%s", i, f.name), f.v); err != nil {
				return err
			}
		}
	}
	return nil
}

// invalidUTF8 is the offset of the first byte of s that is not UTF-8, -1
// when s is UTF-8. An import took a list in another encoding (Latin-1, say)
// as it was: each letter of another alphabet than ASCII a byte that is no
// letter, which normalising drops, and a listed party's name written with
// a few (Zürcher Bär Mühle) matched nothing.
func invalidUTF8(s string) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// clip quotes s for an error, cut to its first 64 bytes.
func clip(s string) string {
	if len(s) > 64 {
		return strconv.Quote(strings.ToValidUTF8(s[:64], "")) + "..."
	}
	return strconv.Quote(s)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// UnmarshalJSON reads an entry as stored, its alternate names, addresses
// and programmes at most maxItems each, counted before they are decoded
// (boundedList): the stored list is read back by every server that
// screens, and one entry of a hundred million names took gigabytes before
// the entry's check (check) could refuse it.
func (e *Entry) UnmarshalJSON(data []byte) error {
	type plain Entry
	var doc struct {
		*plain
		AltNames  boundedList[string]  `json:"altNames,omitempty"`
		Addresses boundedList[Address] `json:"addresses,omitempty"`
		Programs  boundedList[string]  `json:"programs,omitempty"`
	}
	doc.plain = (*plain)(e)
	if err := json.Unmarshal(data, &doc); err != nil {
		return err
	}
	e.AltNames, e.Addresses, e.Programs = doc.AltNames, doc.Addresses, doc.Programs
	return nil
}
