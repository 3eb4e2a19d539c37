package screen

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/internal/flock"
	"meridian.dev/meridian/internal/plainfile"
	"meridian.dev/meridian/internal/textsafe"
)

// List is an imported screening list.
type List struct {
	// File is the base name of the file it was imported from, SHA256 its
	// contents' hash, ImportedAt when.
	File       string         `json:"file"`
	SHA256     string         `json:"sha256"`
	ImportedAt time.Time      `json:"importedAt"`
	Counts     map[string]int `json:"counts"` // entries per list code
	// NewestImported is the latest start_date (YYYY-MM-DD) of this list
	// and of every list imported into the store before it, as far as
	// they were recorded: the mark an import is refused as older than
	// (olderImport). Kept across imports, it holds after a list without
	// dates is imported, which otherwise left nothing to compare with.
	NewestImported string  `json:"newestImported,omitempty"`
	Entries        []Entry `json:"entries"`
}

// Decision actions.
const (
	Confirm = "confirm"
	Dismiss = "dismiss"
)

// Decision is a person's verdict on a possible match: the organisation is
// (confirm) or is not (dismiss) the party of the entry. It is about one
// tenant's organisation as it was when decided: Tenant and Fingerprint
// (what screening reads of it, hashed) must match for it to count, so
// that neither another tenant's organisation of the same name nor the same
// organisation with other names, country or addresses inherits it. A
// decision recorded before those fields existed has neither, and counts
// for the default tenant's organisation of its name.
type Decision struct {
	Org         string    `json:"org"`
	Tenant      string    `json:"tenant,omitempty"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	EntryID     string    `json:"entryId"`
	Entry       string    `json:"entry"` // the entry's list and name, as seen
	Action      string    `json:"action"`
	By          string    `json:"by"`
	Reason      string    `json:"reason"`
	Time        time.Time `json:"time"`
	// ListSHA256 is the list the decision was made against.
	ListSHA256 string `json:"listSha256"`
	// EntrySHA256 is the entry's content as the decision saw it
	// (Entry.ContentHash). A dismissal holds only while the entry is the
	// same: a later import that changes it (a new alias, address or
	// programme) shows the match for review again. A confirmation holds
	// whatever the entry became. Decisions recorded before it was kept
	// have none, and apply as they did.
	EntrySHA256 string `json:"entrySha256,omitempty"`
	// Rekeyed is set on a dismissal an import carried over to the
	// entry's current hash: a copy of the person's decision, appended,
	// the original kept above it.
	Rekeyed *Rekeyed `json:"rekeyed,omitempty"`
}

// Rekeyed says how a dismissal recorded with an earlier hash of the entry
// (contentHashV2, contentHashV1) was carried over to its ContentHash: an
// import found the entry in the stored list still as dismissed, by the
// hash the dismissal recorded (From), before replacing the list.
type Rekeyed struct {
	From string `json:"from"`
	// ListSHA256 is the stored list that held the entry as dismissed,
	// File the file whose import carried the dismissal over, and At when.
	ListSHA256 string    `json:"listSha256"`
	File       string    `json:"file"`
	At         time.Time `json:"at"`
}

// Store keeps the imported list and the decisions in a directory (the
// state directory's screening/). Writes are atomic; decisions are an
// append-only history, latest per organisation and entry winning.
type Store struct {
	Dir string
	// Now is the clock for decisions (time.Now when nil).
	Now func() time.Time
}

// ErrNoList is returned when no list has been imported.
var ErrNoList = errors.New("no screening list imported (meridian screen import FILE)")

// Bounds on the files the store reads back. Screening reads them on
// every change, a server within a second of it: whatever is at their
// names (a FIFO, a link to /dev/zero, a file grown without bound) must
// neither hang it nor exhaust its memory, and is refused as a file that
// cannot be read (screening undetermined, failing closed). The store
// writes neither file over its bound, so that it never writes what it
// cannot read back.
//
// The list is bounded as a file imported is (MaxFileBytes); the
// decisions at 128 MiB: one decision takes about 600 bytes as written
// (three hashes, a fingerprint, who, why, when), so the bound holds some
// 200,000 decisions, decades of a compliance team's reviews, while the
// history is read whole, and rewritten whole on each decision.
var (
	maxListBytes      int64 = MaxFileBytes
	maxDecisionsBytes int64 = 128 << 20
)

// MaxDecisions bounds the number of decisions the decisions file holds,
// as the store writes it and as it is read back. Bytes alone did not
// bound what reading the file costs: a decision of a few bytes (a hand
// edit, a file put in place) decodes to some 200 bytes of memory, so 128
// MiB of them took gigabytes to read, and every screening walked them all.
// The bound is what the file's bytes allow: a decision as the store writes
// it takes at least minDecisionBytes (its list's hash, when, its field
// names, indentation, with one-letter names and reasons, and none of the
// tenant, fingerprint and entry hash that decisions recorded before them
// lack), so no file the store wrote within maxDecisionsBytes holds more.
// A decision that would pass it is refused, naming it, before anything is
// recorded or written; a file that holds more is refused as it is read,
// at the first decision past it, as a file that cannot be read (screening
// undetermined, failing closed).
const MaxDecisions = 1 << 19

// minDecisionBytes is the least a decision takes as the store writes it.
const minDecisionBytes = 256

// maxDecisions is MaxDecisions, as the tests of the files' bounds see it.
var maxDecisions = MaxDecisions

func (s *Store) listPath() string      { return filepath.Join(s.Dir, "list.json") }
func (s *Store) decisionsPath() string { return filepath.Join(s.Dir, "decisions.json") }

// DecisionsPath is the file decisions are recorded in.
func (s *Store) DecisionsPath() string { return s.decisionsPath() }

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// ImportOptions are how Import takes a file.
type ImportOptions struct {
	// Partial accepts a file that lacks lists the stored list holds, or
	// holds far fewer entries (under minImportedShare of them): an
	// extract of some of the lists, which replaces them all.
	Partial bool
	// Record, when set, records the dismissals the import carries over
	// (an audit log) before they are written: an error of it imports
	// nothing, so that no copy takes effect unrecorded, and the next
	// import carries them over (and records them) again.
	Record func(carried []Decision) error
	// NotCarried, when set, is told of the dismissals an import that
	// went ahead did not carry over, as the decisions file had no room
	// for their copies (MaxDecisions, its bytes), and of the bound: each
	// lapses when its entry's hash changes, and is to be dismissed again
	// once the file has room.
	NotCarried func(left []Decision, bound string)
	// Older accepts a file whose newest listing (the latest start_date of
	// its entries) is older than the newest imported before
	// (List.NewestImported): an earlier
	// publication, which replaced the list by one without every party
	// listed since.
	Older bool
	// Damaged accepts replacing a stored list that is there but does not
	// read (cut, blanked, not a list Import wrote): the checks of the file
	// against it (Partial, Older) cannot be made, and without it such an
	// import is refused (ErrStoredListDamaged).
	Damaged bool
	// damagedWhy is why the stored list did not read, where Damaged let
	// the import replace it (ImportRecord.ReplacedDamaged).
	damagedWhy string
	// Audit, when set, records the import (ImportRecord) once the list is
	// written to a temporary file and synced, before that file replaces
	// the stored list (the dismissals carried over are written before
	// it, as they hold against either list): an error of it leaves the
	// stored list as it was, so that no list takes effect unrecorded.
	// When the replacing then fails, Audit is called again, best effort,
	// with a record whose Failed says why: the first one said imported.
	Audit func(ImportRecord) error
}

// ImportRecord is what an import replaced: the file imported and the
// stored list before it, their entries and newest listings, and the ids
// of the entries the stored list held that the file does not (their
// parties screen clear from then on).
type ImportRecord struct {
	File            string         `json:"file"`
	SHA256          string         `json:"sha256"`
	Entries         int            `json:"entries"`
	Counts          map[string]int `json:"counts"`
	NewestStartDate string         `json:"newestStartDate,omitempty"`
	// Previous* describe the stored list replaced; empty when there was
	// none, or it could not be read.
	PreviousFile            string         `json:"previousFile,omitempty"`
	PreviousSHA256          string         `json:"previousSha256,omitempty"`
	PreviousEntries         int            `json:"previousEntries"`
	PreviousCounts          map[string]int `json:"previousCounts,omitempty"`
	PreviousNewestStartDate string         `json:"previousNewestStartDate,omitempty"`
	// Removed are the ids of the stored list's entries the file lacks,
	// sorted, the first MaxRecordedRemoved of them; RemovedCount counts
	// them all and RemovedSHA256 is the SHA-256 of them all, sorted, one
	// a line ("\n" after each). Every id of a list of 16 MiB made a
	// record as large. Added counts the file's entries the stored list
	// lacked.
	Removed       []string `json:"removed,omitempty"`
	RemovedCount  int      `json:"removedCount"`
	RemovedSHA256 string   `json:"removedSha256,omitempty"`
	Added         int      `json:"added"`
	// AllowedPartial and AllowedOlder say the file was imported past
	// those checks (ImportOptions.Partial, ImportOptions.Older).
	AllowedPartial bool `json:"allowedPartial,omitempty"`
	AllowedOlder   bool `json:"allowedOlder,omitempty"`
	// ReplacedDamaged says the stored list was there but did not read,
	// and was replaced unchecked (ImportOptions.Damaged); why it did not.
	ReplacedDamaged string `json:"replacedDamaged,omitempty"`
	// Failed, in a second record of an import, says why the list
	// recorded as imported did not replace the stored one after all.
	Failed string `json:"failed,omitempty"`
}

// ErrListNotWritten is the error of an import whose list could not be
// written in place of the stored one: the storage's fault, not the
// file's.
var ErrListNotWritten = errors.New("the screening list could not be written")

// MaxRecordedRemoved is the most ids of removed entries an import's
// record holds (ImportRecord.Removed); the rest are counted and hashed.
const MaxRecordedRemoved = 1000

// ErrStoredListDamaged is the error of an import refused because the
// stored list is there but does not read (ImportOptions.Damaged).
var ErrStoredListDamaged = errors.New("the stored screening list does not read")

// ErrOlderImport is the error of an import refused as an earlier
// publication than the stored list (ImportOptions.Older).
var ErrOlderImport = errors.New("an older list than the stored one")

// newestStartDate is the latest start_date of l's entries that reads as
// a date (YYYY-MM-DD, as the CSL writes it, or with a time after it), and
// whether any does.
func newestStartDate(l *List) (time.Time, bool) {
	var newest time.Time
	found := false
	for i := range l.Entries {
		d := strings.TrimSpace(l.Entries[i].StartDate)
		if len(d) < len("2006-01-02") {
			continue
		}
		t, err := time.Parse("2006-01-02", d[:len("2006-01-02")])
		if err != nil {
			continue
		}
		if !found || t.After(newest) {
			newest, found = t, true
		}
	}
	return newest, found
}

// olderImport refuses next as an earlier publication than prev, the
// stored list: its newest listing is older than the newest prev or any
// list before it held (newestImported), or it has none that reads as a
// date where they had. The CSL only grows at its newest
// end; a file without last month's designations is last year's, and
// imported, its parties listed since screen clear.
func olderImport(name string, prev, next *List) error {
	pn, ok := newestImported(prev)
	if !ok {
		return nil
	}
	nn, nok := newestStartDate(next)
	if nok && !nn.Before(pn) {
		return nil
	}
	why := "none of its entries has a start_date that reads as a date (YYYY-MM-DD)"
	if nok {
		why = fmt.Sprintf("its newest start_date is %s", nn.Format("2006-01-02"))
	}
	return fmt.Errorf("%s: %w: %s, and the newest imported into the store (by the stored list, imported %s from %s, or one before it) is %s; "+
		"an earlier publication lacks every party listed since, which would screen clear; "+
		"import the current Consolidated Screening List, or say that the older file is meant (meridian screen import --allow-older FILE)",
		name, ErrOlderImport, why, prev.ImportedAt.UTC().Format("2006-01-02T15:04:05Z"), prev.File, pn.Format("2006-01-02"))
}

// newestImported is the latest start_date of l and of the lists imported
// before it (l.NewestImported), and whether there is one.
func newestImported(l *List) (time.Time, bool) {
	newest, ok := time.Time{}, false
	if l == nil {
		return newest, false
	}
	if d, err := time.Parse("2006-01-02", l.NewestImported); err == nil {
		newest, ok = d, true
	}
	if d, found := newestStartDate(l); found && (!ok || d.After(newest)) {
		newest, ok = d, true
	}
	return newest, ok
}

// importRecord is the record of next replacing prev (nil when there is
// no stored list).
func importRecord(prev, next *List, opt ImportOptions) ImportRecord {
	rec := ImportRecord{File: next.File, SHA256: next.SHA256, Entries: len(next.Entries), Counts: next.Counts,
		AllowedPartial: opt.Partial, AllowedOlder: opt.Older, ReplacedDamaged: opt.damagedWhy}
	if d, ok := newestStartDate(next); ok {
		rec.NewestStartDate = d.Format("2006-01-02")
	}
	ids := make(map[string]bool, len(next.Entries))
	for i := range next.Entries {
		ids[next.Entries[i].ID] = true
	}
	if prev == nil {
		rec.Added = len(next.Entries)
		return rec
	}
	rec.PreviousFile, rec.PreviousSHA256, rec.PreviousEntries, rec.PreviousCounts = prev.File, prev.SHA256, len(prev.Entries), prev.Counts
	if d, ok := newestStartDate(prev); ok {
		rec.PreviousNewestStartDate = d.Format("2006-01-02")
	}
	had := make(map[string]bool, len(prev.Entries))
	for i := range prev.Entries {
		id := prev.Entries[i].ID
		if !had[id] && !ids[id] {
			rec.Removed = append(rec.Removed, id)
		}
		had[id] = true
	}
	sort.Strings(rec.Removed)
	if rec.RemovedCount = len(rec.Removed); rec.RemovedCount > 0 {
		h := sha256.New()
		for _, id := range rec.Removed {
			h.Write([]byte(id + "\n"))
		}
		rec.RemovedSHA256 = hex.EncodeToString(h.Sum(nil))
		rec.Removed = slices.Clip(rec.Removed[:min(len(rec.Removed), MaxRecordedRemoved)])
	}
	for id := range ids {
		if !had[id] {
			rec.Added++
		}
	}
	return rec
}

// minImportedShare is the share of the stored list's entries a file
// must hold to replace it without ImportOptions.Partial. The CSL gains
// and loses a few entries an hour; a file with a tenth fewer is an
// extract, or a download cut short.
const minImportedShare = 0.9

// ErrPartialImport is the error of an import refused as an extract of
// some of the lists (ImportOptions.Partial).
var ErrPartialImport = errors.New("not the whole list")

// Import parses a CSL file and replaces the stored list with it. Nothing
// is written when the file does not parse, or when it lacks lists the
// stored list holds or holds far fewer entries (ErrPartialImport): see
// ImportWith.
func (s *Store) Import(name string, data []byte) (*List, error) {
	l, _, err := s.ImportWith(name, data, ImportOptions{})
	return l, err
}

// ImportWith is Import with options. A file that lacks lists the stored
// list holds, or holds fewer than minImportedShare of its entries, is
// refused (ErrPartialImport), naming the lists missing and how many
// entries fewer, unless opt.Partial says it is meant: the screening list
// is the lists together, and an extract of one list replaced them all,
// so that the parties of the others screened clear. With no stored list,
// or one that cannot be read (an import is how it is repaired), there is
// nothing to compare the file with.
//
// Before replacing the list, it carries each dismissal still recorded
// with an earlier hash of its entry (contentHashV2, contentHashV1) over to
// its ContentHash, when the stored list holds the entry as dismissed (its
// hash is the one recorded): appended to the decisions as a copy, Rekeyed
// saying from which hash, by which import, the person's decision kept
// above it (rekey). It holds then through the cosmetic changes of a
// republication (case, punctuation), which lapsed it; an entry that has
// changed since the dismissal (its earlier hash no longer its) is never
// carried over. The decisions are written before the list, each
// atomically, under the directory's lock: a crash between the two leaves
// the decisions carried over against the list they were checked against,
// where their new hash holds as the old one did. The carried-over
// decisions are handed to opt.Record (an audit log) before any of this is
// written, and returned.
//
// At the decisions file's bound, the newest of the dismissals that fit
// are carried over and the older ones left (opt.NotCarried): the import
// goes ahead, as refusing it kept an out-of-date list in force, and a
// dismissal not carried over fails closed (it lapses, and the match
// shows again for a person to decide).
func (s *Store) ImportWith(name string, data []byte, opt ImportOptions) (*List, []Decision, error) {
	es, err := Parse(name, data)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	for _, e := range es {
		if seen[e.ID] {
			return nil, nil, fmt.Errorf("%s: entry id %q appears twice; ids must name one entry", name, e.ID)
		}
		seen[e.ID] = true
	}
	sum := sha256.Sum256(data)
	l := &List{File: filepath.Base(name), SHA256: hex.EncodeToString(sum[:]), ImportedAt: s.now().UTC(), Counts: map[string]int{}, Entries: es}
	for _, e := range es {
		l.Counts[e.List]++
	}
	out, err := json.Marshal(l)
	if err != nil {
		return nil, nil, err
	}
	if int64(len(out)) > maxListBytes {
		return nil, nil, fmt.Errorf("%s: %d entries take %d bytes as stored, over the %d-byte bound the stored list is read back with; nothing imported", name, len(es), len(out), maxListBytes)
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	prev, damaged := s.storedList()
	if damaged != nil && !opt.Damaged {
		return nil, nil, fmt.Errorf("%s: %w: %s: %v; nothing imported: a file is checked against the stored list before it replaces it "+
			"(an extract of some lists, an earlier publication, either of which would screen listed parties clear), and against this one it cannot be; "+
			"restore the stored list from a backup and import again, or replace it unchecked (meridian screen import --replace-damaged FILE)",
			name, ErrStoredListDamaged, s.listPath(), damaged)
	}
	if damaged != nil {
		why := damaged.Error()
		opt.damagedWhy = strings.ToValidUTF8(why[:min(len(why), 256)], "")
	}
	// The mark of the newest listing imported, kept through an older or
	// undated list imported as meant.
	if d, ok := newestImported(prev); ok {
		l.NewestImported = d.Format("2006-01-02")
	}
	if d, ok := newestImported(l); ok {
		l.NewestImported = d.Format("2006-01-02")
	}
	if out, err = json.Marshal(l); err != nil {
		return nil, nil, err
	}
	if int64(len(out)) > maxListBytes {
		return nil, nil, fmt.Errorf("%s: %d entries take %d bytes as stored, over the %d-byte bound the stored list is read back with; nothing imported", name, len(es), len(out), maxListBytes)
	}
	if prev != nil && !opt.Partial {
		if err := partialImport(name, prev, l); err != nil {
			return nil, nil, err
		}
	}
	if prev != nil && !opt.Older {
		if err := olderImport(name, prev, l); err != nil {
			return nil, nil, err
		}
	}
	var rekeyed, left []Decision
	var bound string
	if prev != nil {
		ds, err := s.Decisions()
		if err != nil {
			return nil, nil, fmt.Errorf("%w; nothing imported: the dismissals recorded with an earlier hash of their entry are carried over to its hash now before the list is replaced", err)
		}
		rekeyed = rekey(ds, prev, l)
		rekeyed, left, bound = s.fitting(ds, rekeyed)
		if len(rekeyed) > 0 {
			out, err := s.encodeDecisions(append(ds, rekeyed...))
			if err != nil {
				return nil, nil, fmt.Errorf("%w; nothing imported: the %d dismissals recorded with an earlier hash of their entry are carried over to its hash now before the list is replaced", err, len(rekeyed))
			}
			if opt.Record != nil {
				if err := opt.Record(rekeyed); err != nil {
					return nil, nil, fmt.Errorf("%w; nothing imported: the %d dismissals recorded with an earlier hash of their entry are carried over to its hash now, and recorded, before the list is replaced", err, len(rekeyed))
				}
			}
			if err := s.writeEncoded(out); err != nil {
				return nil, nil, fmt.Errorf("%w; nothing imported", err)
			}
		}
	}
	// Written and synced first, recorded, then put in place: recorded
	// before the write, a write that failed left the audit log saying
	// the list was imported.
	tmp, err := stageFile(s.listPath(), out)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w; nothing imported", ErrListNotWritten, err)
	}
	defer os.Remove(tmp) // gone once renamed
	rec := importRecord(prev, l, opt)
	if opt.Audit != nil {
		// Recorded after the dismissals carried over (which hold
		// against the stored list as against this one), before the list
		// is replaced.
		if err := opt.Audit(rec); err != nil {
			return nil, nil, fmt.Errorf("%w; the list is not replaced: an import is recorded in the audit log first", err)
		}
	}
	if err := os.Rename(tmp, s.listPath()); err != nil {
		if opt.Audit != nil {
			rec.Failed = "the list was not put in place of the stored one: " + err.Error()
			_ = opt.Audit(rec) // best effort: the error below says it too
		}
		return nil, nil, fmt.Errorf("%w: %w; the stored list is as it was (the audit log's record of this import is followed by one saying it failed)", ErrListNotWritten, err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(s.listPath())); err != nil {
		return nil, nil, fmt.Errorf("%w: the list is in place, but may not survive a crash: %w", ErrListNotWritten, err)
	}
	// The decisions file says a list was imported: with it and no list,
	// the list was lost, and screening fails closed (listRead), and an
	// import is checked as over a damaged list (storedList). Without one,
	// a list file removed read as none imported, and screening was off,
	// every organisation's declared status standing. Written empty where
	// there is none, once the list is in place: written before, an import
	// that then failed left screening closed with no list.
	if _, err := os.Lstat(s.decisionsPath()); errors.Is(err, fs.ErrNotExist) {
		if err := s.writeDecisions([]Decision{}); err != nil {
			return nil, nil, fmt.Errorf("%w: the list is in place, but the decisions file that marks it imported could not be written (a list removed later would read as none): %w", ErrListNotWritten, err)
		}
	}
	if len(left) > 0 && opt.NotCarried != nil {
		opt.NotCarried(left, bound)
	}
	return l, rekeyed, nil
}

// stageFile writes data to a temporary file beside path, named as
// atomicfile names its own (so that a stale one is removed as theirs
// are), synced and closed, and returns its name, for the caller to
// rename over path.
func stageFile(path string, data []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// fitting splits carry, the copies of dismissals to append to ds, into
// those the decisions file has room for under its bounds (MaxDecisions,
// maxDecisionsBytes) and those left, and names the bound when some are
// left. The newest are kept: carry is in the order of the decisions
// copied, and the latest reviews are the ones a compliance team expects
// to stand; the oldest dismissals lapse first. A copy takes its indented
// encoding and a separator in the file, as encodeDecisions writes it.
func (s *Store) fitting(ds, carry []Decision) (fit, left []Decision, bound string) {
	if len(carry) == 0 {
		return carry, nil, ""
	}
	room := max(maxDecisions-len(ds), 0)
	base, err := json.MarshalIndent(map[string]any{"decisions": ds}, "", "  ")
	if err != nil {
		return carry, nil, "" // encodeDecisions says why
	}
	size := int64(len(base)) + 1
	n := 0
	for i := len(carry) - 1; i >= 0 && n < room; i-- {
		el, err := json.MarshalIndent(carry[i], "    ", "  ")
		if err != nil {
			return carry, nil, ""
		}
		add := int64(len(el) + len(",\n    "))
		if size+add > maxDecisionsBytes {
			break
		}
		size += add
		n++
	}
	if n == len(carry) {
		return carry, nil, ""
	}
	k := len(carry) - n
	bound = fmt.Sprintf("the decisions file %s holds at most %d decisions and %d bytes, and holds %d decisions (%d bytes as written): "+
		"the %d newest of %d dismissals fit and were carried over, the %d oldest were not; the decisions that count are the latest per organisation and entry: "+
		"move the ones they supersede to an archive, then dismiss those matches again",
		s.decisionsPath(), maxDecisions, maxDecisionsBytes, len(ds), len(base)+1, n, len(carry), k)
	return carry[k:], carry[:k], bound
}

// storedList is the stored list, or nil when there is none; or nil and
// why, when it is there but does not read as a list Import wrote. An
// import then replaces it only when told to (ImportOptions.Damaged),
// without the checks against the stored list (partialImport,
// olderImport) and recording no previous list: a store whose list is
// damaged must be able to take a good one, but a list cut or blanked on
// purpose must not let an extract or last year's publication in
// unchecked, as it did when it was read as none.
func (s *Store) storedList() (*List, error) {
	data, err := s.readList()
	if errors.Is(err, fs.ErrNotExist) {
		// Missing where the decisions file says a list was imported:
		// lost, not never imported (listRead), and an extract or last
		// year's file is not to replace it unchecked.
		if _, _, lerr := s.listRead(); !errors.Is(lerr, ErrNoList) {
			return nil, lerr
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var l List
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, err
	}
	if err := l.whole(); err != nil {
		return nil, err
	}
	return &l, nil
}

// partialImport refuses next, a file of the name given, as an extract of
// prev, the stored list: it lacks lists prev holds, or holds fewer than
// minImportedShare of its entries.
func partialImport(name string, prev, next *List) error {
	had := map[string]int{}
	for i := range prev.Entries {
		had[prev.Entries[i].List]++
	}
	var missing, fewer []string
	for _, c := range slices.Sorted(maps.Keys(had)) {
		switch n := next.Counts[c]; {
		case n == 0:
			missing = append(missing, fmt.Sprintf("%s (%d entries)", c, had[c]))
		case n < had[c]:
			fewer = append(fewer, fmt.Sprintf("%s %d fewer", c, had[c]-n))
		}
	}
	short := float64(len(next.Entries)) < minImportedShare*float64(len(prev.Entries))
	if len(missing) == 0 && !short {
		return nil
	}
	var why []string
	if len(missing) > 0 {
		why = append(why, fmt.Sprintf("it holds none of the lists %s", strings.Join(missing, ", ")))
	}
	if short {
		w := fmt.Sprintf("it holds %d entries, %d fewer than the %d of the stored list", len(next.Entries), len(prev.Entries)-len(next.Entries), len(prev.Entries))
		if len(fewer) > 0 {
			w += " (" + strings.Join(fewer, ", ") + ")"
		}
		why = append(why, w)
	}
	return fmt.Errorf("%s: %w: against the stored list (imported %s from %s), %s; "+
		"the screening list is the lists together, and this file would replace them all, clearing the parties of those it lacks; "+
		"import the whole Consolidated Screening List, or say that the file is meant to replace it (meridian screen import --allow-partial FILE)",
		name, ErrPartialImport, prev.ImportedAt.UTC().Format("2006-01-02T15:04:05Z"), prev.File, strings.Join(why, ", and "))
}

// rekey is the dismissals of ds to carry over to their entry's
// ContentHash before next replaces prev, the stored list, as copies to
// append: each the latest decision on its entry for its organisation
// that is a dismissal recorded with an earlier hash of the entry, when
// prev holds the entry with that hash (it is as it was when dismissed:
// the earlier hashes read all that ContentHash reads, and more).
//
// The copy, appended after every decision, must change what no
// screening reads but the hash: applyDecisions takes the latest decision
// on an entry for the organisation as it is (by fingerprint), and the
// latest confirmation, of any organisation of the tenant on a server. A
// dismissal is not carried over past a later decision on its entry for
// its organisation that the copy would come after for some fingerprint
// (one of them recorded without one, or both with the same), nor past a
// later confirmation that stands for the organisation; such a dismissal
// is no longer the decision that counts for it anyway.
func rekey(ds []Decision, prev, next *List) []Decision {
	entries := make(map[string]*Entry, len(prev.Entries))
	for i := range prev.Entries {
		entries[prev.Entries[i].ID] = &prev.Entries[i]
	}
	// The decisions are walked from the latest, each judged by what the
	// ones after it, kept in later, say (supersedes): judged against each
	// of them, an import cost the square of a history that only grows
	// (minutes, for one of the decisions file's bound).
	later := laterDecisions{}
	hashes := map[string][3]string{}
	var out []Decision
	for j := len(ds) - 1; j >= 0; j-- {
		d := ds[j]
		superseded := later.supersede(&d)
		later.add(&d)
		if d.Action != Dismiss || d.EntrySHA256 == "" {
			continue
		}
		e := entries[d.EntryID]
		if e == nil {
			continue
		}
		hs, ok := hashes[d.EntryID]
		if !ok {
			// Hashed once an entry: a history holds many decisions of
			// an entry of a common name.
			hs = [3]string{e.ContentHash(), e.contentHashV2(), e.contentHashV1()}
			hashes[d.EntryID] = hs
		}
		h := hs[0]
		if d.EntrySHA256 == h || d.EntrySHA256 != hs[1] && d.EntrySHA256 != hs[2] {
			continue
		}
		if superseded {
			continue
		}
		d.Rekeyed = &Rekeyed{From: d.EntrySHA256, ListSHA256: prev.SHA256, File: next.File, At: next.ImportedAt}
		d.EntrySHA256 = h
		out = append(out, d)
	}
	slices.Reverse(out)
	return out
}

// laterDecisions holds what supersedes reads of the decisions after
// one, by tenant and entry.
type laterDecisions map[laterKey]*laterOnEntry

type laterKey struct{ tenant, entry string }

type laterOnEntry struct {
	confirmed bool               // a confirmation, of any organisation
	orgs      map[string]bool    // an organisation decided on
	confirms  map[string]bool    // an organisation confirmed
	unprinted map[string]bool    // an organisation decided on without a fingerprint
	printed   map[[2]string]bool // an organisation decided on with a fingerprint
}

func (l laterDecisions) add(k *Decision) {
	key := laterKey{catalog.TenantOr(k.Tenant), k.EntryID}
	on := l[key]
	if on == nil {
		on = &laterOnEntry{orgs: map[string]bool{}, confirms: map[string]bool{}, unprinted: map[string]bool{}, printed: map[[2]string]bool{}}
		l[key] = on
	}
	on.orgs[k.Org] = true
	if k.Action == Confirm {
		on.confirmed = true
		on.confirms[k.Org] = true
	}
	if k.Fingerprint == "" {
		on.unprinted[k.Org] = true
	} else {
		on.printed[[2]string{k.Org, k.Fingerprint}] = true
	}
}

// supersede is whether one of the decisions added supersedes d.
func (l laterDecisions) supersede(d *Decision) bool {
	tenant := catalog.TenantOr(d.Tenant)
	on := l[laterKey{tenant, d.EntryID}]
	if on == nil {
		return false
	}
	if on.confirms[d.Org] || on.confirmed && tenant != catalog.DefaultTenant {
		return true
	}
	if d.Fingerprint == "" {
		return on.orgs[d.Org]
	}
	return on.unprinted[d.Org] || on.printed[[2]string{d.Org, d.Fingerprint}]
}

// supersedes: k, recorded after d, is a decision on d's entry that
// applyDecisions would read for an organisation d is about, in its
// place or before it.
func supersedes(k, d *Decision) bool {
	tenant := catalog.TenantOr(d.Tenant)
	if catalog.TenantOr(k.Tenant) != tenant || k.EntryID != d.EntryID {
		return false
	}
	if k.Action == Confirm && (k.Org == d.Org || tenant != catalog.DefaultTenant) {
		return true
	}
	return k.Org == d.Org && (d.Fingerprint == "" || k.Fingerprint == "" || k.Fingerprint == d.Fingerprint)
}

// encodeDecisions is the decisions file holding ds, or an error naming
// the bound it would pass (MaxDecisions, maxDecisionsBytes): it is called
// before a decision is recorded anywhere, so that one refused is neither
// written nor audited.
func (s *Store) encodeDecisions(ds []Decision) ([]byte, error) {
	if len(ds) > maxDecisions {
		return nil, fmt.Errorf("screening decisions %s: %d decisions, over the bound of %d decisions the file holds; nothing written: the decisions that count are the latest per organisation and entry, move the ones they supersede to an archive", s.decisionsPath(), len(ds), maxDecisions)
	}
	out, err := json.MarshalIndent(map[string]any{"decisions": ds}, "", "  ")
	if err != nil {
		return nil, err
	}
	if int64(len(out))+1 > maxDecisionsBytes {
		return nil, fmt.Errorf("screening decisions %s: %d decisions take %d bytes, over the %d-byte bound they are read back with; nothing written", s.decisionsPath(), len(ds), len(out)+1, maxDecisionsBytes)
	}
	return append(out, '\n'), nil
}

// writeDecisions rewrites the decisions file with ds, atomically; the
// caller holds the lock.
func (s *Store) writeDecisions(ds []Decision) error {
	out, err := s.encodeDecisions(ds)
	if err != nil {
		return err
	}
	return s.writeEncoded(out)
}

// writeEncoded writes out, the decisions file encodeDecisions gave,
// atomically; the caller holds the lock.
func (s *Store) writeEncoded(out []byte) error {
	if err := atomicfile.WriteFile(s.decisionsPath(), out, 0o600); err != nil {
		return fmt.Errorf("screening decisions: %w", err)
	}
	return nil
}

// List reads the imported list (ErrNoList when there is none).
func (s *Store) List() (*List, error) {
	l, _, err := s.listRead()
	return l, err
}

// listRead is List, with the hex SHA-256 of the file as read.
func (s *Store) listRead() (*List, string, error) {
	data, err := s.readList()
	if errors.Is(err, fs.ErrNotExist) {
		// Decisions are recorded only against an imported list: with
		// them and no list, the list was lost, not never imported, and
		// reading it as none turned screening off (the organisations'
		// declared statuses stood).
		switch _, derr := os.Stat(s.decisionsPath()); {
		case derr == nil:
			return nil, "", fmt.Errorf("%s: missing, but %s exists, which an import writes (and every decision): a list was imported here; import the list again (meridian screen import FILE)",
				s.listPath(), s.decisionsPath())
		case !errors.Is(derr, fs.ErrNotExist):
			return nil, "", fmt.Errorf("%s: missing, and whether decisions were recorded against a list is unknown: %w", s.listPath(), derr)
		}
		return nil, "", ErrNoList
	}
	if err != nil {
		return nil, "", err
	}
	var l List
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, "", fmt.Errorf("%s: %w", s.listPath(), err)
	}
	if err := l.whole(); err != nil {
		return nil, "", fmt.Errorf("%s: %w; import the list again (meridian screen import FILE)", s.listPath(), err)
	}
	sum := sha256.Sum256(data)
	return &l, hex.EncodeToString(sum[:]), nil
}

// readList reads the stored list's file: a regular file (a link to one
// followed, as the store's other files are) within maxListBytes; its
// errors name the file.
func (s *Store) readList() ([]byte, error) {
	return plainfile.Read(s.listPath(), maxListBytes)
}

// whole checks that a stored list is one Import wrote: entries, each
// with an id and a name, as many of each list as it counted. A file that
// decodes to less (null, {}, entries cut or blanked) was read as a list
// of no or fewer entries, and every organisation screened clear against
// it: it is a list that failed to load, and screening fails closed.
func (l *List) whole() error {
	if len(l.Entries) == 0 {
		return errors.New("holds no entries")
	}
	got := map[string]int{}
	// Decisions name an entry by its id, and apply to every match of an
	// entry of that id (a dismissal recorded before entries were hashed
	// cleared both): an import refuses a file that repeats one, and a
	// stored list that does was not written by one.
	seen := make(map[string]int, len(l.Entries))
	for i := range l.Entries {
		e := &l.Entries[i]
		if strings.TrimSpace(e.ID) == "" {
			return fmt.Errorf("entries[%d]: id: empty", i)
		}
		if j, ok := seen[e.ID]; ok {
			return fmt.Errorf("entries[%d] and entries[%d]: id %s twice; ids must name one entry", j, i, clip(e.ID))
		}
		seen[e.ID] = i
		if err := e.check(); err != nil {
			return fmt.Errorf("entries[%d] (%s): %w", i, clip(e.ID), err)
		}
		got[e.List]++
	}
	if !maps.Equal(got, l.Counts) {
		return fmt.Errorf("holds %d entries by list %s, but the import counted %s", len(l.Entries), clip(fmt.Sprint(got)), clip(fmt.Sprint(l.Counts)))
	}
	return nil
}

// Decisions reads the recorded decisions, oldest first. A decision whose
// action is neither Confirm nor Dismiss is an error.
func (s *Store) Decisions() ([]Decision, error) {
	data, err := plainfile.Read(s.decisionsPath(), maxDecisionsBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var doc struct {
		Decisions boundedDecisions `json:"decisions"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", s.decisionsPath(), err)
	}
	// Decide records only these actions. Another (a hand edit) was read
	// as the latest decision on its entry, replacing a confirmation it
	// does not undo: the file is refused, as one that cannot be read,
	// and screening fails closed until it is corrected.
	for i := range doc.Decisions {
		d := &doc.Decisions[i]
		if d.Action != Confirm && d.Action != Dismiss {
			return nil, fmt.Errorf("%s: decisions[%d] (organisation %s, entry %s): action %s is neither %s nor %s; correct or remove it",
				s.decisionsPath(), i, clip(d.Org), clip(d.EntryID), clip(d.Action), Confirm, Dismiss)
		}
	}
	return doc.Decisions, nil
}

