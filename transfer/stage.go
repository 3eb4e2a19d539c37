package transfer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/seal"
)

// KeySource returns a tenant's dataset key; dataset.TenantKeyrings is one.
// Keys belong to a tenant: the same name under another tenant is another key.
type KeySource interface {
	Get(tenant, name string) (seal.Key, error)
}

// Progress is told how many sealed bytes a staging will send and as they go.
// Implementations must be safe for concurrent Add calls.
type Progress interface {
	Start(label string, total int64)
	Add(n int64)
	Done()
}

// Stager moves sealed datasets to sites. The zero value is not usable: Law,
// Ledger and Keys are required.
type Stager struct {
	Law    Law
	Ledger Ledger
	Keys   KeySource
	// Open opens a store URL; dataset.OpenStore when nil.
	Open func(ctx context.Context, url string) (*dataset.Store, error)
	// Workers is how many chunks are copied at once; 4 when zero.
	Workers  int
	Progress Progress // optional
	// Now is the clock; time.Now when nil. A transfer happens today: the law
	// is asked as of the clock's UTC date, whatever date a query carries.
	Now func() time.Time
	// Batch bounds the objects (and bytes) of one intent; 64 objects and
	// 64 MiB when zero.
	Batch      int
	BatchBytes int64
	// MaxListed bounds the objects a listing of the dataset at the
	// destination may yield (dataset.ListBound of its chunks when zero).
	MaxListed int
}

// Request is one dataset to one site.
type Request struct {
	Dataset *catalog.Dataset
	Site    *catalog.Site
	// Tenant owns the dataset: its key is the tenant's, and at the site it
	// lands under SitePrefix, the tenant's own part of the site's store.
	Tenant     string
	SitePrefix string
	// Query carries whatever else the law needs (organisation, job); its
	// AsOf is replaced: the law is asked about every day it is now
	// somewhere on Earth (Days), and the ledger records the UTC day.
	Query policy.Query
	RunID string
}

// Result is what a staging did; Entry totals what crossed in it.
type Result struct {
	Entry
	Skipped    int // chunks already at the site and intact
	Damaged    int // chunks at the site that failed authentication and were sent again
	Reconciled int // objects of earlier, interrupted stagings found at the site and confirmed
	Decision   policy.Decision
}

func (s *Stager) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// listBound is how many objects a listing at a destination of a dataset
// version of that many chunks may yield.
func (s *Stager) listBound(chunks int) int {
	if s.MaxListed > 0 {
		return s.MaxListed
	}
	return dataset.ListBound(chunks)
}

// workers is how many objects a copy reads or writes at once.
func (s *Stager) workers() int {
	if s.Workers <= 0 {
		return 4
	}
	return s.Workers
}

func (s *Stager) open(ctx context.Context, url string) (*dataset.Store, error) {
	if s.Open != nil {
		return s.Open(ctx, url)
	}
	return dataset.OpenStore(ctx, url)
}

// Stage asks the law as of today, then copies the dataset's chunks that the
// site lacks (or holds damaged) and its manifest to the site's store. Each
// batch of objects is recorded in the ledger as an intent before it is sent
// and confirmed once it reads back intact at the site; intents left open by
// an interrupted staging are reconciled against the site first. A denial
// returns *DeniedError and touches no store; the law is asked again once
// the home store's manifest is read, about the contents it names
// (CopyRequest.Contents), and a denial then has read that manifest only.
// Stage is idempotent: running it again on a staged dataset sends nothing.
func (s *Stager) Stage(ctx context.Context, req Request) (*Result, error) {
	ds, site := req.Dataset, req.Site
	if ds == nil || site == nil {
		return nil, errors.New("stage: dataset and site are required")
	}
	name := ds.Metadata.Name
	if ds.Spec.Store == "" {
		return nil, fmt.Errorf("stage %s: dataset has no spec.store (add it with `meridian dataset add`)", name)
	}
	if site.Spec.Store == "" {
		return nil, fmt.Errorf("stage %s: site %s has no spec.store to receive data", name, site.Metadata.Name)
	}
	if s.Law == nil || s.Ledger == nil || s.Keys == nil {
		return nil, errors.New("stage: Stager needs Law, Ledger and Keys")
	}
	at := s.now()
	law := pin(s.Law)
	q, ds, dec, err := judgedAt(law, req.Query, ds, site, at)
	if err != nil {
		return nil, err
	}
	key, err := s.Keys.Get(req.Tenant, name)
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", name, err)
	}
	sealer, err := seal.New(key, name)
	if err != nil {
		return nil, err
	}
	src, err := s.open(ctx, ds.Spec.Store)
	if err != nil {
		return nil, fmt.Errorf("stage %s: home store: %w", name, err)
	}
	defer src.Close()
	base, err := s.open(ctx, site.Spec.Store)
	if err != nil {
		return nil, fmt.Errorf("stage %s: site %s store: %w", name, site.Metadata.Name, err)
	}
	dst := base.Sub(req.SitePrefix)
	defer dst.Close()
	// entryOf is the ledger's entry for a decision of law on asOf: the
	// rules it lists as evaluated are law's, the decision's own.
	entryOf := func(law Law, dec policy.Decision, asOf catalog.Date) Entry {
		return Entry{Kind: KindDataset, Dataset: name, Site: site.Metadata.Name, From: fromCountry(dec, ds), To: site.Spec.Country,
			Basis: basisFor(dec, name), Rules: ruleIDs(dec), Evaluated: evaluatedRules(law, asOf), AsOf: asOf.String(), RunID: req.RunID,
			Organization: orgName(q.Org), Origin: ds.Spec.Origin, Classification: ds.Spec.Classification, Subjects: ds.Spec.Subjects,
			Registration: q.Registration(ds), Group: recordedGroup(q)}
	}
	// A staging that runs on until another day begins somewhere on Earth
	// (or past midnight UTC) moves the rest on days the law may judge
	// otherwise (a rule in force from that day): it is asked again, about
	// each day of then, and what moves then is recorded as of its UTC day.
	judge := func(at time.Time) (Entry, error) {
		law := pin(s.Law) // the law in force now, which may be a newer revision
		var err error
		if q, dec, err = judgedOn(law, q, ds, site, at); err != nil {
			return Entry{}, err
		}
		return entryOf(law, dec, q.AsOf), nil
	}
	// What the staging reads is what it sends, and whose people it
	// counts: contents swapped in the store under the same registration
	// (the document unchanged) are other people. The law is asked again
	// with the registration as this staging sends it (StagedRegistration),
	// before anything moves; each record names it.
	contents := func(digest string) (Entry, error) {
		regs := make(map[string]string, len(q.Registrations)+1)
		maps.Copy(regs, q.Registrations)
		regs[name] = policy.StagedRegistration(q.Registration(ds), digest)
		q.Registrations = regs
		return judge(at)
	}
	res, err := s.Copy(ctx, CopyRequest{Name: name, Sealer: sealer, Src: src, Dst: dst, Tenant: req.Tenant, Entry: entryOf(law, dec, q.AsOf), Judge: judge,
		Contents: contents, JudgedAt: at})
	if err != nil {
		return nil, fmt.Errorf("stage %s to %s: %w", name, site.Metadata.Name, err)
	}
	res.Decision = dec
	return res, nil
}

