package transfer

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/internal/flock"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
)

// Ledger records what crossed which border: every batch of objects as an
// intent before it is sent, and as a confirmation (kind KindTransfer) once
// it is verified at the destination. Append must be durable when it
// returns. Records lists a tenant's records of some kinds in order, so that
// intents an interrupted copy left open can be reconciled.
type Ledger interface {
	Append(ctx context.Context, tenant, kind, runID string, payload any) error
	Records(ctx context.Context, tenant string, kinds ...string) ([]Record, error)
}

// Ledger kinds. KindTransfer is the audit log's own kind for data
// transfers, so `meridian audit verify` covers the ledger.
const (
	KindTransfer  = audit.KindTransfer
	KindIntent    = "transfer-intent"
	KindAbandoned = "transfer-abandoned"
	// KindWithdrawn records a staged copy deleted from a site because the
	// law no longer lets the data be there.
	KindWithdrawn = "transfer-withdrawn"
	// KindForgotten records chunks the ledger remembered as abandoned
	// that are no longer in the dataset's manifest and that a reconcile
	// found not at the destination: no later copy sends or looks for them.
	KindForgotten = "transfer-forgotten"
	// KindShownDamaged records chunks the ledger remembers as abandoned
	// or forgotten that the destination listed at their size but that
	// failed authentication there (or could not be read), as listed:
	// no copy reads one again until the listing shows it changed.
	KindShownDamaged = "transfer-shown-damaged"
	// KindDiscarded records unfinished writes at the destination that
	// records counted (Entry.Counted) and that a reconcile then removed,
	// the store confirming: a write found there later under the same ID
	// is another (a store chooses an upload's ID, and may give it again),
	// and counts in full.
	KindDiscarded = "transfer-discarded"
)

// ErrLedger marks a copy stopped because the ledger itself (the server's
// audit log, or a ledger file) could not record or read what the copy
// needs. It is the server's own failure, not the data's or the site's:
// the copy is tried again later (Transient), and a caller never takes it
// for leave to move bytes without their records.
var ErrLedger = errors.New("the transfer ledger could not be written or read")

// Transient reports whether a copy's error is a passing one, which the
// same copy may well get past a while later: a store's (dataset.Transient),
// the ledger's own (ErrLedger), a destination that took an object too
// slowly (ErrWriteDeadline), or a copy that ran into a day the law was
// not asked about (ErrDayChanged). The law's refusal never is.
func Transient(err error) bool {
	// A refusal that would be met again counts first, even joined with a
	// failure of the ledger's.
	if err == nil || errors.As(err, new(*DeniedError)) || dataset.Refused(err) {
		return false
	}
	return errors.Is(err, ErrLedger) || errors.Is(err, ErrDayChanged) || errors.Is(err, ErrWriteDeadline) || dataset.Transient(err)
}

// What a ledger entry moved.
const (
	KindDataset    = "dataset"
	KindCheckpoint = "checkpoint"
)

// Entry is the payload of one confirmation (KindTransfer): the objects of
// one intent verified at the destination, and what the law said.
type Entry struct {
	// Kind is KindDataset or KindCheckpoint (a run's sealed checkpoint,
	// which carries its datasets' origins).
	Kind      string   `json:"kind,omitempty"`
	Dataset   string   `json:"dataset"`
	Site      string   `json:"site"`
	From      string   `json:"from"`
	To        string   `json:"to"`
	FromSite  string   `json:"fromSite,omitempty"`
	Basis     string   `json:"basis,omitempty"`
	Rules     []string `json:"rules"`               // ids of the rules that reported a finding
	Evaluated []string `json:"evaluated,omitempty"` // ids of every transfer and access rule in force on AsOf (when the law can list them)
	AsOf      string   `json:"asOf"`
	RunID     string   `json:"runId,omitempty"`
	// Staging groups the records of one copy; Intent is the intent this
	// record confirms.
	Staging    string `json:"staging,omitempty"`
	Intent     string `json:"intent,omitempty"`
	Chunks     int    `json:"chunks"`     // chunks in the dataset
	ChunksSent int    `json:"chunksSent"` // chunks this record confirms
	Bytes      int64  `json:"bytes"`      // plaintext bytes in the dataset
	BytesSent  int64  `json:"bytesSent"`  // sealed bytes this record confirms
	// Reconciled marks a confirmation written after an interruption, for
	// objects found at the destination; Damaged of them failed
	// authentication there (they crossed; a copy deletes and sends them
	// again).
	Reconciled bool `json:"reconciled,omitempty"`
	Damaged    int  `json:"damaged,omitempty"`
	// Partial names the objects of a reconciled record that reached the
	// destination only in part (a write cut mid-upload), with the bytes
	// of them found there, or the objects of a copy's own record whose
	// write failed after the destination took part of it and dropped it
	// (an upload's parts, aborted), with those bytes: those bytes
	// crossed, and BytesSent counts them; ChunksSent does not count
	// their chunks (an object whose writes were cut more than once is
	// named once for each write found). It also names the objects a copy delivered whose
	// body it sent more than once (tries the destination answered 5xx
	// or cut off), with the bytes of the tries beyond the one kept:
	// BytesSent counts those too, and ChunksSent their chunks, once. A
	// reconciled record of a destination whose client may send a body
	// more than once names the largest objects of its intent too, as
	// many as the copy wrote at once (Intent.Writers; each one where the
	// intent does not say), with dataset.MaxCrossed of its size: the
	// tries a kill may have left on no record (an overcount, unless it
	// did).
	Partial []Partial `json:"partial,omitempty"`
	// Counted names the unfinished writes a reconciled record's Partial
	// counted, or a failed write's that left its temporary object at the
	// destination, each with the bytes it held then
	// (dataset.Unfinished.ID):
	// one a kill left at the destination after it was counted, and that
	// a later reconcile finds again, counts only for bytes beyond those.
	// Records written before they were kept lack them.
	Counted []CountedWrite `json:"counted,omitempty"`
	// Reappeared names the chunks this reconciled record confirms that
	// an abandonment of its intent recorded as not at the destination:
	// a later look found them there, intact (a site that hid them from
	// the reconcile). ChunksSent and BytesSent count them.
	Reappeared []string `json:"reappeared,omitempty"`
	// Complete marks the last record of a copy, with its Totals and the
	// hex SHA-256 of the manifest it put at the site (stored form): the
	// version that crossed, which the run's agent and a pinned
	// `dataset unseal` read and no other. A reconciled record that found
	// its intent's manifest there, with the digest the intent recorded,
	// gives that digest too: a manifest's intent is written only once
	// every chunk of its copy is confirmed.
	Complete       bool    `json:"complete,omitempty"`
	Totals         *Totals `json:"totals,omitempty"`
	ManifestSHA256 string  `json:"manifestSha256,omitempty"`
	// Who exported what, for volume thresholds that count a window of
	// exports (policy.Exports, read by LedgerExports). Entries written
	// before these fields existed lack them and are not counted.
	Organization   string `json:"organization,omitempty"`   // the exporting organisation
	Origin         string `json:"origin,omitempty"`         // the dataset's origin country
	Classification string `json:"classification,omitempty"` // the dataset's classification
	Subjects       int64  `json:"subjects,omitempty"`       // people the dataset covers
	// Registration is which registration of the dataset's name was
	// exported, so that a name registered again for other people counts
	// as another dataset: policy.SealedRegistration (the digest and the
	// seq of the sealed register record the registry read confirmed), or
	// policy.DatasetRegistration (the digest alone) where no record was
	// known; a staging's adds the contents it read
	// (policy.StagedRegistration, ContentsDigest), so that contents
	// swapped in the store with no new register record count as other
	// people. Entries written before it was kept lack it and count by name.
	// The entry is sealed: the record it names cannot be changed after.
	Registration string `json:"registration,omitempty"`
	// Group is the exporting organisation's group as its registrations
	// declared it on the staging's day (policy.OrgGroup of its query, not
	// the wider group a window's total joined, which would carry one
	// window's links into every later window holding this entry's day),
	// sorted, when it has other organisations: the volumes count this
	// export in the group's totals
	// for its window whatever the registrations say later
	// (policy.WindowGroup), so an affiliate dropped after exporting does
	// not shrink them. Entries written before it was kept lack it.
	Group []string `json:"group,omitempty"`
}