// boundedDecisions decodes a JSON array of decisions, refusing one past
// maxDecisions before it is decoded: decoded whole and counted after, 128
// MiB of empty decisions ({}) took some ten gigabytes first.
type boundedDecisions []Decision

func (b *boundedDecisions) UnmarshalJSON(data []byte) error {
	ds, err := decodeBounded[Decision](data, maxDecisions, func() error {
		return fmt.Errorf("more than %d decisions, the bound of decisions the file holds (MaxDecisions); the store writes no more, so it was not written by it: move the decisions superseded by later ones to an archive", maxDecisions)
	})
	if err != nil {
		return fmt.Errorf("decisions: %w", err)
	}
	*b = ds
	return nil
}

// UnmarshalJSON reads a stored list, its entries at most maxEntries
// (decodeBounded).
func (l *List) UnmarshalJSON(data []byte) error {
	type plain List
	var doc struct {
		*plain
		Entries boundedEntries `json:"entries"`
	}
	doc.plain = (*plain)(l)
	if err := json.Unmarshal(data, &doc); err != nil {
		return err
	}
	l.Entries = doc.Entries
	return nil
}

// boundedEntries are a stored list's entries, at most maxEntries.
type boundedEntries []Entry

func (b *boundedEntries) UnmarshalJSON(data []byte) error {
	es, err := decodeBounded[Entry](data, maxEntries, errTooManyEntries)
	if err != nil {
		return fmt.Errorf("entries: %w", err)
	}
	nNames, nAddrs := 0, 0
	for i := range es {
		if err := countNames(&nNames, &nAddrs, &es[i]); err != nil {
			return fmt.Errorf("entries[%d]: %w", i, err)
		}
	}
	*b = es
	return nil
}