// storeSites is the sites whose stores say where a dataset is: the query's
// (the catalog's) and the destination as this staging reaches it.
// judgedBy asks law whether ds may move to site on q.AsOf, in
// query q: a *DeniedError when not. The law judges where the data leaves
// from by the dataset's location; the bytes leave from its store. A store
// in a site's store is at that site, whatever the document declares: a
// contradicting location is refused before anything is read, and the law
// is asked about the site. It answers q and ds so located (ds in place of
// itself in q's datasets) and the decision.
func judgedBy(law Law, q policy.Query, ds *catalog.Dataset, site *catalog.Site) (policy.Query, *catalog.Dataset, policy.Decision, error) {
	located, err := catalog.Located(ds, storeSites(q, site))
	if err != nil {
		return q, ds, policy.Decision{}, fmt.Errorf("stage %s: %w", ds.Metadata.Name, err)
	}
	if len(q.Datasets) == 0 {
		q.Datasets = []*catalog.Dataset{located}
	} else if located != ds {
		q.Datasets = append([]*catalog.Dataset(nil), q.Datasets...)
		for i, d := range q.Datasets {
			if d == ds {
				q.Datasets[i] = located
			}
		}
	}
	dec := law.EvaluateTransfer(q, located, site.Spec.Country)
	if !lawAllows(dec) {
		return q, located, dec, &DeniedError{Dataset: ds.Metadata.Name, From: located.Spec.Origin, To: site.Spec.Country, AsOf: q.AsOf, Denials: dec.Denials}
	}
	return q, located, dec, nil
}

// Allows asks the law in force, as a staging of ds to site does, whether
// ds may move there now in query q (ds among q.Datasets, or none; q.AsOf
// is replaced by each day it is now somewhere on Earth, as a staging's
// is): a *DeniedError when not.
func (s *Stager) Allows(q policy.Query, ds *catalog.Dataset, site *catalog.Site) error {
	if s.Law == nil {
		return errors.New("stage: Stager needs Law, Ledger and Keys")
	}
	_, _, _, err := judgedAt(pin(s.Law), q, ds, site, s.now())
	return err
}

// Judged asks the law in force, as a staging of ds to site at the instant
// at does (Stager.Stage, Allows), whether ds may move there, for a dry run
// to answer what the staging would: law pinned (Pinner) so that every day
// is judged by one revision of it, the dataset placed where its store puts
// it among q's sites and site (a location its store contradicts is an
// error), on each day at falls on somewhere on Earth (judgedAt). With at
// zero (a dry run asked about another date), q.AsOf alone is judged. It
// returns the query (as of the day judged: the UTC day of at, or the day
// that refused) and the decision; a refusal is a *DeniedError, its
// denials noting the day that refused.
func Judged(law Law, q policy.Query, ds *catalog.Dataset, site *catalog.Site, at time.Time) (policy.Query, policy.Decision, error) {
	law = pin(law)
	var dec policy.Decision
	var err error
	if at.IsZero() {
		q, _, dec, err = judgedBy(law, q, ds, site)
	} else {
		q, _, dec, err = judgedAt(law, q, ds, site, at)
	}
	return q, dec, err
}

// judgedAt is judgedBy for a transfer at the instant at: the law must
// allow it on every day at falls on somewhere on Earth (Days), not only
// on the UTC day, for a rule is in force in a time zone from the moment
// its day begins there. The first refusal is returned, as of the day that
// refused; else the query and decision as of the UTC day, which the
// ledger records.
func judgedAt(law Law, q policy.Query, ds *catalog.Dataset, site *catalog.Site, at time.Time) (policy.Query, *catalog.Dataset, policy.Decision, error) {
	today := Today(at)
	var out policy.Query
	var located *catalog.Dataset
	var dec policy.Decision
	for _, day := range Days(at) {
		q.AsOf = day
		dq, dl, d, err := judgedBy(law, q, ds, site)
		if err != nil {
			var de *DeniedError
			if errors.As(err, &de) {
				de.Denials = Zoned(de.Denials, day, today)
			}
			return dq, dl, d, err
		}
		if day.Equal(today.Time) {
			out, located, dec = dq, dl, d
		}
	}
	return out, located, dec, nil
}

// judgedOn is judgedAt for a query and dataset already located (a
// staging's, asked again during its copy): the query as of the UTC day
// of at and its decision, or the first refusal.
func judgedOn(law Law, q policy.Query, ds *catalog.Dataset, site *catalog.Site, at time.Time) (policy.Query, policy.Decision, error) {
	today := Today(at)
	var out policy.Decision
	for _, day := range Days(at) {
		q.AsOf = day
		dec := law.EvaluateTransfer(q, ds, site.Spec.Country)
		if !lawAllows(dec) {
			return q, dec, &DeniedError{Dataset: ds.Metadata.Name, From: ds.Spec.Origin, To: site.Spec.Country, AsOf: day, Denials: Zoned(dec.Denials, day, today)}
		}
		if day.Equal(today.Time) {
			out = dec
		}
	}
	q.AsOf = today
	return q, out, nil
}

func storeSites(q policy.Query, dst *catalog.Site) []*catalog.Site {
	out := make([]*catalog.Site, 0, len(q.Sites)+1)
	for _, s := range q.Sites {
		out = append(out, s)
	}
	return append(out, dst)
}

// lawAllows is whether dec lets the data move: allowed, with no denial.
// A decision that says both is not one the law could give, and a
// transfer fails closed on it.
func lawAllows(dec policy.Decision) bool { return dec.Allowed && len(dec.Denials) == 0 }

// CopyRequest copies one sealed dataset (a staged dataset or a sealed
// checkpoint) from one store to another, through the ledger. The caller has
// asked the law; Entry says what to record (kind, dataset, site, countries,
// basis, rules, date, run).
type CopyRequest struct {
	Name     string
	Sealer   *seal.Sealer
	Src, Dst *dataset.Store
	Tenant   string
	Entry    Entry
	// Pin, when set, is the hex SHA-256 the source's manifest must have
	// (a checkpoint's, as its report recorded it): another version under
	// the same name, which authenticates as well, is refused before
	// anything is sent.
	Pin string
	// Judge, when set, asks the law again when the copy reaches a UTC day
	// other than the one Entry.AsOf names, or a day begins somewhere on
	// Earth that was not begun at JudgedAt (Latest), before anything more
	// moves: it judges the copy at the instant at, on each of Days(at),
	// and returns the Entry to record from then on (as of Today(at)), or
	// the refusal (*DeniedError) that stops the copy. Without it, a copy
	// that reaches another day than the ones it began on stops there
	// (ErrDayChanged, a passing failure), so that its caller asks the law
	// about the new day before the rest is sent.
	Judge func(at time.Time) (Entry, error)
	// JudgedAt is the instant the law was asked about Entry at: the copy
	// is judged again once a day begins anywhere that had not begun then.
	// Zero: only Entry.AsOf is known judged, and a copy that finds a later
	// day begun somewhere is judged again before its first object.
	JudgedAt time.Time
	// Contents, when set, is given the identity of the contents the copy
	// read (ContentsDigest of its manifest) before anything is sent: it
	// returns the Entry to record, the law asked again about those
	// contents, or the refusal (*DeniedError) that stops the copy.
	Contents func(digest string) (Entry, error)
}

// ErrDayChanged stops a copy that reached a day the law was not asked
// about. The objects sent before stay recorded; the caller asks the law
// again, for the new day, and copies the rest.
var ErrDayChanged = errors.New("the day changed during the copy and the law was not asked about the new day")