// Object is one stored object of a copy.
type Object struct {
	Key   string            `json:"key"`
	Bytes int64             `json:"bytes"`
	Chunk *dataset.ChunkRef `json:"chunk,omitempty"` // nil for the manifest
	// SHA256 is the hex SHA-256 of the manifest's bytes as sent (empty
	// for a chunk, whose name and authentication already say which bytes
	// it is, and in intents recorded before it was kept).
	SHA256 string `json:"sha256,omitempty"`
}

// Intent is the payload of KindIntent: the objects about to be sent.
type Intent struct {
	ID string `json:"id"`
	Entry
	Objects []Object `json:"objects"`
	// Unsent marks the intent a failed batch records of the objects the
	// destination did not take, once every write of the batch returned:
	// no write sends them under it, so none can have sent tries beyond
	// its record (reconcile). Intents without it may have.
	Unsent bool `json:"unsent,omitempty"`
	// Writers is how many of its objects the copy wrote at once (its
	// workers): a kill (or a ledger that failed) can leave the tries of
	// at most that many writes on no record, for a copy stops starting
	// writes once one's tries could not be recorded (reconcile counts
	// that many, the largest). Intents recorded before it was kept lack
	// it, and count every object.
	Writers int `json:"writers,omitempty"`
}

// Abandoned is the payload of KindAbandoned: objects of an intent that
// never reached the destination.
type Abandoned struct {
	Intent  string   `json:"intent"`
	Dataset string   `json:"dataset"`
	Site    string   `json:"site"`
	Missing []string `json:"missing"`
	Reason  string   `json:"reason"`
	// Chunks are the chunks of Missing, with their sizes, and Entry the
	// intent's entry (less its objects): what a later copy or reconcile
	// that finds one of them at the destination after all confirms it
	// with (Entry.Reappeared), the abandonment and its intent being
	// closed by then. Records written before they were kept lack them.
	Chunks []Object `json:"chunks,omitempty"`
	Entry  *Entry   `json:"entry,omitempty"`
	// Manifest is the manifest of Missing, with its size and digest, so
	// remembered too: a site that hid it from the reconcile and shows it
	// to the next copy would have it found there, the same, and not sent,
	// its bytes on no confirmation. Records written before it was kept
	// lack it.
	Manifest *Object `json:"manifest,omitempty"`
}

// Forgotten is the payload of KindForgotten: chunks of a dataset at a
// site that abandonments recorded as not at the destination, which the
// dataset's manifest no longer names and a reconcile then found not there
// either. No reconcile reads them again; the ledger's view still
// remembers them as dropped (up to 65,536 for a dataset at a site), so
// that a copy whose manifest names one again and finds it there confirms
// it. A record names up to 1,024 of them: a copy killed before it is
// written leaves those abandoned, and the next reconcile looks once more.
type Forgotten struct {
	// Kind is the entry kind (KindDataset when empty).
	Kind    string   `json:"kind,omitempty"`
	Dataset string   `json:"dataset"`
	Site    string   `json:"site"`
	Chunks  []string `json:"chunks"`
	Reason  string   `json:"reason"`
}

// ShownDamaged is the payload of KindShownDamaged: chunks of a dataset
// at a site, remembered as abandoned or forgotten (none the manifest
// names), that the destination listed at their size, with the
// modification time given, and that then failed authentication (or could
// not be read). They are not confirmed, nor removed; a later copy reads
// one again only once the destination lists it with another size or time,
// and one that two records name only after a rest since the last
// (ShownRest, doubling with each record after: a site that lists it
// changed at every listing costs a few reads more a year). A record
// names up to 1,024 of them.
type ShownDamaged struct {
	// Kind is the entry kind (KindDataset when empty).
	Kind    string      `json:"kind,omitempty"`
	Dataset string      `json:"dataset"`
	Site    string      `json:"site"`
	Chunks  []ShownItem `json:"chunks"`
	Reason  string      `json:"reason"`
	// At is when the copy read them (its clock); records written before
	// it was kept lack it.
	At time.Time `json:"at,omitzero"`
}