// Decide records a person's decision on a match of org with the entry
// entryID of the imported list, as the entry is now. The entry must exist;
// who decided and why are required. The history is rewritten atomically
// under a lock, so concurrent decisions are all kept.
func (s *Store) Decide(tenant string, o *catalog.Organization, entryID, action, by, reason string) (Decision, error) {
	return s.DecideSeen(tenant, o, entryID, "", action, by, reason)
}

// MinEntryHashPrefix is the fewest hex digits of an entry's hash a
// decision may name it by (screening's table shows as many).
const MinEntryHashPrefix = 12

// DecideSeen is Decide about the entry as the person saw it: seen, when
// given, is its hash as screening showed it (Match.EntrySHA256, whole or
// its first MinEntryHashPrefix hex digits or more), and the decision is
// refused when the entry has changed since. Decide records whatever the
// entry is at the moment of the command, which a person who reviewed an
// earlier version (an import ran in between) may never have seen.
func (s *Store) DecideSeen(tenant string, o *catalog.Organization, entryID, seen, action, by, reason string) (Decision, error) {
	return s.DecideRecorded(tenant, o, entryID, seen, action, by, reason, nil)
}

// MaxDecisionByBytes and MaxDecisionReasonBytes bound who decided and
// why, in bytes. The history is read whole, and rewritten whole on each
// decision, under maxDecisionsBytes: one reason of 100 MiB took what
// decades of decisions take, and one that pushed the file over its bound
// made every later decision fail to be written. A name and a paragraph
// fit; with them a decision takes at most some 3 KB as written, so the
// bound still holds some 40,000 decisions.
const (
	MaxDecisionByBytes     = 256
	MaxDecisionReasonBytes = 2048
)