// Copy sends what Dst lacks of the sealed dataset in Src, batch by batch,
// each batch an intent in the ledger before it is sent and a confirmation
// after it reads back intact; open intents of earlier copies to the same
// place are reconciled first, and chunks already at Dst are authenticated
// before they count as there.
func (s *Stager) Copy(ctx context.Context, cr CopyRequest) (*Result, error) {
	name := cr.Name
	rawManifest, err := readManifestObject(ctx, cr.Src, dataset.ManifestKey(name), dataset.MaxManifestBytes)
	if err != nil {
		return nil, fmt.Errorf("read manifest from the source store: %w", err)
	}
	if err := dataset.CheckPin(name, rawManifest, cr.Pin); err != nil {
		return nil, fmt.Errorf("the source store: %w", err)
	}
	m, err := dataset.ParseManifest(rawManifest, cr.Sealer)
	if err != nil {
		return nil, err
	}
	if m.Dataset != name {
		return nil, fmt.Errorf("manifest names dataset %q", m.Dataset)
	}
	staging := newID()
	e := cr.Entry
	chunks := m.UniqueChunks()
	if cr.Contents != nil {
		if e, err = cr.Contents(ContentsDigest(chunks)); err != nil {
			return nil, err
		}
	}
	e.Staging = staging
	e.Chunks, e.Bytes = len(chunks), m.TotalBytes()
	now := s.now()
	c := &copier{s: s, cr: cr, e: e, day: dayOf(now), last: Latest(now).String(), chunks: chunks, staleAge: time.Hour}
	if cr.Judge != nil {
		// The days the law was asked about: a copy begun after midnight,
		// or after another day began east of UTC, asks again before its
		// first object.
		c.day, c.last = e.AsOf, e.AsOf
		if !cr.JudgedAt.IsZero() {
			c.last = Latest(cr.JudgedAt).String()
		}
	}
	reconciled, err := c.reconcile(ctx)
	if err != nil {
		return nil, err
	}
	// Temporary objects of a copy killed more than an hour ago are
	// garbage: the listing removes them (unless the reconcile took its
	// listing before, and removed them then), and its uploads go after
	// the reconcile has counted their parts.
	if _, err := c.scan(ctx, nil); err != nil {
		return nil, err
	}
	if _, err := dataset.AbortStaleUploads(ctx, cr.Dst, name, c.staleAge, s.listBound(len(chunks))); err != nil {
		return nil, err
	}
	missing, damaged, err := c.missing(ctx, chunks)
	if err != nil {
		return nil, err
	}
	reconciled += c.reappeared
	var total int64
	for _, o := range missing {
		total += o.Bytes
	}
	if s.Progress != nil {
		s.Progress.Start(fmt.Sprintf("%s → %s", name, e.Site), total)
		defer s.Progress.Done()
	}
	var sentChunks int
	var sentBytes int64
	for _, batch := range c.batches(missing) {
		n, err := c.send(ctx, batch, nil, nil)
		if err != nil {
			return nil, err
		}
		sentChunks += len(batch)
		sentBytes += n
	}
	// The manifest goes last, so a site never holds a manifest whose chunks
	// are not all there; an identical one already there is not sent again.
	// It is compared as it is read, so a site's object claiming any size
	// costs no buffer of that size.
	// Its intent records its digest, so that a reconcile after a cut
	// tells it from another version already there.
	pin := hexSHA256(rawManifest)
	same, err := sameManifest(ctx, cr.Dst, dataset.ManifestKey(name), rawManifest)
	final := []Object{}
	if err != nil || !same {
		final = append(final, Object{Key: dataset.ManifestKey(name), Bytes: int64(len(rawManifest)), SHA256: pin})
	} else if p, ok := c.pending[dataset.ManifestKey(name)]; ok && p.obj.SHA256 == pin && p.obj.Bytes == int64(len(rawManifest)) {
		// This version, recorded as abandoned (not there when a
		// reconcile looked), is there after all: it crossed, and is
		// confirmed (Reappeared) rather than skipped unrecorded.
		n, err := c.confirmPending(ctx, []Object{p.obj})
		if err != nil {
			return nil, err
		}
		reconciled += n
	}
	totals := &Totals{ChunksSent: sentChunks, BytesSent: sentBytes, Skipped: len(chunks) - len(missing), Damaged: damaged, Reconciled: reconciled}
	if _, err := c.send(ctx, final, func(e *Entry) {
		c.recMu.Lock()
		early := c.early
		c.recMu.Unlock()
		totals.BytesSent = sentBytes + e.BytesSent + early
		e.Complete, e.Totals, e.ManifestSHA256 = true, totals, pin
	}, rawManifest); err != nil {
		return nil, err
	}
	out := c.e
	out.ChunksSent, out.BytesSent = sentChunks, totals.BytesSent
	out.Complete, out.Totals, out.ManifestSHA256 = true, totals, pin
	return &Result{Entry: out, Skipped: totals.Skipped, Damaged: damaged, Reconciled: reconciled}, nil
}

