package screen

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Limits on a list file and its records.
const (
	// MaxFileBytes bounds a list file; the published CSL is tens of MB.
	MaxFileBytes = 512 << 20
	maxField     = 4096
	maxItems     = 1000
	// maxColumns bounds the fields of a CSV record: the published file
	// has 28 columns, 29 with _id.
	maxColumns = 256
)

// MaxEntries bounds the entries of a list, imported or stored. The bytes
// alone did not bound them: a file of short records (a line of a few
// bytes each) held tens of millions, each some hundreds of bytes once
// read, and an import ran out of memory before any check of the list;
// every screening compares an organisation's names with every entry. The
// published list holds tens of thousands; the bound is several times
// that. A file with more is refused at the first entry past it, naming
// the bound, and nothing is imported; a stored list with more is refused
// as a list that cannot be read (screening undetermined, failing closed).
const MaxEntries = 1 << 18

// maxEntries is MaxEntries, as the tests of the bound see it.
var maxEntries = MaxEntries

// MaxNames bounds a list's names (each entry's name and alternate names,
// all entries together), and its addresses likewise. MaxEntries and each
// entry's bound of 1,000 alternate names and addresses did not: a file of
// entries of 1,000 short alternate names held hundreds of millions within
// its bytes, and the index a screening builds over them (its memory and
// every organisation's comparisons grow with the names) took 1.8 GB and
// seven seconds for each million, minutes and hundreds of gigabytes at
// the file's bound. The published list holds some tens of thousands of
// each; the bound is several times that. A file with more is refused at
// the first entry past it, naming it, and a stored list with more as a
// list that cannot be read (screening undetermined, failing closed).
const MaxNames = 1 << 19

// maxNames is MaxNames, as the tests of the bound see it.
var maxNames = MaxNames

// countNames adds e's names and addresses to the counts, refusing a list
// past maxNames of either.
func countNames(names, addrs *int, e *Entry) error {
	*names += 1 + len(e.AltNames)
	*addrs += len(e.Addresses)
	if *names > maxNames {
		return fmt.Errorf("more than %d names (entries' names and alternate names together), the bound of a screening list (MaxNames)", maxNames)
	}
	if *addrs > maxNames {
		return fmt.Errorf("more than %d addresses (all entries together), the bound of a screening list (MaxNames)", maxNames)
	}
	return nil
}

// errTooManyEntries is the error of a list past maxEntries.
func errTooManyEntries() error {
	return fmt.Errorf("more than %d entries, the bound of a screening list (MaxEntries)", maxEntries)
}

// decodeBounded decodes data, a JSON array (or null, nil), refusing it
// when it holds more than max elements, counted before any is decoded:
// decoded whole and counted after, 128 MiB of empty objects ({}) took
// gigabytes first.
func decodeBounded[T any](data []byte, max int, tooMany func() error) ([]T, error) {
	if arrayLonger(data, max) {
		return nil, tooMany()
	}
	var out []T
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// arrayLonger is whether data, a valid JSON value, is an array of more
// than max (at least 1) elements: of max commas or more outside strings
// and nested values. It stops at the first past max.
func arrayLonger(data []byte, max int) bool {
	depth, commas, inString, escaped := 0, 0, false, false
	for _, c := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		case ',':
			if depth == 1 {
				if commas++; commas >= max {
					return true
				}
			}
		}
	}
	return false
}

// Parse reads a CSL bulk file in its published CSV or JSON form (JSON when
// the first non-blank byte is '{'). Errors name the file and the line
// (CSV) or record (JSON) and the field.
func Parse(name string, data []byte) ([]Entry, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: file is %d bytes, over the %d-byte limit", name, len(data), MaxFileBytes)
	}
	var es []Entry
	var err error
	if t := bytes.TrimLeft(data, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '{' {
		es, err = parseJSON(data)
	} else {
		es, err = parseCSV(data)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("%s: no entries", name)
	}
	return es, nil
}

// CSV columns (the published order is source, entity_number, type,
// programs, name, title, addresses, federal_register_notice, start_date,
// end_date, standard_order, license_requirement, license_policy, call_sign,
// vessel_type, gross_tonnage, gross_registered_tonnage, vessel_flag,
// vessel_owner, remarks, source_list_url, alt_names, citizenships,
// dates_of_birth, nationalities, places_of_birth, source_information_url,
// ids; newer files put an _id column first). Columns are found by header
// name, so either layout reads.
var csvRequired = []string{"source", "name"}

