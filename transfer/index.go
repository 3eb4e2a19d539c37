package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// SeqLedger is a Ledger whose records carry increasing seqs (Record.Seq),
// and that lists a tenant's records after one: what an Index reads to
// catch up.
type SeqLedger interface {
	Ledger
	RecordsAfter(ctx context.Context, tenant string, after int64, kinds ...string) ([]Record, error)
}

// view is what a tenant's records say, folded in order: the intents no
// record has closed yet, and the totals confirmed per dataset and site.
// Memory is bounded by the open intents and the (kind, dataset, site)
// pairs, not by the history.
type view struct {
	seq  int64
	open map[string]openIntent
	sums map[sumKey]*Summary
	// abandoned holds, per kind, dataset and site, the chunks an
	// abandonment recorded as not at the destination that no record has
	// since confirmed (Entry.Reappeared) or named in a new intent (whose
	// own records then say what became of them), by key. A copy or
	// reconcile that finds one there, intact, confirms it. It is bounded
	// by the chunk keys of the datasets staged: a chunk the dataset's
	// manifest dropped, which a reconcile then found not there, is
	// forgotten (KindForgotten): it moves to dropped.
	abandoned map[sumKey]map[string]abandonedChunk
	// dropped holds, per kind, dataset and site, the chunks forgotten:
	// abandoned, no longer in the manifest, and not at the destination
	// when a reconcile looked. No reconcile reads them again, but a copy
	// whose manifest names one again and that finds it at the
	// destination, listed and intact, confirms it as abandoned chunks are
	// (a site that hid it until it was forgotten would otherwise have it
	// skipped as already there, on no confirmation). A new intent naming
	// one, or a confirmation of it, ends its memory. Each holds at most
	// maxDropped; a chunk forgotten past that stays abandoned.
	dropped map[sumKey]map[string]abandonedChunk
	// counted holds, per kind, dataset and site, the unfinished writes
	// at the destination that reconciled records counted (Entry.Counted),
	// so that one a kill left there after it was counted is not counted
	// again: up to maxCounted, the oldest forgotten first (one forgotten
	// and found again is counted again: an overcount, never an
	// undercount).
	counted map[sumKey]*countedWrites
}

// maxCounted bounds the unfinished writes a view remembers as counted for
// one kind, dataset and site: a temporary object older than an hour is
// removed by the next copy's listing, and an upload by its abort, so
// only the latest few are ever found again. Tests set it lower.
var maxCounted = 4096

// countedWrites is the writes of view.counted for one kind, dataset and
// site: what was counted of each, by countedRef, and those in the order
// they were first counted.
type countedWrites struct {
	bytes map[string]countedAs
	order []string
}

// countedAs is what the ledger counted of an unfinished write: its bytes,
// and the staging (Entry.Staging) of the record that counted them when
// that record was written once every write of that staging had returned
// (it closes an intent: a failed batch's, or a reconcile's of a copy that
// ended); "" when it may have been written before some (a record of
// bytes as soon as a write returned, crossedNow), or names no staging.
// A write found again counts only beyond those bytes for an intent of
// that staging, which wrote nothing after; for any other, the site may
// have put a later write under the counted one's name, and it counts in
// full (an overcount when it did not).
type countedAs struct {
	bytes   int64
	staging string
}

// maxDropped bounds the forgotten chunks a view remembers for one kind,
// dataset and site (view.dropped), some tens of megabytes at most: a copy
// forgets no more than there is room for, and the rest stay abandoned,
// read by each reconcile as before they could be forgotten. Tests set it
// lower.
var maxDropped = 1 << 16

// abandonedChunk is one chunk of view.abandoned: the object, and the
// intent that abandoned it (less its objects, shared by its chunks).
// bad, when set, is how the destination last listed it when it failed
// authentication there (KindShownDamaged).
type abandonedChunk struct {
	obj Object
	in  *Intent
	bad shownBad
}

// shownBad is a chunk as the destination listed it when it failed
// authentication: its size and modification time, the seq of the
// record that says so (0: none), how many records say it failed, and
// when the copy that wrote the last of them read it (zero: not said).
type shownBad struct {
	bytes int64
	mod   time.Time
	seq   int64
	fails int
	at    time.Time
}