// Discarded is the payload of KindDiscarded: unfinished writes of a
// dataset's objects at a site, counted, that a reconcile removed. A
// record names up to 1,024 of them.
type Discarded struct {
	// Kind is the entry kind (KindDataset when empty).
	Kind    string         `json:"kind,omitempty"`
	Dataset string         `json:"dataset"`
	Site    string         `json:"site"`
	Writes  []CountedWrite `json:"writes"`
}

// ShownItem is one chunk of ShownDamaged, as the destination listed it.
type ShownItem struct {
	Key     string    `json:"key"`
	Bytes   int64     `json:"bytes"`
	ModTime time.Time `json:"modTime"`
}

// Record is one ledger record.
type Record struct {
	Seq     int64           `json:"seq,omitempty"`
	Time    time.Time       `json:"time"`
	Kind    string          `json:"kind"`
	Tenant  string          `json:"tenant,omitempty"`
	RunID   string          `json:"runId,omitempty"`
	Payload json.RawMessage `json:"payload"`
}

// decode reads the record's payload into v; an error names the record.
func (r Record) decode(v any) error {
	if err := json.Unmarshal(r.Payload, v); err != nil {
		return fmt.Errorf("ledger record %d: %w", r.Seq, err)
	}
	return nil
}

// OpenIntents returns the intents for dataset at site (of the entry kind
// given) that no confirmation or abandonment has closed, in the order they
// were recorded.
func OpenIntents(ctx context.Context, l Ledger, tenant, kind, dataset, site string) ([]Intent, error) {
	var out []Intent
	err := viewOf(ctx, l, tenant, func(v *view) { out = v.openIntents(kind, dataset, site) })
	return out, err
}

func orDataset(k string) string {
	if k == "" {
		return KindDataset
	}
	return k
}