func parseCSV(data []byte) ([]Entry, error) {
	if err := csvColumns(data); err != nil {
		return nil, err
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	r.ReuseRecord = false
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("line 1: header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	for _, req := range csvRequired {
		if _, ok := col[req]; !ok {
			return nil, fmt.Errorf("line 1: header has no %q column: not a Consolidated Screening List CSV (columns: %s)", req, clip(strings.Join(header, ", ")))
		}
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var out []Entry
	nNames, nAddrs := 0, 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("line %d: %w", pe.StartLine, pe.Err)
			}
			return nil, err
		}
		line, _ := r.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		e := Entry{
			Source: get(rec, "source"), EntityNumber: get(rec, "entity_number"), Type: get(rec, "type"),
			Name: get(rec, "name"), StartDate: get(rec, "start_date"), LicenseRequirement: get(rec, "license_requirement"),
			LicensePolicy: get(rec, "license_policy"), FRNotice: get(rec, "federal_register_notice"),
			SourceListURL: get(rec, "source_list_url"),
		}
		var addrs []string
		for _, c := range []struct {
			column string
			to     *[]string
		}{{"programs", &e.Programs}, {"alt_names", &e.AltNames}, {"addresses", &addrs}} {
			if *c.to, err = split(get(rec, c.column)); err != nil {
				return nil, fmt.Errorf("line %d: %s: %w", line, c.column, err)
			}
		}
		for _, a := range addrs {
			e.Addresses = append(e.Addresses, csvAddress(a))
		}
		e.List, err = codeOf(e.Source)
		if err != nil {
			return nil, fmt.Errorf("line %d: source: %w", line, err)
		}
		e.ID = get(rec, "_id")
		if e.ID == "" {
			e.ID = get(rec, "id")
		}
		if e.ID == "" {
			e.ID = syntheticID(e)
		}
		if err := e.checkImported(); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if len(out) == maxEntries {
			return nil, fmt.Errorf("line %d: %w", line, errTooManyEntries())
		}
		if err := countNames(&nNames, &nAddrs, &e); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// split reads a multi-valued CSV cell: values separated by ';', empty ones
// left out. A cell of more than maxItems values is refused at the first
// past the bound: split whole first, a quoted cell of millions of
// separators (which the bound on a record's fields does not count) took a
// string header for each, 16 bytes a byte of the file, empty or not.
func split(cell string) ([]string, error) {
	var out []string
	for rest := cell; rest != ""; {
		v, after, _ := strings.Cut(rest, ";")
		rest = after
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		if len(out) == maxItems {
			return nil, fmt.Errorf("more than %d values (separated by ';')", maxItems)
		}
		out = append(out, v)
	}
	return out, nil
}

// csvAddress reads one address of a CSV cell: its parts joined by ", ",
// the country code last when the list gives one. It looks for the last
// part only: split at every ',' first, an address of millions of commas
// took a string header for each before its length was refused.
func csvAddress(s string) Address {
	if i := strings.LastIndexByte(s, ','); i >= 0 {
		if last := strings.TrimSpace(s[i+1:]); len(last) == 2 && isLetters(last) {
			return Address{Address: strings.TrimSpace(s[:i]), Country: last}
		}
	} else if last := strings.TrimSpace(s); len(last) == 2 && isLetters(last) {
		return Address{Address: "", Country: last}
	}
	return Address{Address: strings.TrimSpace(s)}
}

func isLetters(s string) bool {
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// syntheticID names a record that carries no id: its list, its entity
// number when it has one, and a hash of its name.
func syntheticID(e Entry) string {
	h := sha256.Sum256([]byte(e.List + "\x00" + e.EntityNumber + "\x00" + e.Name))
	id := strings.ToLower(e.List) + "-"
	if e.EntityNumber != "" {
		id += e.EntityNumber + "-"
	}
	return id + hex.EncodeToString(h[:4])
}

// jsonRecord is one record of the published JSON: {"results": [...]}.
type jsonRecord struct {
	ID                 string                   `json:"id"`
	Source             string                   `json:"source"`
	EntityNumber       jsonString               `json:"entity_number"`
	Type               string                   `json:"type"`
	Programs           boundedList[string]      `json:"programs"`
	Name               string                   `json:"name"`
	AltNames           boundedList[string]      `json:"alt_names"`
	Addresses          boundedList[jsonAddress] `json:"addresses"`
	StartDate          string                   `json:"start_date"`
	LicenseRequirement string                   `json:"license_requirement"`
	LicensePolicy      string                   `json:"license_policy"`
	FRNotice           string                   `json:"federal_register_notice"`
	SourceListURL      string                   `json:"source_list_url"`
}

type jsonAddress struct {
	Address    string `json:"address"`
	City       string `json:"city"`
	State      string `json:"state"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// jsonString reads a string or a number (entity numbers appear as both).
type jsonString string

func (s *jsonString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*s = jsonString(str)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or a number, got %s", clip(string(b)))
	}
	*s = jsonString(n.String())
	return nil
}

func parseJSON(data []byte) ([]Entry, error) {
	var doc struct {
		Results boundedRecords `json:"results"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not the CSL's JSON ({\"results\": [...]}): %w", err)
	}
	if doc.Results == nil {
		return nil, errors.New(`no "results" array: not the CSL's JSON`)
	}
	out := make([]Entry, 0, len(doc.Results))
	nNames, nAddrs := 0, 0
	for i, raw := range doc.Results {
		// The decoder reads a byte that is not UTF-8 as U+FFFD, as
		// no letter: a list in another encoding is refused as the CSV
		// is (Entry.checkImported).
		if !utf8.Valid(raw) {
			at := invalidUTF8(string(raw))
			return nil, fmt.Errorf("results[%d]: byte %d of the record (0x%02x) is not UTF-8: the file is in another encoding (the list is published in UTF-8), and names read in the wrong one match nothing", i, at, raw[at])
		}
		var r jsonRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("results[%d]: %w", i, err)
		}
		e := Entry{ID: strings.TrimSpace(r.ID), Source: strings.TrimSpace(r.Source), EntityNumber: string(r.EntityNumber), Type: r.Type,
			Programs: r.Programs, Name: strings.TrimSpace(r.Name), AltNames: r.AltNames, StartDate: r.StartDate,
			LicenseRequirement: r.LicenseRequirement, LicensePolicy: r.LicensePolicy, FRNotice: r.FRNotice, SourceListURL: r.SourceListURL}
		if len(e.AltNames) == 0 {
			e.AltNames = nil
		}
		if len(e.Programs) == 0 {
			e.Programs = nil
		}
		for _, a := range r.Addresses {
			e.Addresses = append(e.Addresses, Address{Address: a.Address, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: strings.ToUpper(strings.TrimSpace(a.Country))})
		}
		var err error
		if e.List, err = codeOf(e.Source); err != nil {
			return nil, fmt.Errorf("results[%d] (%s): source: %w", i, clip(e.Name), err)
		}
		if e.ID == "" {
			e.ID = syntheticID(e)
		}
		if err := e.checkImported(); err != nil {
			return nil, fmt.Errorf("results[%d]: %w", i, err)
		}
		if err := countNames(&nNames, &nAddrs, &e); err != nil {
			return nil, fmt.Errorf("results[%d]: %w", i, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// boundedRecords are the published JSON's records, at most maxEntries.
type boundedRecords []json.RawMessage

func (b *boundedRecords) UnmarshalJSON(data []byte) error {
	rs, err := decodeBounded[json.RawMessage](data, maxEntries, errTooManyEntries)
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	*b = rs
	return nil
}

// csvColumns refuses a CSV file with a record of more than maxColumns
// fields, before encoding/csv reads it: the reader keeps the offset of
// every field of a record and then a string of each, so a line of a
// hundred million commas took gigabytes before the record could be
// refused as not one of the published columns. Commas in quoted fields
// are not counted (a quote opens and closes them; a doubled quote within
// one does both). It refuses a record of more than maxRecordBytes too.
func csvColumns(data []byte) error {
	line, fields, quoted := 1, 1, false
	start, startLine := 0, 1 // the record's first byte and line
	for i, c := range data {
		switch {
		case c == '"':
			quoted = !quoted
		case c == '\n':
			line++
			if !quoted {
				if i+1-start > maxRecordBytes {
					return errRecordBytes(startLine)
				}
				fields, start, startLine = 1, i+1, line
			}
		case c == ',' && !quoted:
			if fields++; fields > maxColumns {
				return fmt.Errorf("line %d: more than %d fields, not a Consolidated Screening List CSV (it has 28 or 29 columns)", line, maxColumns)
			}
		}
	}
	if len(data)-start > maxRecordBytes {
		return errRecordBytes(startLine)
	}
	return nil
}

// maxRecordBytes bounds a CSV record (a line, with the lines of its quoted
// fields): encoding/csv allocates some nine times a record as it reads it
// (its line, its fields' buffer, each grown by doubling, and a string of
// each field), so that one quoted name of 16 MB took 150 MB, and one at
// the file's bound some 4.5 GB, before the entry could be refused. The published file's records take a few
// kilobytes, thousands of times less.
const maxRecordBytes = 16 << 20

func errRecordBytes(line int) error {
	return fmt.Errorf("line %d: a record of more than %d bytes, the bound of a record of a screening list CSV", line, maxRecordBytes)
}

// boundedList is a list of a JSON record (alternate names, addresses,
// programmes), at most maxItems: refused before it is decoded, as an
// entry with more is refused once it is (Entry.checkImported), so that a
// record of a hundred million names takes no gigabytes first.
type boundedList[T any] []T

func (b *boundedList[T]) UnmarshalJSON(data []byte) error {
	v, err := decodeBounded[T](data, maxItems, func() error {
		return fmt.Errorf("a list (alternate names, addresses or programmes) of more than %d items", maxItems)
	})
	if err != nil {
		return err
	}
	*b = v
	return nil
}