// maxShownFails is how many times a chunk of pending that no manifest
// names may fail authentication at the destination before a copy reads
// it again only after a rest (ShownRest; its first read, and one more
// once the destination lists it changed): a site that lists it with a
// new time (or size) at every listing had every copy read it again, for
// ever. Its memory ends as any
// abandoned chunk's does (a new intent naming it, a confirmation); a copy
// whose manifest names it again reads it as one of its own.
const maxShownFails = 2

// spent is whether the chunk failed maxShownFails times: read again,
// however the destination lists it, only once it has rested (resting).
func (b shownBad) spent() bool { return b.fails >= maxShownFails }

// ShownRest is how long a chunk of pending that no manifest names, once
// it failed maxShownFails times at the destination, rests before a copy
// reads it again (the destination listing it changed), doubling with
// each failure after (up to maxRestDoublings times): one that turns up
// intact later is confirmed after all, and a site that lists it changed
// at every listing has it read some ten times in a year, not at every
// copy. Copies read at most maxLateReads of them each.
const ShownRest = 24 * time.Hour

// maxRestDoublings caps the doublings of ShownRest: 64 days.
const maxRestDoublings = 6

// maxLateReads bounds the chunks a copy reads that had failed
// maxShownFails times (within MaxReshownReads, which counts them too);
// tests set it lower.
var maxLateReads = 64

// resting is whether the chunk failed maxShownFails times, and its rest
// (ShownRest, doubled with each failure after) since its last failure
// is not over by now. One whose failure says no time rests not.
func (b shownBad) resting(now time.Time) bool {
	if !b.spent() || b.at.IsZero() {
		return false
	}
	return now.Before(b.at.Add(ShownRest << min(b.fails-maxShownFails, maxRestDoublings)))
}

// same is whether a listing of size bytes, modified at mod, shows the
// object that failed, unchanged. A listing without a time tells nothing.
func (b shownBad) same(size int64, mod time.Time) bool {
	return b.seq != 0 && !mod.IsZero() && size == b.bytes && mod.Equal(b.mod)
}

type openIntent struct {
	seq int64
	in  Intent
}

type sumKey struct{ kind, dataset, site string }

func newView() *view {
	return &view{open: map[string]openIntent{}, sums: map[sumKey]*Summary{}, abandoned: map[sumKey]map[string]abandonedChunk{},
		dropped: map[sumKey]map[string]abandonedChunk{}, counted: map[sumKey]*countedWrites{}}
}

// ledgerKinds are the kinds a view reads.
var ledgerKinds = []string{KindIntent, KindTransfer, KindAbandoned, KindForgotten, KindShownDamaged, KindDiscarded}

// apply folds one record. An intent comes before the records that close
// it (it is appended before its objects are sent), so closing is a delete.
// An intent or confirmation that does not decode is an error, and the
// view is left as it was before the record.
func (v *view) apply(r Record) error {
	switch r.Kind {
	case KindIntent:
		var in Intent
		if err := r.decode(&in); err != nil {
			return err
		}
		v.open[in.ID] = openIntent{r.Seq, in}
		k := sumKey{orDataset(in.Kind), in.Dataset, in.Site}
		for _, o := range in.Objects {
			delete(v.abandoned[k], o.Key)
			delete(v.dropped[k], o.Key)
		}
	case KindTransfer:
		var e Entry
		if err := r.decode(&e); err != nil {
			return err
		}
		s := v.sum(sumKey{orDataset(e.Kind), e.Dataset, e.Site})
		s.ChunksSent += e.ChunksSent
		s.BytesConfirmed += e.BytesSent
		for _, p := range e.Partial {
			s.BytesPartial += p.Bytes
		}
		staging := e.Staging
		if e.Intent == "" {
			staging = ""
		}
		v.count(sumKey{orDataset(e.Kind), e.Dataset, e.Site}, e.Counted, staging)
		if e.ManifestSHA256 != "" {
			s.ManifestSHA256 = e.ManifestSHA256
		}
		k := sumKey{orDataset(e.Kind), e.Dataset, e.Site}
		for _, key := range e.Reappeared {
			delete(v.abandoned[k], key)
			delete(v.dropped[k], key)
		}
		delete(v.open, e.Intent)
	case KindAbandoned:
		var a Abandoned
		if json.Unmarshal(r.Payload, &a) == nil {
			v.abandon(a)
			delete(v.open, a.Intent)
		}
	case KindForgotten:
		var fg Forgotten
		if json.Unmarshal(r.Payload, &fg) == nil {
			v.drop(fg)
		}
	case KindShownDamaged:
		var sd ShownDamaged
		if json.Unmarshal(r.Payload, &sd) == nil {
			v.shownDamaged(sd, r.Seq)
		}
	case KindDiscarded:
		var d Discarded
		if json.Unmarshal(r.Payload, &d) == nil {
			v.uncount(sumKey{orDataset(d.Kind), d.Dataset, d.Site}, d.Writes)
		}
	}
	v.seq = max(v.seq, r.Seq)
	return nil
}