// reconcile closes the intents an interrupted copy to this destination
// left open: objects found at the destination are confirmed (they did
// cross), the rest are recorded as abandoned. An object there that fails
// authentication crossed too: it is confirmed, and counted as damaged on
// its confirmation (a copy deletes and sends it again). Without a Sealer
// (a copy being withdrawn, which needs no key to be deleted) an object
// found there is confirmed unauthenticated, a manifest only if its bytes
// have the digest its intent recorded. An object not there whole whose
// write left part of it at the destination (a writer killed mid-upload:
// unfinishedWrites) crossed in part: its confirmation counts the bytes
// found and names it (Partial), and the part is then deleted. After it,
// the bytes the ledger confirms are the bytes that reached the
// destination. It returns how many objects it found intact (or, without
// a Sealer, found).
func (c *copier) reconcile(ctx context.Context) (int, error) {
	var open []Intent
	var earlier, dropped map[string]abandonedChunk
	var room int
	kind := orDataset(c.e.Kind)
	err := viewOf(ctx, c.s.Ledger, c.cr.Tenant, func(v *view) {
		open = v.openIntents(kind, c.cr.Name, c.e.Site)
		earlier = v.abandonedChunks(kind, c.cr.Name, c.e.Site)
		dropped, room = v.droppedChunks(kind, c.cr.Name, c.e.Site)
		c.counted = v.countedWrites(kind, c.cr.Name, c.e.Site)
	})
	if err != nil {
		return 0, fmt.Errorf("%w: the open intents of %s at %s: %w", ErrLedger, c.cr.Name, c.e.Site, err)
	}
	// The chunks abandoned before, by records the ledger holds, and those
	// this reconcile abandons: the copy confirms any of them it then
	// finds there after all (confirmReappeared). So are those forgotten,
	// which no reconcile reads again: a copy whose manifest names one
	// again reads it anyway if the site lists it, and a site that hid it
	// until it was forgotten does not have it skipped, unconfirmed.
	c.pending = make(map[string]abandonedChunk, len(earlier)+len(dropped))
	for k, p := range dropped {
		c.pending[k] = p
	}
	for k, p := range earlier {
		c.pending[k] = p
	}
	type finding struct {
		found   []Object
		missing []Object
		pin     string
		damaged int
	}
	n := 0
	var buf []byte
	finds := make([]finding, len(open))
	var discarded []CountedWrite  // the counted writes removed
	lacking := map[string]int64{} // objects not there whole → the most bytes an intent was to send there
	// Objects found there, each counted by the first open intent naming
	// it: a batch that failed records the objects the site did not take in
	// a new intent before it confirms its own, and a kill between the two
	// leaves both open, naming them twice.
	found := map[string]bool{}
	for i, in := range open {
		fd := &finds[i]
		for _, o := range in.Objects {
			if found[o.Key] {
				continue
			}
			st, err := c.arrived(ctx, o, &buf)
			if err != nil {
				return n, err
			}
			if st != objAbsent {
				found[o.Key] = true
			}
			switch st {
			case objIntact:
				n++
				fd.found = append(fd.found, o)
				if o.Chunk == nil && o.SHA256 != "" {
					// The manifest with the digest its intent recorded:
					// the version now at the destination.
					fd.pin = o.SHA256
				}
			case objDamaged:
				fd.damaged++
				fd.found = append(fd.found, o)
			default:
				fd.missing = append(fd.missing, o)
				lacking[o.Key] = max(lacking[o.Key], o.Bytes)
			}
		}
	}
	parts, err := c.unfinishedWrites(ctx, lacking)
	if err != nil {
		return n, err
	}
	// The tries of a body a destination's client sends again (answered
	// 5xx, or cut off) are known only to the copy, which records them as
	// each write returns (crossedNow): a kill before that record leaves
	// them on none, and nothing at the destination shows them. An intent
	// still open (but one of objects not sent, Unsent) is one whose copy
	// ended before its own record. Its writes ran at most Writers at a
	// time, and a copy whose record of a write's tries fails starts no
	// other write (send): at most Writers of its objects can have tries
	// on no record. So the largest Writers of its objects (every one,
	// for an intent recorded without Writers) count as many bytes as
	// their write may have sent unrecorded (dataset.MaxCrossed), each
	// once, by the first intent counting it: an overcount unless a kill
	// struck in that window.
	resends := mayResend(c.cr.Dst)
	tried := map[string]bool{}
	for i, in := range open {
		fd := finds[i]
		var partial []Partial
		var counted []CountedWrite
		var taken []dataset.Unfinished
		var missing []string
		var gone []Object
		var lost *Object // the manifest, with its digest
		if resends && !in.Unsent {
			for _, o := range mayHaveResent(in, tried) {
				tried[o.Key] = true
				partial = append(partial, Partial{Key: o.Key, Bytes: dataset.MaxCrossed(int(o.Bytes))})
			}
		}
		unseen := len(partial) // the tries counted unseen, before the parts found
		for _, o := range fd.missing {
			missing = append(missing, o.Key)
			if o.Chunk != nil {
				gone = append(gone, o)
			} else if o.SHA256 != "" && o.Key == dataset.ManifestKey(c.cr.Name) {
				lost = &o
			}
			// Each part is counted once, by the first intent that could
			// have written it (no larger than it was to send): it is then
			// discarded, and forgotten. Each write is a crossing of its
			// own, named once for each (Partial); one a record counted
			// before (a kill left it there) counts only for what it
			// holds beyond that, and only for an intent of the staging
			// that record counted it for, which wrote nothing after
			// (countedAs). For another intent it counts in full: a site
			// could put a later cut write under the counted one's name,
			// which would have that write counted only beyond it.
			for i := range parts[o.Key].writes {
				w := &parts[o.Key].writes[i]
				if w.taken || w.w.Bytes > o.Bytes {
					continue
				}
				w.taken = true
				taken = append(taken, w.w)
				fresh := w.w.Bytes
				if w.prior.staging != "" && w.prior.staging == in.Staging {
					fresh -= min(fresh, w.prior.bytes)
				}
				if fresh > 0 {
					partial = append(partial, Partial{Key: o.Key, Bytes: fresh})
					counted = append(counted, CountedWrite{ID: w.w.ID(), Bytes: w.w.Bytes, Key: o.Key})
				}
			}
		}
		// An intent all of whose objects an earlier one counted is closed
		// by a confirmation of nothing.
		if len(fd.found) > 0 || len(partial) > 0 || len(fd.missing) == 0 {
			conf := in.Entry
			conf.Intent, conf.Reconciled = in.ID, true
			conf.ChunksSent, conf.BytesSent = 0, 0
			conf.Complete, conf.Totals = false, nil
			conf.ManifestSHA256 = fd.pin
			conf.Damaged = fd.damaged
			conf.Partial, conf.Counted = partial, counted
			for _, o := range fd.found {
				if o.Chunk != nil {
					conf.ChunksSent++
				}
				conf.BytesSent += o.Bytes
			}
			for _, p := range partial {
				conf.BytesSent += p.Bytes
			}
			if err := c.s.Ledger.Append(ctx, c.cr.Tenant, KindTransfer, in.RunID, conf); err != nil {
				return n, fmt.Errorf("%w: %w", ErrLedger, err)
			}
		}
		// The confirmation goes first: either record closes the intent, and
		// a kill between the two must not leave bytes at the destination
		// unconfirmed.
		if len(missing) > 0 {
			reason := "interrupted: not at the destination when reconciled, whole or in part"
			if len(partial) > unseen {
				reason = "interrupted before these objects were whole at the destination: the parts of them found there are confirmed (partial)"
			}
			entry := in.Entry
			ab := Abandoned{Intent: in.ID, Dataset: in.Dataset, Site: in.Site, Missing: missing, Reason: reason, Chunks: gone, Entry: &entry, Manifest: lost}
			if err := c.s.Ledger.Append(ctx, c.cr.Tenant, KindAbandoned, in.RunID, ab); err != nil {
				return n, fmt.Errorf("%w: %w", ErrLedger, err)
			}
			// The ledger now remembers these chunks as abandoned: a copy
			// or reconcile that finds them there after all, this one's or
			// a later one's (this one killed first), confirms them.
			ref := &Intent{ID: in.ID, Entry: entry}
			for _, o := range gone {
				c.pending[o.Key] = abandonedChunk{obj: o, in: ref}
			}
			if lost != nil {
				c.pending[lost.Key] = abandonedChunk{obj: *lost, in: ref}
			}
		}
		// What the ledger now counts is removed from the destination, as
		// soon as it is recorded: a part left there would be counted again
		// by the next intent for the same object. A kill before this
		// leaves it to the next copy's removal of stale temporary objects. (Stagings to one site store take
		// turns, under its lease: no live writer's part is taken.)
		for _, w := range taken {
			if err := dataset.Discard(ctx, c.cr.Dst, w); err != nil {
				return n, fmt.Errorf("remove the unfinished write of %s at the destination: %w", w.Key, err)
			}
			discarded = append(discarded, CountedWrite{ID: w.ID(), Bytes: w.Bytes, Key: w.Key})
		}
	}
	// Those removed are no longer counted: a store that lists a write
	// under one of their IDs again (an upload's, which is the store's to
	// choose) shows another, whose bytes count in full. A kill before
	// this leaves them counted, as when their removal was cut short.
	if err := c.discarded(ctx, discarded); err != nil {
		return n, err
	}
	// And the writes no intent counted (larger than any was to send).
	for _, key := range slices.Sorted(maps.Keys(parts)) {
		for _, w := range parts[key].writes {
			if w.taken {
				continue
			}
			if err := dataset.Discard(ctx, c.cr.Dst, w.w); err != nil {
				return n, fmt.Errorf("remove the unfinished write of %s at the destination: %w", key, err)
			}
		}
	}
	// The chunks earlier reconciles abandoned that are there after all,
	// intact: a copy killed after the abandonment and before it looked
	// again left them unconfirmed, and the next copy finds them present
	// and skips them.
	// One the manifest does not name that failed authentication there
	// before is read again only once the copy's listing shows it changed,
	// and within MaxReshownReads (a site could show every one damaged,
	// for every reconcile to read); those that failed longest ago first.
	var back, failed []Object
	var gone []string
	var inManifest map[string]bool
	var listed *dataset.Folder
	if len(earlier) > 0 {
		inManifest = c.manifestChunks()
		if inManifest != nil {
			if listed, err = c.scan(ctx, nil); err != nil {
				return n, err
			}
		}
	}
	keys := slices.Sorted(maps.Keys(earlier))
	sort.SliceStable(keys, func(i, j int) bool { return earlier[keys[i]].bad.seq < earlier[keys[j]].bad.seq })
	// A Reconcile on its own (no manifest, no listing) cannot tell the
	// chunks the dataset still names from the others, nor one listed as
	// it failed: it reads at most MaxReshownReads of them (and
	// MaxReshownBytes), from a point chosen at random in that order, so
	// that calls in turn reach each; the rest stay abandoned for a later
	// call, or a staging, to look at. It read every one, up to all the
	// chunks abandoned for the dataset at the site, at every call.
	alone := c.chunks == nil
	if alone && len(keys) > 0 {
		at := reconcileStart(len(keys))
		keys = append(keys[at:], keys[:at]...)
	}
	for _, key := range keys {
		if found[key] {
			continue // an open intent named it again, and counted it
		}
		if _, ok := lacking[key]; ok {
			continue
		}
		p := earlier[key]
		if alone && !c.reread(p.obj) {
			continue
		}
		other := listed != nil && !inManifest[key] && p.obj.Chunk != nil
		if other {
			size, ok := listed.Chunks[p.obj.Chunk.ID]
			if ok && (p.bad.same(size, listed.ModTimes[p.obj.Chunk.ID]) || !c.lateChance(p.bad)) {
				c.judge(key)
				continue
			}
			if ok && p.bad.seq != 0 && !c.reread(p.obj) {
				continue
			}
		}
		st, err := c.arrived(ctx, p.obj, &buf)
		if err != nil {
			return n, err
		}
		if st == objDamaged && other {
			failed = append(failed, p.obj)
		}
		switch {
		case st == objIntact:
			back = append(back, earlier[key].obj)
		case st == objAbsent && inManifest != nil && !inManifest[key] && p.obj.Chunk != nil && len(gone) < room:
			// Forgotten only while the ledger has room to remember it
			// as dropped (maxDropped); past that it stays abandoned.
			gone = append(gone, key)
		}
	}
	if err := c.shownDamaged(ctx, listed, failed); err != nil {
		return n, err
	}
	k, err := c.confirmPending(ctx, back)
	if err != nil {
		return n + k, err
	}
	return n + k, c.forget(ctx, gone)
}