// decisionText says why v, the value of a decision's flag, cannot be
// recorded, or nil: over limit bytes, not UTF-8, or holding a control
// character, a bidirectional formatting character or a line or paragraph
// separator. Both are printed to terminals and kept in the audit log:
// an escape sequence rewrote what the person reading saw, and a line
// break forged a line of the command's output or of a log.
func decisionText(flag, v string, limit int) error {
	if len(v) > limit {
		return fmt.Errorf("%s: %d bytes, over the %d-byte limit", flag, len(v), limit)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s: not UTF-8 text", flag)
	}
	if i := textsafe.Index(v); i >= 0 {
		r, _ := utf8.DecodeRuneInString(v[i:])
		return fmt.Errorf("%s: holds %U at byte %d, a control, bidirectional-formatting or line-separator character; give it as one line of plain text", flag, r, i)
	}
	return nil
}

// DecideRecorded is DecideSeen with record, when set, handed the decision
// (an audit log) under the lock before it is written: an error of it
// writes nothing, so that no decision takes effect unrecorded. Written
// after, a record that failed left the decision in force with no trace
// of it where decisions are audited. When the decisions file cannot be
// written after record, the decision is recorded but not in force.
func (s *Store) DecideRecorded(tenant string, o *catalog.Organization, entryID, seen, action, by, reason string, record func(Decision) error) (Decision, error) {
	var d Decision
	seen = strings.ToLower(strings.TrimSpace(seen))
	if seen != "" && (len(seen) < MinEntryHashPrefix || len(seen) > sha256.Size*2 || strings.Trim(seen, "0123456789abcdef") != "") {
		return d, fmt.Errorf("--entry-sha256 %q: want the entry's SHA-256 as screening shows it (entrySha256), %d to %d hex digits", seen, MinEntryHashPrefix, sha256.Size*2)
	}
	org := ""
	if o != nil {
		org = o.Metadata.Name
	}
	switch {
	case action != Confirm && action != Dismiss:
		return d, fmt.Errorf("action %q: want %s or %s", action, Confirm, Dismiss)
	case strings.TrimSpace(by) == "":
		return d, errors.New("who decides is required (--by)")
	case strings.TrimSpace(reason) == "":
		return d, errors.New("a reason is required (--reason)")
	case strings.TrimSpace(org) == "":
		return d, errors.New("the organisation is required")
	}
	if err := decisionText("--by", by, MaxDecisionByBytes); err != nil {
		return d, err
	}
	if err := decisionText("--reason", reason, MaxDecisionReasonBytes); err != nil {
		return d, err
	}
	l, err := s.List()
	if err != nil {
		return d, err
	}
	var entry *Entry
	for i := range l.Entries {
		if l.Entries[i].ID == entryID {
			entry = &l.Entries[i]
		}
	}
	if entry == nil {
		return d, fmt.Errorf("no entry %q in the imported list (%s)", entryID, l.File)
	}
	hash := entry.ContentHash()
	if seen != "" && !strings.HasPrefix(hash, seen) {
		return d, fmt.Errorf("--entry-sha256 %s: entry %s is no longer the one screening showed, it is now %s (the list imported %s, %s, changed it); screen again and decide on the entry as it is",
			seen, entryID, short(hash), l.ImportedAt.UTC().Format("2006-01-02T15:04:05Z"), l.File)
	}
	d = Decision{Org: org, Tenant: catalog.TenantOr(tenant), Fingerprint: Fingerprint(o), EntryID: entryID, Entry: entry.List + " " + entry.Name, Action: action, By: by, Reason: reason,
		Time: s.now().UTC(), ListSHA256: l.SHA256, EntrySHA256: hash}
	unlock, err := s.lock()
	if err != nil {
		return d, err
	}
	defer unlock()
	ds, err := s.Decisions()
	if err != nil {
		return d, err
	}
	out, err := s.encodeDecisions(append(ds, d))
	if err != nil {
		return d, err
	}
	if record != nil {
		if err := record(d); err != nil {
			return d, fmt.Errorf("%w; nothing decided: a decision is recorded before it is written", err)
		}
	}
	if err := s.writeEncoded(out); err != nil {
		return d, err
	}
	return d, nil
}