// abandon remembers the chunks an abandonment names, with the intent to
// confirm them under: the record's own, or (a record written before it
// kept them) its intent's, when still open.
func (v *view) abandon(a Abandoned) {
	in := &Intent{ID: a.Intent}
	chunks := a.Chunks
	switch {
	case a.Entry != nil:
		in.Entry = *a.Entry
	default:
		o, ok := v.open[a.Intent]
		if !ok {
			return
		}
		in.Entry = o.in.Entry
		missing := make(map[string]bool, len(a.Missing))
		for _, k := range a.Missing {
			missing[k] = true
		}
		chunks = nil
		for _, obj := range o.in.Objects {
			if obj.Chunk != nil && missing[obj.Key] {
				chunks = append(chunks, obj)
			}
		}
	}
	k := sumKey{orDataset(in.Kind), in.Dataset, in.Site}
	remember := func(obj Object) {
		ab := v.abandoned[k]
		if ab == nil {
			ab = map[string]abandonedChunk{}
			v.abandoned[k] = ab
		}
		ab[obj.Key] = abandonedChunk{obj: obj, in: in}
	}
	for _, obj := range chunks {
		if obj.Chunk != nil {
			remember(obj)
		}
	}
	// And the manifest, with its digest: a copy that finds that version
	// at the destination confirms it.
	if m := a.Manifest; m != nil && m.Chunk == nil && m.SHA256 != "" {
		remember(*m)
	}
}

// drop moves the chunks a KindForgotten record names from abandoned to
// dropped, as many as maxDropped leaves room for: the rest stay
// abandoned (a copy forgets no more than that room, so none are past it
// but in a race, or in records of a version that did not bound them).
func (v *view) drop(fg Forgotten) {
	k := sumKey{orDataset(fg.Kind), fg.Dataset, fg.Site}
	ab := v.abandoned[k]
	for _, key := range fg.Chunks {
		c, ok := ab[key]
		if !ok {
			continue
		}
		dr := v.dropped[k]
		if dr == nil {
			dr = map[string]abandonedChunk{}
			v.dropped[k] = dr
		}
		if _, ok := dr[key]; !ok && len(dr) >= maxDropped {
			continue
		}
		dr[key] = c
		delete(ab, key)
	}
}

// shownDamaged notes, on the chunks a KindShownDamaged record names that
// the view remembers (abandoned or dropped), how the destination listed
// them when they failed: it adds no chunk, so it is bounded as they are.
func (v *view) shownDamaged(sd ShownDamaged, seq int64) {
	k := sumKey{orDataset(sd.Kind), sd.Dataset, sd.Site}
	for _, it := range sd.Chunks {
		for _, m := range []map[string]abandonedChunk{v.abandoned[k], v.dropped[k]} {
			if c, ok := m[it.Key]; ok {
				c.bad = shownBad{bytes: it.Bytes, mod: it.ModTime, seq: max(seq, 1), fails: c.bad.fails + 1, at: sd.At}
				m[it.Key] = c
			}
		}
	}
}

// count remembers the writes a record of staging (countedAs) counted
// (Entry.Counted) for k, forgetting the oldest past maxCounted. A write
// counted again for the same staging keeps the most bytes counted of it;
// for another, the latest record's.
func (v *view) count(k sumKey, writes []CountedWrite, staging string) {
	if len(writes) == 0 {
		return
	}
	cw := v.counted[k]
	if cw == nil {
		cw = &countedWrites{bytes: map[string]countedAs{}}
		v.counted[k] = cw
	}
	for _, w := range writes {
		ref := countedRef(w.ID, w.Key)
		if c, ok := cw.bytes[ref]; ok {
			if c.staging == staging {
				w.Bytes = max(c.bytes, w.Bytes)
			}
			cw.bytes[ref] = countedAs{w.Bytes, staging}
			continue
		}
		cw.bytes[ref] = countedAs{w.Bytes, staging}
		cw.order = append(cw.order, ref)
		for len(cw.order) > maxCounted {
			delete(cw.bytes, cw.order[0])
			cw.order = cw.order[1:]
		}
	}
}