// manifestChunks is the keys of the chunks of the manifest the copy sends,
// or nil when it has none (a Reconcile on its own, which cannot tell a
// chunk the manifest dropped from one it still names). It is built once
// for the copy (c.named), on first use.
func (c *copier) manifestChunks() map[string]bool {
	if c.chunks == nil || c.named != nil {
		return c.named
	}
	c.named = make(map[string]bool, len(c.chunks))
	for _, ch := range c.chunks {
		c.named[dataset.ChunkKey(c.cr.Name, ch.ID)] = true
	}
	return c.named
}

// forgetBatch bounds the chunks one KindForgotten record names, as a
// batch bounds an intent's: a record naming every chunk of a large
// dataset's dropped version would be a line of tens of megabytes, past
// what a FileLedger reads back.
const forgetBatch = 1024

// forget records (KindForgotten) that the chunks gone, which the ledger
// remembered as abandoned, are not at the destination and no longer in
// the manifest: a chunk the manifest still names is sent again under a
// new intent, which ends its memory, but one it dropped was never named
// again, and every later reconcile read it once more. Each record names
// up to forgetBatch of them; until it is written they stay remembered,
// and the next reconcile reads them again. A chunk forgotten is still
// remembered as dropped (view.dropped), read by no reconcile: a copy
// that finds it at the destination, once a manifest names it again,
// confirms it.
func (c *copier) forget(ctx context.Context, gone []string) error {
	for len(gone) > 0 {
		batch := gone[:min(len(gone), forgetBatch)]
		gone = gone[len(batch):]
		rec := Forgotten{Kind: orDataset(c.e.Kind), Dataset: c.cr.Name, Site: c.e.Site, Chunks: batch,
			Reason: "abandoned, no longer in the manifest, and not at the destination when reconciled"}
		if err := c.s.Ledger.Append(ctx, c.cr.Tenant, KindForgotten, c.e.RunID, rec); err != nil {
			return fmt.Errorf("%w: %w", ErrLedger, err)
		}
		for _, key := range batch {
			delete(c.pending, key)
		}
	}
	return nil
}

// discarded records (KindDiscarded) that the counted writes gone were
// removed from the destination, up to forgetBatch a record.
func (c *copier) discarded(ctx context.Context, gone []CountedWrite) error {
	for len(gone) > 0 {
		batch := gone[:min(len(gone), forgetBatch)]
		gone = gone[len(batch):]
		rec := Discarded{Kind: orDataset(c.e.Kind), Dataset: c.cr.Name, Site: c.e.Site, Writes: batch}
		if err := c.s.Ledger.Append(ctx, c.cr.Tenant, KindDiscarded, c.e.RunID, rec); err != nil {
			return fmt.Errorf("%w: %w", ErrLedger, err)
		}
	}
	return nil
}