// ContentsDigest identifies the contents of a dataset version by its
// chunks: a digest of their ids (keyed hashes of their plaintext, which
// a chunk read must match), sorted, each once. The same data added again
// under the same key has the same one, whatever its files are called;
// any chunk added, removed or changed gives another.
func ContentsDigest(chunks []dataset.ChunkRef) string {
	ids := make([]seal.ID, 0, len(chunks))
	for _, c := range chunks {
		ids = append(ids, c.ID)
	}
	slices.SortFunc(ids, func(a, b seal.ID) int { return bytes.Compare(a[:], b[:]) })
	ids = slices.Compact(ids)
	h := sha256.New()
	for _, id := range ids {
		h.Write(id[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Totals sum a whole staging, on its completing record.
type Totals struct {
	ChunksSent int   `json:"chunksSent"`
	BytesSent  int64 `json:"bytesSent"`
	Skipped    int   `json:"skipped"`
	Damaged    int   `json:"damaged,omitempty"`
	Reconciled int   `json:"reconciled,omitempty"`
}

// copier is one Copy's state.
type copier struct {
	s  *Stager
	cr CopyRequest
	e  Entry
	// day is the UTC date (catalog.DateLayout) the law judged the copy
	// for, and last the latest date begun somewhere on Earth then
	// (Latest): nothing is sent on another UTC day, or once a later day
	// has begun somewhere, before the law is asked again.
	day, last string
	// pending holds the chunks the ledger records as abandoned (never
	// having arrived) and unconfirmed, by key, with their intent: those
	// abandoned before this copy, as its reconcile read them, and by its
	// reconcile. reappeared counts those found at the destination after
	// all, and confirmed.
	pending    map[string]abandonedChunk
	reappeared int
	// chunks are the manifest's chunks, whose presence at the destination
	// the copy's listing reports; staleAge, when positive, is how old a
	// temporary object there must be for the listing to remove it.
	chunks   []dataset.ChunkRef
	staleAge time.Duration
	// folder is what the one listing of the dataset's folder at the
	// destination found (scan), once it is taken.
	folder *dataset.Folder
	// named is the keys of the manifest's chunks (manifestChunks), once
	// built.
	named map[string]bool
	// rereads and rereadBytes count what the copy read of the chunks of
	// pending the manifest does not name, against MaxReshownReads; judged
	// holds those of them it found damaged, or left unread as listed as
	// they failed, so that it reads none twice.
	rereads     int
	rereadBytes int64
	judged      map[string]bool
	// lateReads counts the chunks of pending the copy read that had
	// failed maxShownFails times, against maxLateReads.
	lateReads int
	// counted is the unfinished writes at the destination that records
	// counted (Entry.Counted), by countedRef, with what was counted of
	// each.
	counted map[string]countedAs
	// early is the bytes crossedNow recorded, and earlyCounted the
	// writes its records named (by object key), under recMu: the failed
	// batch's record names them again (settle), once every write of the
	// batch has returned.
	recMu        sync.Mutex
	early        int64
	earlyCounted map[string]CountedWrite
}

// reread is whether the copy may read o, a chunk of pending the manifest
// does not name, within MaxReshownReads and MaxReshownBytes, and counts
// it if so.
func (c *copier) reread(o Object) bool {
	if c.rereads >= maxReshownReads || c.rereadBytes+o.Bytes > maxReshownBytes {
		return false
	}
	c.rereads++
	c.rereadBytes += o.Bytes
	return true
}

// lateChance is whether the copy may read a chunk of pending the
// manifest does not name that failed as bad says: yes unless it failed
// maxShownFails times, and then only once its rest is over (resting) and
// within maxLateReads, which it counts it against.
func (c *copier) lateChance(bad shownBad) bool {
	if !bad.spent() {
		return true
	}
	if bad.resting(c.s.now()) || c.lateReads >= maxLateReads {
		return false
	}
	c.lateReads++
	return true
}

// judge notes that the copy found key damaged, or left it unread as
// listed as it failed.
func (c *copier) judge(key string) {
	if c.judged == nil {
		c.judged = map[string]bool{}
	}
	c.judged[key] = true
}

// scan lists the dataset's folder at the destination, once for the whole
// copy: the reconcile takes it with the objects whose unfinished writes it
// counts (want), or the copy after it without. Every later call returns
// the first's findings. Nothing the copy does between the two changes them:
// the reconcile removes only the unfinished writes it was given, and no
// other staging writes there meanwhile (stagings to one site store take
// turns under its lease).
func (c *copier) scan(ctx context.Context, want func(key string) bool) (*dataset.Folder, error) {
	if c.folder != nil {
		return c.folder, nil
	}
	f, err := dataset.ScanFolder(ctx, c.cr.Dst, c.cr.Name, dataset.FolderScan{
		Chunks: c.chunks, Timed: c.pendingChunks(), Want: want, StaleAge: c.staleAge, Limit: c.s.listBound(c.e.Chunks),
	})
	if err != nil {
		return nil, err
	}
	c.folder = f
	return f, nil
}

// pendingChunks is the chunks of c.pending (abandoned or forgotten, and
// unconfirmed), for the listing to look for as well as the manifest's:
// no reconcile reads a forgotten one again, and a site that hid one from
// the reconciles and lists it once no manifest names it would otherwise
// hold its bytes with no record counting them. They are as many as
// c.pending, already in memory.
func (c *copier) pendingChunks() []dataset.ChunkRef {
	var out []dataset.ChunkRef
	for key, p := range c.pending {
		if p.obj.Chunk != nil && key == dataset.ChunkKey(c.cr.Name, p.obj.Chunk.ID) {
			out = append(out, *p.obj.Chunk)
		}
	}
	return out
}

// lawful makes sure the law was asked about every day it is now somewhere
// before more is sent: on another UTC day than c.day, or once a day after
// c.last has begun somewhere, it asks cr.Judge again and records what
// moves from then on as of today, or stops the copy.
func (c *copier) lawful() error {
	now := c.s.now()
	if err := c.sameDay(now); err == nil || c.cr.Judge == nil {
		return err
	}
	e, err := c.cr.Judge(now)
	if err != nil {
		return err
	}
	e.Staging, e.Chunks, e.Bytes = c.e.Staging, c.e.Chunks, c.e.Bytes
	c.e, c.day, c.last = e, dayOf(now), Latest(now).String()
	return nil
}

// sameDay is nil while now is on the UTC day the law judged the copy for
// (c.day) and no later day than c.last has begun anywhere, and
// ErrDayChanged after. The days that end west of UTC only lift rules, and
// do not call for a new judgement.
func (c *copier) sameDay(now time.Time) error {
	if today := dayOf(now); today != c.day {
		return fmt.Errorf("%w: judged for %s, and it is now %s", ErrDayChanged, c.day, today)
	}
	if latest := Latest(now).String(); latest != c.last {
		return fmt.Errorf("%w: judged while the latest day on Earth was %s, and %s has begun", ErrDayChanged, c.last, latest)
	}
	return nil
}

// dayOf is the UTC date of t, as an Entry's AsOf writes it.
func dayOf(t time.Time) string { return t.UTC().Format(catalog.DateLayout) }

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// missing lists the chunks Dst lacks or holds damaged (which it deletes
// first, so that the copy replaces them), and how many were damaged.
func (c *copier) missing(ctx context.Context, chunks []dataset.ChunkRef) ([]Object, int, error) {
	name := c.cr.Name
	// The destination is the site's: its listing is read within a bound,
	// and only the manifest's chunks are kept of it. It is the one listing
	// this copy takes of the dataset's folder there (scan).
	folder, err := c.scan(ctx, nil)
	if err != nil {
		return nil, 0, err
	}
	have := folder.Chunks
	var out, present, wrongSize []Object
	named := map[string]bool{} // the chunks of c.pending the manifest names
	for _, ch := range chunks {
		ch := ch
		o := Object{Key: dataset.ChunkKey(name, ch.ID), Bytes: int64(seal.SealedSize(int(ch.Size))), Chunk: &ch}
		if _, ok := c.pending[o.Key]; ok {
			named[o.Key] = true
		}
		size, ok := have[ch.ID]
		switch {
		case ok && size == o.Bytes:
			present = append(present, o)
		case ok:
			wrongSize = append(wrongSize, o)
		default:
			out = append(out, o)
		}
	}
	// So does one of c.pending that the manifest does not name, which the
	// listing shows: it is confirmed, but neither removed nor sent again.
	// Those are not the dataset's, and a site may list every one the
	// ledger remembers (up to maxDropped), damaged: reshown picks the few
	// this copy reads.
	others := c.reshown(folder, named)
	// A chunk at the site counts only once it authenticates: a byte flipped
	// by the host must not pass for "already there". Both are read in one
	// pass; the damaged ones the manifest names go (below), the others
	// stay, unconfirmed.
	checked := append(slices.Clip(present), others...)
	failed, err := c.each(ctx, checked, true, func(ctx context.Context, o Object, buf *[]byte) error {
		_, err := dataset.ReadChunk(ctx, c.cr.Dst, c.cr.Sealer, name, *o.Chunk, (*buf)[:0])
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	other := make(map[string]bool, len(others))
	for _, o := range others {
		other[o.Key] = true
	}
	var bad []Object
	for _, o := range failed {
		if !other[o.Key] {
			bad = append(bad, o)
		}
	}
	if err := c.confirmReappeared(ctx, checked, failed); err != nil {
		return nil, 0, err
	}
	var otherFailed []Object
	for _, o := range failed {
		if other[o.Key] {
			otherFailed = append(otherFailed, o)
		}
	}
	if err := c.shownDamaged(ctx, folder, otherFailed); err != nil {
		return nil, 0, err
	}
	// An object of the wrong length under a chunk's name is damaged too,
	// and goes before the intent that replaces it, as the others do: left
	// there, a copy cut before replacing it was reconciled as having sent
	// it, bytes that never left counted as crossed.
	bad = append(bad, wrongSize...)
	for _, o := range bad {
		if err := c.cr.Dst.Delete(ctx, o.Key); err != nil {
			return nil, 0, fmt.Errorf("remove damaged %s at the destination: %w", o.Key, err)
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, len(bad), nil
}

// MaxReshownReads and MaxReshownBytes bound what one copy reads of the
// chunks the ledger remembers as abandoned or forgotten, that the
// manifest does not name, and that the destination lists at their size:
// read to be confirmed if intact, they are not the dataset's, and a site
// could list up to 65,536 of them (maxDropped), of up to 8 MiB each,
// damaged, for every copy to read. One that failed is read again only
// once the destination lists it changed (KindShownDamaged), and once it
// has failed twice (maxShownFails) only after a rest (ShownRest) and
// within maxLateReads a copy, after the others; those never
// read go first, then those that failed longest ago. The rest wait for
// a later copy, unconfirmed. (A reconcile reads those abandoned, and
// not forgotten, that never failed, as before, to forget those not
// there; one that failed counts against the bound.)
const (
	MaxReshownReads = 1024
	MaxReshownBytes = 256 << 20
)

// maxReshownReads and maxReshownBytes are MaxReshownReads and
// MaxReshownBytes; tests set them lower.
var (
	maxReshownReads       = MaxReshownReads
	maxReshownBytes int64 = MaxReshownBytes
)

// reshown is the chunks of c.pending that the manifest does not name
// (named), that folder lists at their size, and that this copy reads
// (MaxReshownReads): none listed as it was when it last failed
// authentication there, nor one the reconcile read already, nor one
// that failed maxShownFails times and rests (resting); those that
// rested come last, at most maxLateReads of them.
func (c *copier) reshown(folder *dataset.Folder, named map[string]bool) []Object {
	type cand struct {
		o   Object
		seq int64 // of the record of its last failure; 0: none
	}
	// Those that failed maxShownFails times, and rested, come last.
	var cands, late []cand
	for _, key := range slices.Sorted(maps.Keys(c.pending)) {
		p := c.pending[key]
		o := p.obj
		if named[key] || c.judged[key] || o.Chunk == nil || key != dataset.ChunkKey(c.cr.Name, o.Chunk.ID) {
			continue
		}
		size, ok := folder.Chunks[o.Chunk.ID]
		if !ok || size != o.Bytes || o.Bytes != int64(seal.SealedSize(int(o.Chunk.Size))) {
			continue
		}
		if p.bad.same(size, folder.ModTimes[o.Chunk.ID]) || p.bad.resting(c.s.now()) {
			continue
		}
		if p.bad.spent() {
			late = append(late, cand{o, p.bad.seq})
			continue
		}
		cands = append(cands, cand{o, p.bad.seq})
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].seq < cands[j].seq })
	sort.SliceStable(late, func(i, j int) bool { return late[i].seq < late[j].seq })
	var out []Object
	for _, cd := range cands {
		if !c.reread(cd.o) {
			return out
		}
		out = append(out, cd.o)
	}
	for _, cd := range late {
		if c.lateReads >= maxLateReads || !c.reread(cd.o) {
			break
		}
		c.lateReads++
		out = append(out, cd.o)
	}
	return out
}

// shownDamaged records (KindShownDamaged) the chunks failed, of pending
// and not the manifest's, that failed authentication at the destination
// (or could not be read), as folder listed them: no later copy reads
// them again until the destination lists them changed, and none once one
// has failed maxShownFails times. One listed without a time is recorded
// too (nothing tells it changed, so each copy may read it, within
// MaxReshownReads, until it has failed that often); one not listed is
// not. Each record names up to forgetBatch of them.
func (c *copier) shownDamaged(ctx context.Context, folder *dataset.Folder, failed []Object) error {
	var items []ShownItem
	for _, o := range failed {
		size, ok := folder.Chunks[o.Chunk.ID]
		mod := folder.ModTimes[o.Chunk.ID]
		if !ok {
			continue
		}
		c.judge(o.Key)
		items = append(items, ShownItem{Key: o.Key, Bytes: size, ModTime: mod})
	}
	for len(items) > 0 {
		batch := items[:min(len(items), forgetBatch)]
		items = items[len(batch):]
		rec := ShownDamaged{Kind: orDataset(c.e.Kind), Dataset: c.cr.Name, Site: c.e.Site, Chunks: batch, At: c.s.now().UTC(),
			Reason: "listed at the destination at their size, and not authentic there: not read again until listed changed"}
		if err := c.s.Ledger.Append(ctx, c.cr.Tenant, KindShownDamaged, c.e.RunID, rec); err != nil {
			return fmt.Errorf("%w: %w", ErrLedger, err)
		}
	}
	return nil
}

// confirmReappeared confirms, as crossed, the chunks the ledger records
// as abandoned (not at the destination), by this copy's reconcile or an
// earlier one, that are there and intact after all (present, less bad):
// a site that hid them from the reconcile and lists them now would
// otherwise have them skipped as already there, bytes at the site that
// no confirmation counts.
func (c *copier) confirmReappeared(ctx context.Context, present, bad []Object) error {
	if len(c.pending) == 0 {
		return nil
	}
	isBad := make(map[string]bool, len(bad))
	for _, o := range bad {
		isBad[o.Key] = true
	}
	var back []Object
	for _, o := range present {
		if _, ok := c.pending[o.Key]; ok && !isBad[o.Key] {
			back = append(back, o)
		}
	}
	n, err := c.confirmPending(ctx, back)
	c.reappeared += n
	return err
}

// confirmPending records the chunks of c.pending found at the
// destination, intact, as crossed: one reconciled confirmation for each
// intent that abandoned them, naming them (Reappeared), so that no later
// look confirms them again. It returns how many it confirmed.
func (c *copier) confirmPending(ctx context.Context, found []Object) (int, error) {
	confs := map[string]*Entry{}
	var order []*Intent
	n := 0
	for _, o := range found {
		p, ok := c.pending[o.Key]
		if !ok {
			continue
		}
		conf := confs[p.in.ID]
		if conf == nil {
			e := p.in.Entry
			e.Intent, e.Reconciled = p.in.ID, true
			e.ChunksSent, e.BytesSent, e.Damaged = 0, 0, 0
			e.Complete, e.Totals, e.ManifestSHA256 = false, nil, ""
			e.Partial, e.Reappeared, e.Counted = nil, nil, nil
			conf = &e
			confs[p.in.ID] = conf
			order = append(order, p.in)
		}
		if p.obj.Chunk != nil {
			conf.ChunksSent++
		}
		conf.BytesSent += p.obj.Bytes
		conf.Reappeared = append(conf.Reappeared, o.Key)
	}
	for _, in := range order {
		if err := c.s.Ledger.Append(ctx, c.cr.Tenant, KindTransfer, in.RunID, *confs[in.ID]); err != nil {
			return n, fmt.Errorf("%w: %w", ErrLedger, err)
		}
		for _, key := range confs[in.ID].Reappeared {
			delete(c.pending, key)
			n++
		}
	}
	return n, nil
}

// each runs fn over objs with the stager's workers. With collect, it
// returns the objects for which fn failed with an authentication or
// not-found error, and any other error stops it; without, every error stops
// it.
func (c *copier) each(ctx context.Context, objs []Object, collect bool, fn func(context.Context, Object, *[]byte) error) ([]Object, error) {
	workers := c.s.workers()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var mu sync.Mutex
	var bad []Object
	work := make(chan Object)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for o := range work {
				err := fn(ctx, o, &buf)
				switch {
				case err == nil:
				case collect && (errors.Is(err, seal.ErrAuth) || errors.Is(err, seal.ErrIDMismatch) || errors.Is(err, dataset.ErrNotFound) || errors.Is(err, dataset.ErrNotRegular)):
					mu.Lock()
					bad = append(bad, o)
					mu.Unlock()
				default:
					cancel(err)
				}
			}
		}()
	}
feed:
	for _, o := range objs {
		select {
		case work <- o:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	sort.Slice(bad, func(i, j int) bool { return bad[i].Key < bad[j].Key })
	return bad, nil
}

func (c *copier) batches(objs []Object) [][]Object {
	max, maxBytes := c.s.Batch, c.s.BatchBytes
	if max <= 0 {
		max = 64
	}
	if maxBytes <= 0 {
		maxBytes = 64 << 20
	}
	var out [][]Object
	var cur []Object
	var n int64
	for _, o := range objs {
		if len(cur) > 0 && (len(cur) >= max || n+o.Bytes > maxBytes) {
			out = append(out, cur)
			cur, n = nil, 0
		}
		cur = append(cur, o)
		n += o.Bytes
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// send records the intent for batch, copies it, reads each object back and
// records the confirmation. manifest, when given, is the manifest's bytes
// (the one object that is not a chunk). It returns the bytes confirmed.
func (c *copier) send(ctx context.Context, batch []Object, finish func(*Entry), manifest []byte) (int64, error) {
	led := c.s.Ledger
	// Each batch is judged for the day it moves on.
	if err := c.lawful(); err != nil {
		return 0, err
	}
	in := Intent{ID: newID(), Entry: c.e, Objects: batch, Writers: c.s.workers()}
	if len(batch) > 0 {
		// Nothing is sent before its intent is on the ledger: a ledger
		// that cannot be written stops the copy here (ErrLedger, a passing
		// failure the caller tries again), never lets it go on unrecorded.
		if err := led.Append(ctx, c.cr.Tenant, KindIntent, c.e.RunID, in); err != nil {
			return 0, fmt.Errorf("%w: the intent of %d objects to %s: %w", ErrLedger, len(batch), c.e.Site, err)
		}
	}
	var sent atomic.Int64
	// delivered holds the objects the destination took (their put
	// returned), by key, with what reading them back found.
	var mu sync.Mutex
	delivered := map[string]arrival{}
	// crossed holds the bytes of the objects whose write failed after
	// the destination took part of them, by key (dataset.Crossed).
	crossed := map[string]int64{}
	_, err := c.each(ctx, batch, false, func(ctx context.Context, o Object, buf *[]byte) error {
		var data []byte
		if o.Chunk == nil {
			data = manifest
		} else {
			sealed, err := dataset.ReadObject(ctx, c.cr.Src, o.Key, o.Bytes)
			if err != nil {
				return fmt.Errorf("%w: %w", errSource, err)
			}
			if int64(len(sealed)) != o.Bytes {
				return fmt.Errorf("%w: chunk %s: %d bytes, want %d: %w", errSource, o.Chunk.ID, len(sealed), o.Bytes, seal.ErrAuth)
			}
			if *buf, err = c.cr.Sealer.Open((*buf)[:0], o.Chunk.ID, sealed); err != nil {
				return fmt.Errorf("%w: chunk %s: %w", errSource, o.Chunk.ID, err)
			}
			data = sealed
		}
		// A batch that runs past midnight sends nothing more: the rest
		// waits for the law's word on the new day (its intent stays open,
		// and the next copy confirms what arrived).
		if err := c.sameDay(c.s.now()); err != nil {
			return err
		}
		// A batch stopped (below: tries on no record) starts no other
		// write, whatever the order its workers see the stop in.
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		resent, err := putWithin(ctx, c.cr.Dst, o.Key, data, o.Chunk == nil)
		if err != nil {
			// Parts the destination took before the write failed and
			// was aborted crossed, and nothing there will show them; so
			// did every try of a body sent again (up to one per try).
			if n := min(dataset.Crossed(err), dataset.MaxCrossed(len(data))); n > 0 && !c.crossedNow(ctx, in, o.Key, n, true) {
				mu.Lock()
				crossed[o.Key] = n
				mu.Unlock()
			}
			return err
		}
		mark := func(a arrival) {
			mu.Lock()
			delivered[o.Key] = a
			mu.Unlock()
		}
		if n := min(resent, dataset.MaxCrossed(len(data))); n > 0 && !c.crossedNow(ctx, in, o.Key, n, false) {
			// Tries of the body the destination did not keep (answered
			// 5xx, or cut off, and sent again) crossed too, and nothing
			// there shows them. Left to the batch's record, they are on
			// none until then: the batch stops, so that no more than its
			// workers' writes can have tries on no record when a kill
			// (or the ledger failing on) leaves its intent open
			// (reconcile counts that many, Intent.Writers).
			mu.Lock()
			crossed[o.Key] = n
			mu.Unlock()
			mark(arrivalUnread)
			return fmt.Errorf("%w: the %d bytes of %s sent again to %s were not recorded", ErrLedger, n, o.Key, c.e.Site)
		}
		mark(arrivalUnread)
		readBack := dataset.SameObject
		if o.Chunk == nil {
			readBack = sameManifest
		}
		same, err := readBack(ctx, c.cr.Dst, o.Key, data)
		if err != nil {
			// A read cut short because the copy is stopping (cancelled,
			// or another object failed) says nothing of the object.
			if ctx.Err() == nil {
				mark(arrivalBad)
			}
			return fmt.Errorf("%w: read back %s: %w", errArrival, o.Key, err)
		}
		if !same {
			mark(arrivalBad)
			return fmt.Errorf("%s reads back different from what was sent: %w", o.Key, errArrival)
		}
		mark(arrivalIntact)
		sent.Add(int64(len(data)))
		if c.s.Progress != nil {
			c.s.Progress.Add(int64(len(data)))
		}
		return nil
	})
	if err != nil {
		return 0, c.settle(ctx, in, delivered, crossed, err)
	}
	if err := c.cr.Dst.Flush(); err != nil {
		// The batch reached the destination and read back as sent: its
		// bytes crossed, whatever becomes of them there.
		return 0, c.settle(ctx, in, delivered, crossed, err)
	}
	conf := c.e
	conf.Intent = in.ID
	for _, o := range batch {
		if o.Chunk != nil {
			conf.ChunksSent++
		}
	}
	conf.BytesSent = sent.Load()
	for _, o := range batch {
		if n := crossed[o.Key]; n > 0 {
			conf.Partial = append(conf.Partial, Partial{Key: o.Key, Bytes: n})
			conf.BytesSent += n
		}
	}
	if finish != nil {
		finish(&conf)
	}
	if len(batch) == 0 && finish == nil {
		return 0, nil
	}
	if len(batch) == 0 {
		conf.Intent = ""
	}
	if beforeConfirm != nil {
		beforeConfirm()
	}
	// A copy cancelled once the whole batch reached the destination (while
	// the store flushed it) confirms it all the same, within the grace a
	// failed batch has to record what the destination took.
	rctx, cancel := recordingContext(ctx)
	defer cancel()
	if err := led.Append(rctx, c.cr.Tenant, KindTransfer, c.e.RunID, conf); err != nil {
		// The intent stays open: the next copy to the site reconciles it
		// against what is there and confirms what arrived.
		return 0, fmt.Errorf("%w: data is at %s but its confirmation was not recorded: %w", ErrLedger, c.e.Site, err)
	}
	return conf.BytesSent, nil
}

// crossedNow records at once, on a record of its own (a confirmation
// of no intent, closing nothing), the n bytes of key that crossed to the
// destination and that nothing there shows (dataset.Crossed, the tries
// of a body sent again), and reports whether it did. Left to the batch's
// confirmation, they were known only to the copy until then: a copy
// killed before it (a site that stalls its answers to the arrival check
// holds that window open) had the reconcile find each object once, and
// the site could take every body up to minio.MaxRetry times, each try
// but the last unrecorded. Those it could not record settle counts, as
// before, the batch stopping (send). Of a write that failed
// (failed), the record names the temporary object it left behind, as
// settle does (leftBehind).
func (c *copier) crossedNow(ctx context.Context, in Intent, key string, n int64, failed bool) bool {
	rctx, cancel := recordingContext(ctx)
	defer cancel()
	e := in.Entry
	e.Intent, e.Reconciled = "", false
	e.ChunksSent, e.BytesSent, e.Damaged = 0, n, 0
	e.Complete, e.Totals, e.ManifestSHA256 = false, nil, ""
	e.Partial, e.Reappeared, e.Counted = []Partial{{Key: key, Bytes: n}}, nil, nil
	if failed {
		lctx, lcancel := context.WithTimeout(rctx, leftBehindTime)
		if w, ok := c.leftBehind(lctx, key, n); ok {
			e.Counted = []CountedWrite{w}
		}
		lcancel()
	}
	c.recMu.Lock()
	defer c.recMu.Unlock()
	if c.s.Ledger.Append(rctx, c.cr.Tenant, KindTransfer, in.RunID, e) != nil {
		return false
	}
	c.early += n
	for _, w := range e.Counted {
		if c.earlyCounted == nil {
			c.earlyCounted = map[string]CountedWrite{}
		}
		c.earlyCounted[w.Key] = w
	}
	return true
}

// settle records what a batch that failed (cause) delivered: the objects
// the destination took crossed, whether or not they read back as sent (a
// site that takes an object and then hides it or shows other bytes would
// otherwise have its reconcile find nothing, or count nothing, and every
// try send it again unrecorded). The objects it did not take go in a new
// intent first, which the next copy reconciles as it did the batch's (a
// write that failed may still have landed, whole or in part); then the
// batch's intent is confirmed with the objects taken, those that read
// back other than sent (or failed to read back, the copy not stopping)
// counted as damaged. The bytes of an object whose write failed after the
// destination took part of it, and lost it (crossed: an S3 upload's parts,
// aborted), crossed too: the confirmation counts them and names the
// object (Partial), which is not delivered and goes in the new intent;
// a temporary object such a write left there (its removal failed) is
// named as counted (Counted, leftBehind). It returns cause, with the
// ledger's failure if it could not record them (the batch's intent then
// stays open, and is reconciled as before).
func (c *copier) settle(ctx context.Context, in Intent, delivered map[string]arrival, crossed map[string]int64, cause error) error {
	var early []CountedWrite
	c.recMu.Lock()
	for _, o := range in.Objects {
		if w, ok := c.earlyCounted[o.Key]; ok {
			// Counted by its own record as its write returned, while
			// others of the batch were still being written: named again
			// here, after every one returned (countedAs), so that a
			// reconcile that finds it again counts it once.
			early = append(early, w)
		}
	}
	c.recMu.Unlock()
	// Recorded even when the destination took nothing: the batch's
	// intent left open would say its writes may have sent tries on no
	// record (reconcile), where every one returned and was recorded.
	// A copy cancelled midway (a shutdown) still records what the
	// destination took, within a short grace: left to the next copy's
	// reconcile, those objects are recorded as abandoned if the site
	// hides them from it, and bytes that crossed are on no confirmation.
	ctx, cancel := recordingContext(ctx)
	defer cancel()
	led := c.s.Ledger
	conf := in.Entry
	conf.Intent = in.ID
	conf.ChunksSent, conf.BytesSent, conf.Damaged = 0, 0, 0
	conf.Complete, conf.Totals, conf.ManifestSHA256 = false, nil, ""
	conf.Partial, conf.Reappeared, conf.Counted = nil, nil, early
	lctx, lcancel := context.WithTimeout(ctx, leftBehindTime)
	defer lcancel()
	var rest []Object
	for _, o := range in.Objects {
		a, ok := delivered[o.Key]
		if !ok {
			rest = append(rest, o)
			if n := crossed[o.Key]; n > 0 {
				conf.Partial = append(conf.Partial, Partial{Key: o.Key, Bytes: n})
				conf.BytesSent += n
				if w, ok := c.leftBehind(lctx, o.Key, n); ok {
					conf.Counted = append(conf.Counted, w)
				}
			}
			continue
		}
		if o.Chunk != nil {
			conf.ChunksSent++
		}
		if a == arrivalBad {
			conf.Damaged++
		}
		if n := crossed[o.Key]; n > 0 {
			// Its body's tries beyond the one the destination kept.
			conf.Partial = append(conf.Partial, Partial{Key: o.Key, Bytes: n})
			conf.BytesSent += n
		}
		if o.Chunk == nil && a == arrivalIntact && o.SHA256 != "" {
			// The manifest read back as sent: the version now at the
			// destination, as a reconcile that found it would record (its
			// intent follows every chunk's confirmation).
			conf.ManifestSHA256 = o.SHA256
		}
		conf.BytesSent += o.Bytes
	}
	if len(rest) > 0 {
		next := Intent{ID: newID(), Entry: in.Entry, Objects: rest, Unsent: true}
		if err := led.Append(ctx, c.cr.Tenant, KindIntent, in.RunID, next); err != nil {
			return fmt.Errorf("%w; %w: the intent of %d objects not sent to %s: %w", cause, ErrLedger, len(rest), in.Site, err)
		}
	}
	if err := led.Append(ctx, c.cr.Tenant, KindTransfer, in.RunID, conf); err != nil {
		return fmt.Errorf("%w; %w: %d objects (and %d in part) reached %s but their confirmation was not recorded: %w", cause, ErrLedger, len(delivered), len(conf.Partial), in.Site, err)
	}
	return cause
}

// maxLeftBehind bounds the temporary objects of one object leftBehind
// reads: a write leaves one, and a site that lists more of them has the
// rest counted again when found (an overcount, never an undercount).
const maxLeftBehind = 16

// leftBehindTime bounds leftBehind's listings for a failed batch, all
// together; past it nothing more is named, and a write found later is
// counted again.
const leftBehindTime = 2 * time.Second

// leftBehind finds the temporary object a file store's write of key
// left at the destination when it failed after n bytes of it crossed
// (counted on the failed batch's record) and its removal failed too: the
// next copy's reconcile of key, which goes in the intent of what was not
// sent, would find it and count its bytes again. It returns the write,
// to be named on the record that counts those bytes (Entry.Counted), and
// false when none is found. It takes one that holds exactly n bytes and
// that no record counted before (c.counted): should that be another
// write of key, left uncounted, the one taken instead of it holds as
// much, so what the ledger counts is never less than what crossed; and
// should the record not be written, nothing is named, and the reconcile
// counts the write found. It lists only the key's own temporary names,
// at most maxLeftBehind of them, within ctx (the failed batch's
// listings, leftBehindTime in all): the record waits on them, within a
// cancelled copy's grace (recordGrace), and a record lost would leave
// uncounted bytes that crossed and that no listing shows.
func (c *copier) leftBehind(ctx context.Context, key string, n int64) (CountedWrite, bool) {
	if ctx.Err() != nil {
		return CountedWrite{}, false
	}
	seen := 0
	for obj, err := range c.cr.Dst.List(ctx, key+".") {
		if err != nil {
			break
		}
		if seen++; seen > maxLeftBehind {
			break
		}
		id := dataset.TempWriteID(obj.Key)
		if target, ok := dataset.TempTarget(obj.Key); !ok || target != key || obj.Size != n {
			continue
		}
		if _, ok := c.counted[countedRef(id, key)]; ok {
			continue
		}
		return CountedWrite{ID: id, Bytes: n, Key: key}, true
	}
	return CountedWrite{}, false
}

// ManifestReadTime bounds the whole of one read of a manifest from a
// store (the source's, or the site's to compare or reconcile): a store's
// own bound on a read grows with the size the store declares, at
// dataset.MinReadRate, and a manifest may be up to
// dataset.MaxManifestBytes, so a store that declared that size and
// trickled bytes at that rate held one read, and the copy, for some four
// and a half hours. A manifest is small (some bytes a file and a chunk):
// ten minutes reads even one of the largest size at 1.8 MB a second, and
// one of 10 MiB at 18 KB a second. A read past it fails with
// dataset.ErrReadDeadline, a passing failure.
const ManifestReadTime = 10 * time.Minute

// manifestReadTime is ManifestReadTime; tests set it lower.
var manifestReadTime = ManifestReadTime

// manifestRead is ctx bounded by manifestReadTime, and the error a read
// cut by that bound returns.
func manifestRead(ctx context.Context, b *dataset.Store, key string) (context.Context, context.CancelFunc, error) {
	slow := fmt.Errorf("%s not read within %v: %w", key, manifestReadTime, dataset.ErrReadDeadline)
	mctx, cancel := context.WithTimeoutCause(ctx, manifestReadTime, slow)
	return mctx, cancel, slow
}

// readManifestObject is dataset.ReadObject of a manifest, within
// manifestReadTime.
func readManifestObject(ctx context.Context, b *dataset.Store, key string, limit int64) ([]byte, error) {
	mctx, cancel, slow := manifestRead(ctx, b, key)
	defer cancel()
	raw, err := dataset.ReadObject(mctx, b, key, limit)
	if err != nil && context.Cause(mctx) == slow {
		return nil, slow
	}
	return raw, err
}

// sameManifest is dataset.SameObject of a manifest, within
// manifestReadTime.
func sameManifest(ctx context.Context, b *dataset.Store, key string, want []byte) (bool, error) {
	mctx, cancel, slow := manifestRead(ctx, b, key)
	defer cancel()
	same, err := dataset.SameObject(mctx, b, key, want)
	if err != nil && context.Cause(mctx) == slow {
		return false, slow
	}
	return same, err
}

// writeTime bounds one object's write to the destination: the time a
// store's read of it may take (the store's idle bound, idle, and its size
// at dataset.MinReadRate), and for a manifest no more than its read
// (ManifestReadTime). A site's store that took a PUT's body a few bytes
// at a time held the copy, the site's lease and its connection for as
// long as the staging's own deadline, an hour, and a command-line
// staging without end. Tests set it lower.
var writeTime = func(idle time.Duration, n int, manifest bool) time.Duration {
	d := idle + time.Duration(float64(n)/float64(dataset.MinReadRate)*float64(time.Second))
	if manifest {
		d = min(d, ManifestReadTime)
	}
	return d
}

// ErrWriteDeadline means the destination took an object more slowly than
// writeTime allows, and its write was stopped: a passing failure.
var ErrWriteDeadline = errors.New("the destination took the object too slowly")

// putWithin is putObject within writeTime. A write it stops says so
// (ErrWriteDeadline), and keeps what the failed write says crossed
// (dataset.Crossed); one that succeeded returns the bytes it sent beyond
// the object (dataset.PutResent).
func putWithin(ctx context.Context, b *dataset.Store, key string, data []byte, manifest bool) (int64, error) {
	d := writeTime(b.ReadIdle(), len(data), manifest)
	slow := fmt.Errorf("%s not written within %v: %w", key, d, ErrWriteDeadline)
	wctx, cancel := context.WithTimeoutCause(ctx, d, slow)
	defer cancel()
	resent, err := putObject(wctx, b, key, data)
	if err != nil && ctx.Err() == nil && context.Cause(wctx) == slow {
		return 0, fmt.Errorf("%w: %w", slow, err)
	}
	return resent, err
}

// putObject writes an object to the destination (dataset.PutResent;
// tests replace it).
var putObject = dataset.PutResent

// beforeConfirm, when set (by tests), runs after a batch reached the
// destination whole and before its confirmation is recorded.
var beforeConfirm func()

// recordGrace bounds how long a cancelled copy goes on recording what the
// destination is known to have taken before it returns.
const recordGrace = 10 * time.Second

// recordingContext is ctx while it is live; once it is cancelled, a context
// that keeps its values, is not cancelled with it, and ends after
// recordGrace, for the ledger's records of what already crossed.
func recordingContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Err() == nil {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), recordGrace)
}

// arrival is what a copy found reading back an object the destination
// took.
type arrival int8

const (
	arrivalUnread arrival = iota // not read back: the copy stopped first
	arrivalIntact                // read back as sent
	arrivalBad                   // read back other than sent, or not at all
)

var (
	errSource  = errors.New("the source copy")
	errArrival = errors.New("arrival check failed")
)

// fromCountry is where the law says the data leaves from (its current
// location), or its origin when the decision does not say.
func fromCountry(dec policy.Decision, ds *catalog.Dataset) string {
	for _, t := range dec.Transfers {
		if t.Dataset == ds.Metadata.Name && t.From != "" {
			return t.From
		}
	}
	return ds.Spec.Origin
}

func basisFor(dec policy.Decision, name string) string {
	for _, t := range dec.Transfers {
		if t.Dataset == name && t.Basis != "" {
			return t.Basis
		}
	}
	return ""
}

func ruleIDs(dec policy.Decision) []string {
	seen := map[string]bool{}
	ids := []string{}
	for _, l := range [][]policy.Finding{dec.Denials, dec.Obligations, dec.Advisories} {
		for _, f := range l {
			if !seen[f.Rule] {
				seen[f.Rule] = true
				ids = append(ids, f.Rule)
			}
		}
	}
	sort.Strings(ids)
	return ids
}

// StageJob stages every dataset a job names to the site it will run at,
// in the job's order, stopping at the first refusal or failure. The run
// controller calls it before submitting the job. datasets maps names to
// resources (catalog.World.Datasets).
func (s *Stager) StageJob(ctx context.Context, job *catalog.TrainingJob, datasets map[string]*catalog.Dataset, site *catalog.Site, tenant, sitePrefix string, q policy.Query, runID string) ([]*Result, error) {
	var out []*Result
	for _, name := range job.Spec.Datasets {
		ds, ok := datasets[name]
		if !ok {
			return out, fmt.Errorf("job %s: dataset %q is not known", job.Metadata.Name, name)
		}
		r, err := s.Stage(ctx, Request{Dataset: ds, Site: site, Tenant: tenant, SitePrefix: sitePrefix, Query: q, RunID: runID})
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}