// Screen screens tenant's organisations against the imported list with
// the recorded decisions, in name order.
func (s *Store) Screen(tenant string, orgs ...*catalog.Organization) ([]Result, error) {
	l, err := s.List()
	if err != nil {
		return nil, err
	}
	ds, err := s.Decisions()
	if err != nil {
		return nil, err
	}
	sort.SliceStable(orgs, func(i, j int) bool { return orgs[i].Metadata.Name < orgs[j].Metadata.Name })
	ix := newIndex(l)
	out := make([]Result, 0, len(orgs))
	for _, o := range orgs {
		out = append(out, ix.screen(tenant, o, ds))
	}
	return out, nil
}

// LockWait is how long an import or a decision waits for the screening
// directory's lock. Another holds it only while it writes a list or the
// decisions (seconds at the files' bounds); one that holds it longer (a
// process stopped, a hung file system) must not keep the request, and
// the server's goroutine, waiting without end: the import or decision is
// refused, naming the lock, and nothing is written.
const LockWait = 2 * time.Minute

// lockWait is LockWait, shortened by tests.
var lockWait = LockWait

// lock takes the directory's lock file, creating the directory. The lock
// file must be a regular file (flock.Lock): a link planted in its place
// made the lock create the file it named, wherever the server may write.
//
// The directory is made durable (synced into its parent): made with
// os.MkdirAll, a power loss after the first import could take it with
// the list in it, and with no list and no decisions nothing tells an
// import lost from none made: screening was off.
func (s *Store) lock() (func(), error) {
	if err := atomicfile.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(s.Dir, ".lock")
	ctx, cancel := context.WithTimeout(context.Background(), lockWait)
	defer cancel()
	unlock, err := flock.Lock(ctx, path)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("screening lock %s: still held by another import or decision after %v; nothing written, try again", path, lockWait)
	}
	if err != nil {
		return nil, err
	}
	// Every write here holds the lock, so a temporary file found now is
	// a killed writer's: a list's takes up to MaxFileBytes, and each
	// import killed midway left one for good.
	atomicfile.RemoveTemps(s.listPath())
	atomicfile.RemoveTemps(s.decisionsPath())
	return unlock, nil
}