// mayHaveResent is the objects of an open intent whose writes may have
// sent tries on no record, less those tried (counted by an earlier
// intent): the largest in.Writers of them (ties by key), or every one
// where the intent does not say how many were written at once.
func mayHaveResent(in Intent, tried map[string]bool) []Object {
	var out []Object
	for _, o := range in.Objects {
		if !tried[o.Key] && o.Bytes > 0 {
			out = append(out, o)
		}
	}
	if in.Writers <= 0 || len(out) <= in.Writers {
		return out
	}
	slices.SortStableFunc(out, func(a, b Object) int {
		if a.Bytes != b.Bytes {
			return cmp.Compare(b.Bytes, a.Bytes)
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out[:in.Writers]
}

// mayResend reports whether a write to b may send an object's body more
// than once (S3's client tries again): any store whose opener does not say
// its writes send each body once (a file store's does), whatever its URL.
func mayResend(b *dataset.Store) bool {
	return b == nil || !b.SendsEachBodyOnce()
}

// Partial is an object of an intent that reached the destination only in
// part: the bytes of an unfinished write of it found there.
type Partial struct {
	Key   string `json:"key"`
	Bytes int64  `json:"bytes"`
}

// CountedWrite is an unfinished write a reconcile counted
// (Entry.Counted).
type CountedWrite struct {
	ID    string `json:"id"`
	Bytes int64  `json:"bytes"`
	// Key is the object the write was to become. An upload's ID is the
	// store's to choose, and a store may give a later write, of this
	// object or another, an ID it gave one counted before: a write
	// counted is taken for one found again only if it was to become the
	// same object. Records written before it was kept lack it: their
	// uploads match no write found (counted again, an overcount).
	Key string `json:"key,omitempty"`
}

// maxSiteIDBytes bounds the id of an unfinished write a record names
// (CountedWrite.ID): an upload's id is the site's to choose, and a
// record names up to maxCounted of them, so a site's megabyte ids would
// have Meridian write an audit entry past what every reader of the log
// takes (store.MaxAuditPayloadBytes). S3's ids are some hundreds of bytes
// at most; a temporary object's is its name, a key Meridian chose (a
// dataset's name, a DNS label, and a chunk's) plus 21 bytes.
//
// The bound that matters is on the id as the record's JSON writes it,
// which writes a control byte, <, > and & as six bytes each, as it does
// a byte that is not UTF-8 (\ufffd): 4,096 ids of 1,024 such bytes would
// be some 24 MiB, an append the store refuses. So an upload's id holds
// only printable ASCII other than <, > and & (siteIDProblem; S3's are
// URL-safe), each byte of which the JSON writes as one, or two (" and
// \): at most some 9 MiB for 4,096 ids and their keys, within the
// 16 MiB.
const maxSiteIDBytes = 1024

// siteIDProblem is what keeps a record from naming the id of an
// unfinished write (see maxSiteIDBytes), or "".
func siteIDProblem(id string) string {
	if len(id) > maxSiteIDBytes {
		return fmt.Sprintf("is %d bytes, longer than the %d a ledger record names", len(id), maxSiteIDBytes)
	}
	if !strings.HasPrefix(id, "upload:") {
		return "" // a temporary object's: named after a key Meridian chose
	}
	for i := len("upload:"); i < len(id); i++ {
		if b := id[i]; b < 0x20 || b > 0x7e || b == '<' || b == '>' || b == '&' {
			return fmt.Sprintf("holds byte 0x%02x at %d, where a ledger record names only printable ASCII other than <, > and &", b, i-len("upload:"))
		}
	}
	return ""
}

// countedRef is what a write counted is remembered by (view.counted,
// copier.counted): its ID and the object it was to become. A temporary
// object's ID names that object already; an upload's does not.
func countedRef(id, key string) string {
	if strings.HasPrefix(id, "temp:") {
		return id
	}
	return id + "\x00" + key
}

// unfinished is what unfinishedWrites found of one object's writes.
type unfinished struct {
	writes []unfinishedWrite
}

// unfinishedWrite is one write unfinishedWrites found: what it left at
// the destination, what a record counted of it before (if any), and
// whether an intent of this reconcile took it.
type unfinishedWrite struct {
	w     dataset.Unfinished
	prior countedAs
	taken bool
}

// unfinishedWrites finds the writes to the objects lacking (key → the
// most bytes an intent was to send there) that a writer left unfinished
// at the destination (the copy's one listing of the dataset's folder
// there, scan: a file store's temporary objects, S3's multipart uploads),
// each with what a record counted of it before (c.counted). One
// that holds more than an intent was to send is not one of its writes,
// and the reconcile does not count it, only removes it: no record names
// it. Any other whose id a record cannot name (siteIDProblem: too long,
// or bytes its JSON would write six times over) fails the listing. The listing
// walks the dataset's whole folder at the destination, so it is bounded
// as a copy's listing of it is, by the dataset's chunks, not by the
// objects lacking.
func (c *copier) unfinishedWrites(ctx context.Context, lacking map[string]int64) (map[string]unfinished, error) {
	if len(lacking) == 0 {
		return nil, nil
	}
	f, err := c.scan(ctx, func(key string) bool { _, ok := lacking[key]; return ok })
	if err != nil {
		return nil, fmt.Errorf("the unfinished writes of %s at the destination: %w", c.cr.Name, err)
	}
	out := map[string]unfinished{}
	for _, w := range f.Unfinished {
		most, ok := lacking[w.Key]
		if !ok {
			continue
		}
		if w.Bytes <= most {
			if problem := siteIDProblem(w.ID()); problem != "" {
				return nil, fmt.Errorf("the unfinished write of %s at the destination: its upload id, which the site chose, %s (field counted id): refused", w.Key, problem)
			}
		}
		u := out[w.Key]
		// A write an earlier record counted, found again (a kill
		// before it was removed), may count only for what it holds
		// beyond that (reconcile); one larger than any intent was to
		// send is no intent's (no intent takes it).
		u.writes = append(u.writes, unfinishedWrite{w: w, prior: c.counted[countedRef(w.ID(), w.Key)]})
		out[w.Key] = u
	}
	return out, nil
}

// What reconcile finds of an object at the destination.
const (
	objAbsent = iota
	objIntact
	objDamaged // there, but not authentic (or not of the size sent)
)

// arrived says whether o is at the destination, and whether it is whole
// and authentic there. Without a Sealer, an object there is intact.
func (c *copier) arrived(ctx context.Context, o Object, buf *[]byte) (int, error) {
	if o.Chunk != nil && o.Key != dataset.ChunkKey(c.cr.Name, o.Chunk.ID) {
		return objAbsent, nil // no copy writes there
	}
	if c.cr.Sealer == nil || o.Chunk == nil {
		// The intent recorded the object's size: a larger object there
		// is not it, and is not read.
		read := dataset.ReadObject
		if o.Chunk == nil {
			read = readManifestObject
		}
		raw, err := read(ctx, c.cr.Dst, o.Key, o.Bytes)
		switch {
		case err != nil:
			return presence(err)
		case int64(len(raw)) != o.Bytes:
			return objDamaged, nil
		case c.cr.Sealer == nil && o.SHA256 != "" && hexSHA256(raw) != o.SHA256:
			// Without the key, the digest the intent recorded still says
			// whether these are its bytes: others of the same length are
			// the manifest an earlier copy put there (confirmed by its own
			// record) or bytes no copy wrote. The intent's never arrived.
			return objAbsent, nil
		case c.cr.Sealer == nil:
			return objIntact, nil
		}
		if _, err := dataset.ParseManifest(raw, c.cr.Sealer); err != nil {
			return objDamaged, nil
		}
		if o.SHA256 != "" && hexSHA256(raw) != o.SHA256 {
			// A genuine manifest, but not the one the intent was to send:
			// the version an earlier copy put there (of the same length,
			// as when a file changed in place), whose bytes its own
			// confirmation counted. The intent's never arrived.
			return objAbsent, nil
		}
		return objIntact, nil
	}
	var err error
	*buf, err = dataset.ReadChunk(ctx, c.cr.Dst, c.cr.Sealer, c.cr.Name, *o.Chunk, (*buf)[:0])
	if err != nil {
		return presence(err)
	}
	return objIntact, nil
}

// presence turns a failed read into what it says of the object: not there,
// there but not authentic, or no answer (the error).
func presence(err error) (int, error) {
	switch {
	case errors.Is(err, dataset.ErrNotFound) || errors.Is(err, dataset.ErrNotRegular):
		return objAbsent, nil
	case errors.Is(err, dataset.ErrTooLarge) || isAuth(err):
		return objDamaged, nil
	}
	return objAbsent, err
}

// Summary is what the ledger says crossed to one site for one dataset.
type Summary struct {
	Dataset        string `json:"dataset"`
	Site           string `json:"site"`
	Kind           string `json:"kind"`
	ChunksSent     int    `json:"chunksSent"`
	BytesConfirmed int64  `json:"bytesConfirmed"`
	OpenIntents    int    `json:"openIntents"`
	BytesPending   int64  `json:"bytesPending"` // in open intents: sent or not, unknown until reconciled
	// BytesPartial is the part of BytesConfirmed that objects cut
	// mid-write left at the site (Entry.Partial): bytes that crossed,
	// which a reconcile then removed, or an aborted upload dropped. The
	// rest is what the objects at the site hold.
	BytesPartial int64 `json:"bytesPartial,omitempty"`
	// ManifestSHA256 is the manifest the last complete copy put at the
	// site (its Entry's, or a reconciled one's that found it there), when
	// the ledger records one: the version that
	// should be there, which `dataset verify` holds the site to.
	ManifestSHA256 string `json:"manifestSha256,omitempty"`
}

// Summarize adds up a tenant's confirmations per dataset and site, with the
// intents still open.
func Summarize(ctx context.Context, l Ledger, tenant string) ([]Summary, error) {
	var out []Summary
	err := viewOf(ctx, l, tenant, func(v *view) { out = v.summaries() })
	return out, err
}

// Reconcile closes the open intents of one sealed dataset at one
// destination (cr.Dst, named cr.Entry.Site) against what is there, as every
// copy does first; `meridian dataset ledger` calls it so that the ledger it
// shows matches the site, and the law check before it withdraws a copy
// (with no Sealer: whatever is there crossed, authentic or not). It returns
// how many objects it found intact.
//
// Of the chunks earlier reconciles recorded as abandoned, it looks again
// at no more than MaxReshownReads (MaxReshownBytes, counting each at its
// recorded size), starting at a point chosen at random among them: those
// found there intact are confirmed; the others, and those it did not
// read, stay abandoned, for the next call or the next copy to look at
// (a copy also finds them in its listing of the destination).
func (s *Stager) Reconcile(ctx context.Context, cr CopyRequest) (int, error) {
	if cr.Entry.Site == "" {
		return 0, errors.New("reconcile: entry site not set")
	}
	c := &copier{s: s, cr: cr, e: cr.Entry}
	return c.reconcile(ctx)
}

// reconcileStart picks where, among n abandoned chunks, a Reconcile on
// its own starts reading (at random; tests replace it).
var reconcileStart = func(n int) int { return mrand.IntN(n) }

// hexSHA256 is the hex SHA-256 of b.
func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func isAuth(err error) bool {
	return errors.Is(err, seal.ErrAuth) || errors.Is(err, seal.ErrIDMismatch)
}

// AuditStore is what AuditLedger needs of the store.
type AuditStore interface {
	audit.Appender
	AuditSelect(ctx context.Context, q store.AuditQuery) ([]audit.Entry, error)
}

// AuditLedger keeps the ledger in the hash-chained audit log.
type AuditLedger struct{ Store AuditStore }

// Append implements Ledger.
func (l AuditLedger) Append(ctx context.Context, tenant, kind, runID string, payload any) error {
	return audit.NewLog(l.Store).AppendFor(ctx, tenant, kind, runID, payload)
}

// Records implements Ledger. The store selects the tenant's entries of
// those kinds, not the whole log: plans and run states, most of it, are
// never read here.
func (l AuditLedger) Records(ctx context.Context, tenant string, kinds ...string) ([]Record, error) {
	return l.RecordsAfter(ctx, tenant, 0, kinds...)
}

// RecordsAfter implements SeqLedger: the records of Records whose seq is
// above after.
func (l AuditLedger) RecordsAfter(ctx context.Context, tenant string, after int64, kinds ...string) ([]Record, error) {
	if tenant == "" {
		return nil, errors.New("ledger records: no tenant")
	}
	if len(kinds) == 0 {
		return nil, nil
	}
	q := store.AuditQuery{Kinds: kinds, Tenant: tenant, After: after}
	if tenant == dataset.DefaultTenant {
		// Entries written before tenants were recorded are the default
		// tenant's: the state directory's own.
		q.Untenanted = store.AllUntenanted
	}
	return l.records(ctx, q)
}

// records is the entries q selects, as ledger records.
func (l AuditLedger) records(ctx context.Context, q store.AuditQuery) ([]Record, error) {
	es, err := l.Store.AuditSelect(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(es))
	for _, e := range es {
		t, _ := time.Parse(audit.TimeLayout, e.Time)
		out = append(out, Record{Seq: e.Seq, Time: t, Kind: e.Kind, Tenant: e.Tenant, RunID: e.RunID, Payload: e.Payload})
	}
	return out, nil
}

// FileLedger is a Ledger kept as JSON lines in one file, each line fsynced
// before Append returns, for tests and embedders without the audit store.
// It is append-only by convention, not tamper-evident; the command line
// uses the audit log. Processes sharing one file take turns: each Append
// and Records holds an advisory lock on the file's name plus ".lock",
// which the kernel drops when its holder dies.
type FileLedger struct {
	Path string
	Now  func() time.Time // defaults to time.Now

	mu sync.Mutex
}

// Append implements Ledger.
func (l *FileLedger) Append(ctx context.Context, tenant, kind, runID string, payload any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	line, err := json.Marshal(Record{Time: now().UTC(), Kind: kind, Tenant: tenant, RunID: runID, Payload: p})
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// Another process appending to the same file cuts a torn tail too:
	// one that measured the file before this one's record was written
	// would cut it away with the fragment, an acknowledged record lost.
	unlock, err := l.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := os.OpenFile(l.Path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	// The file's name is durable only once its directory is synced, or
	// a crash could lose the whole ledger with every record acknowledged
	// in it: a new file's, and one whose creator (another process) was
	// killed before it synced. Once a process for each file.
	if err := atomicfile.SyncEntry(l.Path); err != nil {
		f.Close()
		return fmt.Errorf("ledger: %w", err)
	}
	if err := dropTornLine(f); err != nil {
		f.Close()
		return fmt.Errorf("ledger: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("ledger: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("ledger: %w", err)
	}
	return f.Close()
}

// Records implements Ledger. A record without a tenant is the default
// tenant's, as in the audit log.
func (l *FileLedger) Records(ctx context.Context, tenant string, kinds ...string) ([]Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	unlock, err := l.lock(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no directory: no ledger yet
	}
	if err != nil {
		return nil, err
	}
	defer unlock()
	all, err := readFileLedger(l.Path)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, k := range kinds {
		want[k] = true
	}
	var out []Record
	for _, r := range all {
		if catalog.TenantOr(r.Tenant) == catalog.TenantOr(tenant) && want[r.Kind] {
			out = append(out, r)
		}
	}
	return out, nil
}

// lock takes the lock that processes sharing the ledger file take turns
// on, waiting until ctx is done.
func (l *FileLedger) lock(ctx context.Context) (func(), error) {
	unlock, err := flock.Lock(ctx, l.Path+".lock")
	if err != nil {
		return nil, fmt.Errorf("ledger: lock %s: %w", filepath.Base(l.Path), err)
	}
	return unlock, nil
}

// beforeTornCut, when set (by tests), runs after dropTornLine has found
// where the torn tail begins and before it cuts there.
var beforeTornCut func()

// dropTornLine cuts what follows the last newline of f: part of a line
// that an Append killed midway wrote. That record was never acknowledged,
// and a record appended after it would be glued onto it.
func dropTornLine(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	end := fi.Size()
	var last [1]byte
	if end == 0 {
		return nil
	}
	if _, err := f.ReadAt(last[:], end-1); err != nil {
		return err
	}
	if last[0] == '\n' {
		return nil // the usual case: the last append finished
	}
	var block [64 << 10]byte
	for end > 0 {
		n := min(end, int64(len(block)))
		if _, err := f.ReadAt(block[:n], end-n); err != nil {
			return err
		}
		if i := bytes.LastIndexByte(block[:n], '\n'); i >= 0 {
			end -= n - int64(i) - 1
			break
		}
		end -= n
	}
	if end == fi.Size() {
		return nil
	}
	if beforeTornCut != nil {
		beforeTornCut()
	}
	return f.Truncate(end)
}

// readFileLedger reads every record of a FileLedger; a missing file is an
// empty ledger; a damaged line is an error naming its line number. A last
// line without its newline is an Append that did not finish, and is not a
// record.
func readFileLedger(path string) ([]Record, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var recs []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			return i + 1, data[:i], nil
		}
		if atEOF {
			return len(data), nil, nil
		}
		return 0, nil, nil
	})
	for n := 1; sc.Scan(); n++ {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		r.Seq = int64(n)
		recs = append(recs, r)
	}
	return recs, sc.Err()
}

// ReadFileLedger returns the confirmations (KindTransfer) of a FileLedger
// in order, those of one dataset when dataset is not empty.
func ReadFileLedger(path, dataset string) ([]Record, []Entry, error) {
	all, err := readFileLedger(path)
	if err != nil {
		return nil, nil, err
	}
	var recs []Record
	var ents []Entry
	for _, r := range all {
		if r.Kind != KindTransfer {
			continue
		}
		var e Entry
		if err := json.Unmarshal(r.Payload, &e); err != nil {
			return nil, nil, fmt.Errorf("%s:%d: payload: %w", path, r.Seq, err)
		}
		if dataset != "" && e.Dataset != dataset {
			continue
		}
		recs = append(recs, r)
		ents = append(ents, e)
	}
	return recs, ents, nil
}

// The audit log is the production Ledger.
var _ SeqLedger = AuditLedger{}

// Withdrawn is the payload of KindWithdrawn.
type Withdrawn struct {
	// Kind is KindCheckpoint for a run's sealed checkpoint copy (Dataset
	// is then the checkpoint's name, and Run its run), empty for a
	// dataset's copy.
	Kind     string   `json:"kind,omitempty"`
	Run      string   `json:"run,omitempty"`
	Dataset  string   `json:"dataset"`
	Site     string   `json:"site"`
	From     string   `json:"from"`
	To       string   `json:"to"`
	Rules    []string `json:"rules"`
	Reason   string   `json:"reason"`
	Revision int64    `json:"revision"`
	AsOf     string   `json:"asOf"`
	// RuleDay is the day whose law refused the copy: AsOf (the UTC day
	// the withdrawal was made on), or another day it then was somewhere
	// on Earth, whose rule the reason names. Empty in records written
	// before it was kept.
	RuleDay string `json:"ruleDay,omitempty"`
	Objects int    `json:"objects"`
	// The sweep of a site a run left records the checkpoints its agents
	// sealed there (on no ledger) one entry each up to a bound a pass, and
	// those past it in one entry: Checkpoints is how many that entry
	// covers (Dataset is then their names' prefix and "*"), Names the
	// first of them, NamesSHA256 the SHA-256 of all their names in order,
	// each followed by a newline, and Bytes what their objects held as
	// the store listed them (Objects is their number).
	Checkpoints int      `json:"checkpoints,omitempty"`
	Names       []string `json:"names,omitempty"`
	NamesSHA256 string   `json:"namesSHA256,omitempty"`
	Bytes       int64    `json:"bytes,omitempty"`
}