// uncount forgets, of the writes counted for k, those a reconcile
// removed (KindDiscarded).
func (v *view) uncount(k sumKey, writes []CountedWrite) {
	cw := v.counted[k]
	if cw == nil || len(writes) == 0 {
		return
	}
	for _, w := range writes {
		delete(cw.bytes, countedRef(w.ID, w.Key))
	}
	cw.order = slices.DeleteFunc(cw.order, func(ref string) bool { _, ok := cw.bytes[ref]; return !ok })
}

// countedWrites is a copy of the unfinished writes counted for dataset at
// site, of the entry kind given, with what was counted of each, by
// countedRef.
func (v *view) countedWrites(kind, dataset, site string) map[string]countedAs {
	cw := v.counted[sumKey{kind, dataset, site}]
	if cw == nil || len(cw.bytes) == 0 {
		return nil
	}
	out := make(map[string]countedAs, len(cw.bytes))
	for id, n := range cw.bytes {
		out[id] = n
	}
	return out
}

// droppedChunks is a copy of the chunks forgotten and unconfirmed for
// dataset at site, of the entry kind given, and how many more could be
// forgotten there.
func (v *view) droppedChunks(kind, dataset, site string) (map[string]abandonedChunk, int) {
	dr := v.dropped[sumKey{kind, dataset, site}]
	room := maxDropped - len(dr)
	if len(dr) == 0 {
		return nil, room
	}
	out := make(map[string]abandonedChunk, len(dr))
	for k, c := range dr {
		out[k] = c
	}
	return out, room
}

// abandonedChunks is a copy of the chunks abandoned and unconfirmed for
// dataset at site, of the entry kind given.
func (v *view) abandonedChunks(kind, dataset, site string) map[string]abandonedChunk {
	ab := v.abandoned[sumKey{kind, dataset, site}]
	if len(ab) == 0 {
		return nil
	}
	out := make(map[string]abandonedChunk, len(ab))
	for k, c := range ab {
		out[k] = c
	}
	return out
}

func (v *view) sum(k sumKey) *Summary {
	if s := v.sums[k]; s != nil {
		return s
	}
	s := &Summary{Kind: k.kind, Dataset: k.dataset, Site: k.site}
	v.sums[k] = s
	return s
}

// summaries is Summarize's answer: the confirmed totals with the open
// intents added, by dataset, site and kind.
func (v *view) summaries() []Summary {
	out := map[sumKey]Summary{}
	for k, s := range v.sums {
		out[k] = *s
	}
	for _, o := range v.open {
		k := sumKey{orDataset(o.in.Kind), o.in.Dataset, o.in.Site}
		s, ok := out[k]
		if !ok {
			s = Summary{Kind: k.kind, Dataset: k.dataset, Site: k.site}
		}
		s.OpenIntents++
		for _, obj := range o.in.Objects {
			s.BytesPending += obj.Bytes
		}
		out[k] = s
	}
	list := make([]Summary, 0, len(out))
	for _, s := range out {
		list = append(list, s)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].Dataset != list[j].Dataset {
			return list[i].Dataset < list[j].Dataset
		}
		if list[i].Site != list[j].Site {
			return list[i].Site < list[j].Site
		}
		return list[i].Kind < list[j].Kind
	})
	return list
}

// openIntents lists the open intents for dataset at site of the entry
// kind given, in the order they were recorded.
func (v *view) openIntents(kind, dataset, site string) []Intent {
	var os []openIntent
	for _, o := range v.open {
		if o.in.Dataset == dataset && o.in.Site == site && orDataset(o.in.Kind) == kind {
			os = append(os, o)
		}
	}
	sort.Slice(os, func(i, j int) bool { return os[i].seq < os[j].seq })
	out := make([]Intent, len(os))
	for i, o := range os {
		out[i] = o.in
	}
	return out
}

// fold reads all of a tenant's ledger records into a fresh view: what a
// plain Ledger costs on every call.
func fold(ctx context.Context, l Ledger, tenant string) (*view, error) {
	recs, err := l.Records(ctx, tenant, ledgerKinds...)
	if err != nil {
		return nil, err
	}
	v := newView()
	for _, r := range recs {
		if err := v.apply(r); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Index is a Ledger that keeps each tenant's view (open intents, totals)
// in memory and brings it up to date from the records appended since it
// last looked. Summarize and OpenIntents over an Index read only those,
// where over a plain Ledger they read every record the tenant has, each
// intent with its list of chunks, on every staging and every GET of the
// ledger. A ledger's records are never changed or removed, and a store
// that serves several servers gives records their seqs in the order they
// commit, so no record can appear behind one already read.
//
// Over the audit log (an AuditLedger whose store reads the log's head), a
// tenant's view is read only when the log's head changed since its last
// catch-up, and from the head as read then: neither a read with nothing
// written since nor one after other tenants' entries reads or counts again
// what was read before (see tenantView.catchUp).
type Index struct {
	SeqLedger

	// watch is the log's head, read before each catch-up when it is set:
	// each tenant's view keeps a copy with its own head.
	watch logWatch

	mu    sync.Mutex
	views map[string]*tenantView
}

type tenantView struct {
	mu sync.Mutex
	v  *view
	// watch is the log's head as read before this view's last catch-up;
	// through is the head's seq as read before the last that succeeded (0:
	// none): every record of the tenant's up to it is folded.
	watch   logWatch
	through int64
}

// NewIndex returns an Index over l.
func NewIndex(l SeqLedger) *Index {
	x := &Index{SeqLedger: l, views: map[string]*tenantView{}}
	switch a := l.(type) {
	case AuditLedger:
		x.watch = watchOf(a.Store)
	case *AuditLedger:
		x.watch = watchOf(a.Store)
	}
	return x
}

// with runs f on tenant's view, brought up to date, with the view locked.
// A record that does not decode is an error, every time it is read, as it
// is for a plain Ledger; the records before it stay folded.
func (x *Index) with(ctx context.Context, tenant string, f func(*view)) error {
	x.mu.Lock()
	tv := x.views[tenant]
	if tv == nil {
		tv = &tenantView{v: newView(), watch: x.watch}
		x.views[tenant] = tv
	}
	x.mu.Unlock()
	tv.mu.Lock()
	defer tv.mu.Unlock()
	if err := tv.catchUp(ctx, x.SeqLedger, tenant); err != nil {
		return err
	}
	f(tv.v)
	return nil
}

// catchUp folds the tenant's records appended since the last catch-up,
// read only when the log's head changed (logWatch.catchUp), after the
// last record folded or the head as read before the last catch-up,
// whichever is later, and up to the head as read now. Read after the
// tenant's last record, the store's
// gap check counted every entry written since, other tenants' too, on
// each read: milliseconds once some tens of thousands were. The read
// after a head begins after that head was read, so it returns every
// record of the tenant's up to it (a store gives seqs in the order
// entries commit), gap-checked as before: an entry deleted before it was
// read fails the read. A log rewound (it no longer holds a head read
// before: entries cut from its end, perhaps written again, or another log
// in its place) fails the catch-up (logWatch.notCut): folded afresh, the
// view dropped what was cut.
func (tv *tenantView) catchUp(ctx context.Context, l SeqLedger, tenant string) error {
	return tv.watch.catchUp(ctx, func(now logHead) error {
		after := max(tv.v.seq, tv.through)
		recs, err := l.RecordsAfter(ctx, tenant, after, ledgerKinds...)
		if err != nil {
			return err
		}
		if err := catchUp(now.within(recs), after, tv.v.apply); err != nil {
			return fmt.Errorf("tenant %s: %w", tenant, err)
		}
		tv.through = max(after, now.seq)
		return nil
	})
}

// catchUp folds recs, read after seq, with apply, in order. A record at or
// before the last one folded would be counted twice: it is an error, and
// what came before it stays folded. apply leaves its fold as it was when
// it fails.
func catchUp(recs []Record, seq int64, apply func(Record) error) error {
	for _, r := range recs {
		if r.Seq <= seq {
			return fmt.Errorf("ledger record %d after record %d: seqs must increase", r.Seq, seq)
		}
		if err := apply(r); err != nil {
			return err
		}
		seq = r.Seq
	}
	return nil
}

// viewOf is the tenant's view through an Index when l is one, else folded
// afresh, and f's answer from it.
func viewOf(ctx context.Context, l Ledger, tenant string, f func(*view)) error {
	if x, ok := l.(*Index); ok {
		return x.with(ctx, tenant, f)
	}
	v, err := fold(ctx, l, tenant)
	if err != nil {
		return err
	}
	f(v)
	return nil
}
