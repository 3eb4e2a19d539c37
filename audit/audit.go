package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/internal/plainfile"
)

// Kinds of entry written by Meridian. Other packages may add their own.
const (
	KindPlan       = "plan"
	KindDecision   = "decision"
	KindState      = "state"
	KindCheckpoint = "checkpoint-move"
	KindTransfer   = "transfer"
)

// Record is an entry before it is sealed into the chain.
type Record struct {
	Kind  string
	RunID string
	// Tenant owns the entry (the run's or the dataset's tenant); empty for
	// server-wide entries. A tenant's view of the log shows other tenants'
	// entries only as hashes.
	Tenant string
	// Payload is JSON; Seal stores the bytes exactly as given.
	Payload json.RawMessage
}

// NewRecord marshals payload into a Record.
func NewRecord(kind, runID string, payload any) (Record, error) {
	if kind == "" {
		return Record{}, errors.New("audit: record kind is empty")
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return Record{}, fmt.Errorf("audit: marshal %s payload: %w", kind, err)
	}
	return Record{Kind: kind, RunID: runID, Payload: b}, nil
}

// Entry is one sealed record in the chain.
type Entry struct {
	Seq      int64           `json:"seq"`
	Time     string          `json:"time"`
	Kind     string          `json:"kind"`
	RunID    string          `json:"runId,omitempty"`
	Tenant   string          `json:"tenant,omitempty"`
	Payload  json.RawMessage `json:"payload,omitempty"`
	PrevHash string          `json:"prevHash"`
	Hash     string          `json:"hash"`
	// Version is the hash format: 1 for entries written before tenants were
	// part of the hash, 2 since. Verify recomputes each entry in its own
	// format, so old logs stay verifiable.
	Version int `json:"version,omitempty"`
	// Redacted is set on another tenant's entry in a tenant's view: only
	// Seq, Time, PrevHash and Hash are shown.
	Redacted bool `json:"redacted,omitempty"`
}

// CurrentVersion is the hash format Seal writes.
const CurrentVersion = 2

// Redact returns e as another tenant sees it: position and hashes only.
func (e Entry) Redact() Entry {
	return Entry{Seq: e.Seq, Time: e.Time, PrevHash: e.PrevHash, Hash: e.Hash, Version: e.Version, Redacted: true}
}

// Genesis is the PrevHash of the first entry.
var Genesis = hex.EncodeToString(make([]byte, sha256.Size))

// TimeLayout is how entry times are written (UTC).
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

// Chain seals records with a key. A nil or empty key means plain SHA-256,
// which detects accidents but not an attacker with database access.
type Chain struct {
	key []byte
	// unkeyed: the key the log was sealed with is not at hand, so Verify
	// checks only the order and the links, never an entry's own hash.
	unkeyed bool
}

// NewChain returns a Chain keyed with key.
func NewChain(key []byte) *Chain { return &Chain{key: append([]byte(nil), key...)} }

// NewUnkeyedChain returns a Chain for verifying a log whose key is not at
// hand (the key file is missing). It cannot seal, and its Verify checks
// what needs no key: entries in order, none missing, each naming the hash
// of the one before, and the anchor (VerifyAnchored). An entry's contents
// are not checked against its hash, so every result it reports OK says so
// in Result.Unproven and Result.Unkeyed.
func NewUnkeyedChain() *Chain { return &Chain{unkeyed: true} }

func (c *Chain) hasher() hash.Hash {
	if len(c.key) == 0 {
		return sha256.New()
	}
	return hmac.New(sha256.New, c.key)
}

// Seal turns rec into the entry that follows prev (nil for the first entry).
func (c *Chain) Seal(prev *Entry, t time.Time, rec Record) Entry {
	if c.unkeyed {
		// Sealing needs the key; a hash of another key's (or none) would
		// break the chain for good.
		panic("audit: Seal on a chain opened without its key")
	}
	e := Entry{Seq: 1, PrevHash: Genesis, Time: t.UTC().Format(TimeLayout), Kind: rec.Kind, RunID: rec.RunID,
		Tenant: rec.Tenant, Payload: rec.Payload, Version: CurrentVersion}
	if prev != nil {
		e.Seq = prev.Seq + 1
		e.PrevHash = prev.Hash
	}
	e.Hash = c.sum(e, e.Seq)
	return e
}

// Sealed reports whether e is as an append sealed it under c's key at its
// own seq, in a format Meridian writes: a row written into the database
// without the key, or an entry moved from another seq, is not. What a
// reader relies on without verifying the whole chain (the anchor key an
// entry records) must be sealed. A chain without its key cannot tell and
// reports false.
func (c *Chain) Sealed(e Entry) bool {
	return !c.unkeyed && formatProblem(e) == "" && c.sum(e, e.Seq) == e.Hash
}

// sum hashes e's canonical fields as if it were at position seq. Each field
// is length-prefixed so no two field lists hash alike. Version 2 adds the
// tenant; version 1 entries (Version 0 or 1) hash as they were written.
//
// The fields are written to the hash as they are, the payload without a
// copy: verification hashes every entry of the log while it holds its
// snapshot of the database, and copying each payload (twice) to hash it
// made the garbage collector's work most of that time.
func (c *Chain) sum(e Entry, seq int64) string {
	h := c.hasher()
	var num [24]byte
	str := func(f string) {
		h.Write(append(strconv.AppendInt(num[:0], int64(len(f)), 10), ':'))
		io.WriteString(h, f)
	}
	if e.Version >= 2 {
		str("meridian-audit-v2")
	} else {
		str("meridian-audit-v1")
	}
	str(strconv.FormatInt(seq, 10))
	str(e.Time)
	str(e.Kind)
	str(e.RunID)
	if e.Version >= 2 {
		str(e.Tenant)
	}
	h.Write(append(strconv.AppendInt(num[:0], int64(len(e.Payload)), 10), ':'))
	h.Write(e.Payload)
	str(e.PrevHash)
	return hex.EncodeToString(h.Sum(nil))
}

// Problem kinds reported by Verify.
const (
	Modified  = "modified"
	Deleted   = "deleted"
	Reordered = "reordered"
)

// Problem is the first break Verify finds.
type Problem struct {
	Seq    int64  `json:"seq"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
	// Found is what Verify found at the break, which an acceptance of the
	// break records (see Verify); absent on anchor problems and on
	// acceptances written before acceptances pinned their break.
	Found *Found `json:"found,omitempty"`
	// Tenant is the tenant the broken entry names, which alone may see
	// Found.Content (see Result.ForTenant). It is never written out: it
	// would name one tenant to the others.
	Tenant string `json:"-"`
}

// Found pins a break of the chain as Verify found it, so that accepting it
// accepts that break and no other: a gap that grew, another entry where
// the check resumes or an accepted entry changed again is a new break.
type Found struct {
	// Last is the last missing seq of a gap (Problem.Seq is the first);
	// zero for every other break.
	Last int64 `json:"last,omitempty"`
	// Before is the hash the broken entry should have followed: that of
	// the last entry before the break as the check had it (Genesis at the
	// start of the log).
	Before string `json:"before"`
	// Entry is the seq of the entry the break was found at; for a gap, the
	// entry after it, where the check resumes.
	Entry int64 `json:"entry"`
	// Hash is that entry's hash as stored.
	Hash string `json:"hash"`
	// Content is the SHA-256 of that entry's contents as found (see
	// contentHash), so that a modified entry changed again no longer
	// matches. It is not keyed on purpose: verification results are shown
	// to whoever may have modified the entry, and the keyed hash of
	// contents they chose would be a valid seal for them. Being a plain
	// hash, it would confirm a guess at a short payload: a tenant sees it
	// only for its own entries (Result.ForTenant).
	Content string `json:"content"`
}

// gapDetail is the Detail of a gap, first and last missing seq. An
// acceptance from before Found names its gap's range only in its detail
// (see matchAcceptance), so the wording stays.
const gapDetail = "entries %d to %d are missing"

// ForTenant returns r as a tenant may see it: the contents hash
// (Found.Content) of a broken entry that does not name tenant is left out
// of its problem and of the accepted breaks. Every tenant's verification
// shows the same breaks, and the plain SHA-256 of another tenant's entry
// would let a tenant test guesses at its contents (a decision, a short
// payload) offline. The position and the keyed hashes stay. An entry that
// names no tenant (a server's own, or one from before entries named
// their tenant) is nobody's here. r itself is not changed.
func (r Result) ForTenant(tenant string) Result {
	hide := func(p Problem) Problem {
		if p.Found != nil && (tenant == "" || p.Tenant != tenant) {
			f := *p.Found
			f.Content = ""
			p.Found = &f
		}
		return p
	}
	if r.Problem != nil {
		p := hide(*r.Problem)
		r.Problem = &p
	}
	if r.Accepted != nil {
		acc := make([]Accepted, len(r.Accepted))
		for i, a := range r.Accepted {
			acc[i] = Accepted{Problem: hide(a.Problem), At: a.At}
		}
		r.Accepted = acc
	}
	return r
}

func (p *Problem) Error() string {
	return fmt.Sprintf("audit entry %d %s: %s", p.Seq, p.Kind, p.Detail)
}

// Result summarises a verification.
type Result struct {
	Entries int64    `json:"entries"`
	Head    string   `json:"head"`
	OK      bool     `json:"ok"`
	Problem *Problem `json:"problem,omitempty"`
	// Anchored is the anchor the chain was checked against, if any.
	Anchored *Anchor `json:"anchored,omitempty"`
	// AnchorProblem is set on a log that broke (Problem, a break of the
	// chain) and whose anchor does not hold either: Truncated (entries cut
	// from its end), Diverged, or, the log naming an anchor key,
	// AnchorMissing or AnchorReplaced. It names what an
	// acceptance of the break alone would leave unnamed, as the anchor is
	// then reset onto the head.
	AnchorProblem *Problem `json:"anchorProblem,omitempty"`
	// AnchorCutSeq is CutSeq, beside AnchorProblem, for readers of the
	// JSON: the N of serve --accept-audit-cut N. Those who read a Result
	// call CutSeq, which a result from a server that does not send it
	// answers too.
	AnchorCutSeq int64 `json:"cutSeq,omitempty"`
	// AnchorKeySeq is the last entry recording which anchor key guards the
	// log (KindAnchored), if any.
	AnchorKeySeq int64 `json:"anchorKeySeq,omitempty"`
	// LogKey is the anchor key the log's last sealed KindAnchored entry
	// names ("" when none does): the key a start accepting the log keeps,
	// whatever key the anchor directory holds (see Anchors.Rekey). Set on
	// a verification against an anchor directory.
	LogKey string `json:"-"`
	// Unproven, set by VerifyAnchored on a chain that verifies, says what
	// the verification could not show: a log that names no anchor key may
	// have been cut back to before it was first anchored, its anchor
	// removed or replaced, and reads the same as one never anchored.
	Unproven string `json:"unproven,omitempty"`
	// Unkeyed is set when the log was checked without its key (see
	// NewUnkeyedChain): only the order and the links of its entries, and
	// its anchor, were checked, not their contents.
	Unkeyed bool `json:"unkeyed,omitempty"`
	// Accepted lists the breaks the operator accepted, which the check
	// went past (see Verify): the first maxAcceptedListed of them.
	Accepted []Accepted `json:"accepted,omitempty"`
	// AcceptedCount is how many breaks were accepted, all of them,
	// listed in Accepted or not.
	AcceptedCount int64 `json:"acceptedCount,omitempty"`
}

// CutSeq is the number an operator names to accept r's AnchorProblem
// with its break (serve --accept-audit-cut): for a cut tail or a rewritten
// anchored entry (Truncated, Diverged) the entries the anchor recorded;
// for an anchor removed or replaced (AnchorMissing, AnchorReplaced) the
// entry that names the log's own anchor key, whatever anchor the
// directory holds: one planted there, signed with the planter's key,
// chooses its seq, and one of seq 0 made 0 the number, which is what
// --accept-broken-audit alone names. 0 when r has no AnchorProblem (or
// one no start accepts: CutSeq is then never above 0).
func (r Result) CutSeq() int64 {
	p := r.AnchorProblem
	if p == nil {
		return 0
	}
	switch p.Kind {
	case Truncated, Diverged:
		if r.Anchored != nil {
			return r.Anchored.Seq
		}
		return 0
	case AnchorMissing, AnchorReplaced:
		return p.Seq
	}
	return 0
}

// KindBrokenAccepted is the kind of the entry a server writes when its
// operator accepts a log that does not verify (serve
// --accept-broken-audit); its payload (BrokenAccepted) names the break.
const KindBrokenAccepted = "audit-broken-accepted"

// BrokenAccepted is the payload of a KindBrokenAccepted entry.
type BrokenAccepted struct {
	Problem  *Problem `json:"problem"`
	Anchored *Anchor  `json:"anchored,omitempty"`
	// AnchorProblem is the Result's: the anchor's tail the log no longer
	// held (entries cut from its end), accepted with the break. Sealed
	// with the entry, but only a record for whoever reads the log later:
	// no verification checks the log against it.
	AnchorProblem *Problem `json:"anchorProblem,omitempty"`
	By            string   `json:"by,omitempty"`
}

// Accepted is a break of the chain that a later entry of the chain
// accepted (KindBrokenAccepted): Verify goes on past it.
type Accepted struct {
	Problem Problem `json:"problem"`
	// At is the entry that accepted it.
	At int64 `json:"at"`
}

// Verify checks entries, given in seq order, and reports the first entry
// that was modified, deleted or reordered. It is VerifySource over the
// entries in memory; a store verifies its log with VerifySource, a page at
// a time.
func (c *Chain) Verify(entries []Entry) Result {
	// A slice source never fails.
	r, _ := c.VerifySource(SliceSource(entries))
	return r
}

// Source is a log to verify, read a page at a time, so that verifying
// holds one page of the log in memory, never the whole of it: a log grows
// without bound, and the server verifies it at start and whenever a
// tenant asks. Every method must read the same state of the log (one
// snapshot of the database).
type Source interface {
	// Read calls fn with the log's entries in seq order, one page after
	// another, until the log ends or fn returns an error, which Read
	// returns. kind, when set, keeps only the entries of that kind.
	Read(kind string, fn func(page []Entry) error) error
	// SeqOf returns the seq of the last entry whose hash is hash; ok is
	// false when no entry has it. Verify asks only at a break.
	SeqOf(hash string) (seq int64, ok bool, err error)
	// Count returns how many entries the log holds.
	Count() (int64, error)
}

// SliceSource is a Source over entries held in memory.
func SliceSource(entries []Entry) Source { return &sliceSource{entries: entries} }

type sliceSource struct {
	entries []Entry
	seqOf   map[string]int64
}

func (s *sliceSource) Read(kind string, fn func([]Entry) error) error {
	page := s.entries
	if kind != "" {
		page = nil
		for _, e := range s.entries {
			if e.Kind == kind {
				page = append(page, e)
			}
		}
	}
	if len(page) == 0 {
		return nil
	}
	return fn(page)
}

func (s *sliceSource) SeqOf(hash string) (int64, bool, error) {
	if s.seqOf == nil {
		s.seqOf = make(map[string]int64, len(s.entries))
		for _, e := range s.entries {
			s.seqOf[e.Hash] = e.Seq
		}
	}
	seq, ok := s.seqOf[hash]
	return seq, ok, nil
}

func (s *sliceSource) Count() (int64, error) { return int64(len(s.entries)), nil }

// errStop ends a Read at the first break that is not accepted.
var errStop = errors.New("audit: verification stopped at a break")

// VerifySource checks the log src reads and reports the first entry that
// was modified, deleted or reordered. It holds one page of src at a time,
// at most maxAcceptances acceptances of breaks (KindBrokenAccepted
// entries, read at the first break, and again as later breaks need, at
// most maxAcceptancePasses times, see acceptIndex) and nothing else of the log: what it needs of other
// entries at a break (the entry a broken one names as its predecessor,
// the log's length) it asks src for.
//
// A break that a later entry accepted (KindBrokenAccepted, sound under the
// chain's key and naming the break exactly as found, see Found) is listed
// in Result.Accepted, and the check goes on from the entry the break was
// found at, taken as it is: every entry after it is checked as before, so
// that an entry changed or removed after the acceptance (or before it,
// elsewhere) is still a break. Without that, one accepted break hid every
// later one: the log read as broken at the same entry whatever was done
// to it afterwards. The acceptance must match the whole of Found, not
// only the entry and kind: for a gap its range, the entry before it and
// the entry after it (whose link to the missing entries is not checked);
// for any other break the entry's stored hash and the hash of its
// contents. An acceptance keyed by entry and kind alone accepted a wider
// gap starting at the same entry (everything up to the acceptance could
// be deleted) and any later rewrite of an accepted entry.
func (c *Chain) VerifySource(src Source) (Result, error) {
	r, _, err := c.verifySource(src, nil, -1)
	return r, err
}

// verifySource is VerifySource that also shows see every entry read, in
// order, before it is checked, and counts only the acceptances at or
// before entry anchored (the anchor's seq; -1 for no anchor). pastAnchor
// says the log failed at a break while acceptances after that entry were
// not counted, which an anchor moved since may cover.
func (c *Chain) verifySource(src Source, see func(Entry), anchored int64) (r Result, pastAnchor bool, err error) {
	v := &verifier{c: c, src: src, accepts: &acceptIndex{c: c, src: src, bounded: anchored >= 0, maxAt: anchored}, prev: Genesis, want: 1, total: -1, originLeft: originBudget,
		r: Result{Head: Genesis, OK: true, Unkeyed: c.unkeyed}}
	err = src.Read("", func(page []Entry) error {
		sound := c.soundPage(page)
		for i, e := range page {
			v.r.Entries++
			if see != nil {
				see(e)
			}
			ok, err := v.check(e, sound[i])
			if err != nil {
				return err
			}
			if !ok {
				return errStop
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, errStop):
		// A broken log's result gives its length, as a whole one's does,
		// not how far the check read.
		if v.r.Entries, err = v.count(); err != nil {
			return Result{}, false, err
		}
		return v.r, v.pastAnchor, nil
	case err != nil:
		return Result{}, false, err
	}
	v.r.Head = v.prev
	return v.r, false, nil
}

// verifier is the state of one verification: the hash the next entry
// must follow (prev) and the seq it must have (want).
type verifier struct {
	c       *Chain
	src     Source
	accepts *acceptIndex
	prev    string
	want    int64
	total   int64
	r       Result
	// lookups counts the calls of src.SeqOf (see seqOf).
	lookups int
	// pastAnchor: see verifySource.
	pastAnchor bool
	// originLeft is what is left of the verification's originBudget.
	originLeft int64
	// found is the last answer of src.SeqOf (see seqOf).
	found struct {
		hash string
		seq  int64
		ok   bool
	}
}

// seqOf is src.SeqOf, remembering its last answer: at a break of an entry
// moved from elsewhere, the hash it names as its predecessor is asked once
// to find where it was written (origin) and again to tell a reorder from a
// deletion, and a store answers each by reading its whole log (the table
// has no index on hash: SeqOf is asked only at a break, and an index would
// cost every append).
//
// A verification asks src at most maxLookups times; past that seqOf
// returns errNotLooked and the break is told without it. Every break an
// acceptance passes may ask, and without the key forged acceptances pass
// every break: whoever writes the database could write n breaks, each
// accepted, and have one verification read the whole log n times.
func (v *verifier) seqOf(hash string) (int64, bool, error) {
	if v.found.hash != "" && v.found.hash == hash {
		return v.found.seq, v.found.ok, nil
	}
	if v.lookups >= maxLookups {
		return 0, false, errNotLooked
	}
	v.lookups++
	seq, ok, err := v.src.SeqOf(hash)
	if err != nil {
		return 0, false, err
	}
	v.found.hash, v.found.seq, v.found.ok = hash, seq, ok
	return seq, ok, nil
}

// maxLookups bounds the lookups by hash (Source.SeqOf, a whole read of a
// store's log) of one verification. An operator accepts a break per
// start told to; a log needing more lookups than this is not one an
// operator accepted break by break.
const maxLookups = 16

// errNotLooked is seqOf's answer once the verification has made
// maxLookups lookups.
var errNotLooked = errors.New("audit: lookup by hash not made: the verification made as many as it may")

// notLookedWhy is added to the detail of a break told without a lookup.
var notLookedWhy = fmt.Sprintf("; where the entry it names as its predecessor is was not looked up (a verification looks entries up by hash at most %d times, and the breaks before this one took every lookup)", maxLookups)

// count is the log's length, asked of the source once.
func (v *verifier) count() (int64, error) {
	if v.total < 0 {
		n, err := v.src.Count()
		if err != nil {
			return 0, err
		}
		v.total = n
	}
	return v.total, nil
}

// broke reports a break found at entry e: accepted, the check goes on
// from e (as it is) and broke returns true. Of the breaks accepted, the
// result lists the first maxAcceptedListed and counts all.
func (v *verifier) broke(e Entry, p Problem) (bool, error) {
	p.Found = &Found{Before: v.prev, Entry: e.Seq, Hash: e.Hash}
	p.Tenant = e.Tenant
	if p.Kind == Deleted && e.Seq > v.want {
		p.Found.Last = e.Seq - 1
	}
	p.Found.Content = contentHash(e)
	at, why, err := v.accepts.accepted(p, e.Seq)
	if err != nil {
		return false, err
	}
	if at == 0 {
		p.Detail += why
		if n := v.accepts.oversized; n > 0 {
			p.Detail += fmt.Sprintf("; %d %s entries were not read (over %d bytes)", n, KindBrokenAccepted, maxAcceptancePayload)
		}
		if n := v.accepts.unanchored; n > 0 {
			p.Detail += fmt.Sprintf("; %d %s entries after the anchored entry %d were not counted (an acceptance counts once the anchor covers it, as the start that writes it makes it)", n, KindBrokenAccepted, v.accepts.maxAt)
			v.pastAnchor = true
		}
		v.r = failWith(v.r, p)
		return false, nil
	}
	v.r.AcceptedCount++
	if len(v.r.Accepted) < maxAcceptedListed {
		v.r.Accepted = append(v.r.Accepted, Accepted{Problem: p, At: at})
	}
	v.prev, v.want = e.Hash, e.Seq+1
	return true, nil
}

// soundPage reports, for each entry of page, whether it hashes as sealed
// at its own seq (always true without the key, which checks no entry's
// contents), on several cores: hashing is most of a verification's time,
// during which a store holds its snapshot of the database (on PostgreSQL
// that keeps every row version that died since from vacuum), and each
// entry's hash depends on that entry alone. What the page's entries are
// checked for in turn (their order and links) is cheap and stays in order.
func (c *Chain) soundPage(page []Entry) []bool {
	sound := make([]bool, len(page))
	if c.unkeyed {
		return sound
	}
	workers := min(runtime.GOMAXPROCS(0), maxVerifyWorkers, len(page))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(page) {
					return
				}
				sound[i] = c.sum(page[i], page[i].Seq) == page[i].Hash
			}
		})
	}
	wg.Wait()
	return sound
}

// maxVerifyWorkers bounds the cores one verification hashes on, leaving
// the others to the server's requests.
const maxVerifyWorkers = 8

// check checks entry e, the next in the log, which soundPage found sound
// or not; false when it is a break that no entry accepted.
func (v *verifier) check(e Entry, sound bool) (bool, error) {
	for {
		if e.Seq > v.want {
			if ok, err := v.broke(e, Problem{Seq: v.want, Kind: Deleted, Detail: fmt.Sprintf(gapDetail, v.want, e.Seq-1)}); !ok || err != nil {
				return false, err
			}
			// The entry after the gap is itself checked, from the link
			// the gap left it.
			v.prev, v.want = e.PrevHash, e.Seq
			continue
		}
		if e.Seq < v.want {
			return v.broke(e, Problem{Seq: e.Seq, Kind: Reordered, Detail: fmt.Sprintf("seq %d appears at position %d", e.Seq, v.want)})
		}
		if why := formatProblem(e); why != "" {
			// Neither the format nor, in format 1, the tenant is inside
			// the hash: checked here, or either could be changed freely.
			return v.broke(e, Problem{Seq: e.Seq, Kind: Modified, Detail: why})
		}
		if !v.c.unkeyed && !sound {
			// An intact entry moved from elsewhere hashes correctly at the
			// position it was written at. The search is bounded by the
			// log's length, never by a seq stored in it: a last entry
			// claiming seq 2^60 would otherwise keep Verify (and the
			// server's start) hashing for ever instead of reporting.
			p := Problem{Seq: e.Seq, Kind: Modified, Detail: "its contents no longer match its hash"}
			n, err := v.count()
			if err != nil {
				return false, err
			}
			looked := true
			seqOf := func(hash string) (int64, bool, error) {
				seq, ok, err := v.seqOf(hash)
				if errors.Is(err, errNotLooked) {
					looked = false
					return 0, false, nil
				}
				return seq, ok, err
			}
			at, ok, searched, err := v.c.origin(e, 2*n+1, &v.originLeft, seqOf)
			if err != nil {
				return false, err
			}
			if !searched {
				p.Detail += originSpentWhy
			}
			if ok && at != e.Seq {
				p = Problem{Seq: e.Seq, Kind: Reordered, Detail: fmt.Sprintf("holds the entry written as %d", at)}
				if e.PrevHash != v.prev {
					_, known, err := seqOf(e.PrevHash)
					if err != nil {
						return false, err
					}
					if !known && looked {
						p = Problem{Seq: e.Seq, Kind: Deleted, Detail: fmt.Sprintf("holds the entry written as %d; the one before it is gone and later entries were renumbered", at)}
					}
				}
			}
			if !looked {
				p.Detail += notLookedWhy
			}
			return v.broke(e, p)
		}
		if e.PrevHash != v.prev {
			p := Problem{Seq: e.Seq, Kind: Deleted, Detail: "the entry it followed is gone or was replaced"}
			at, ok, err := v.seqOf(e.PrevHash)
			switch {
			case errors.Is(err, errNotLooked):
				p.Detail += notLookedWhy
			case err != nil:
				return false, err
			case ok:
				p = Problem{Seq: e.Seq, Kind: Reordered, Detail: fmt.Sprintf("follows entry %d, not %d", at, e.Seq-1)}
			}
			return v.broke(e, p)
		}
		v.prev, v.want = e.Hash, e.Seq+1
		return true, nil
	}
}

// formatProblem says what is wrong with e's hash format, or "": the
// format (Version) picks which fields are hashed and is not hashed
// itself, so only those Meridian wrote are valid (0 and 1 hash alike), and
// a format 1 entry, written before entries named their tenant, names none.
// Otherwise a tenant written onto an old entry would hand it to that
// tenant's view and ledger, and any format above 2 would read as 2, all
// verifying. Its hash must read as one (isHash).
func formatProblem(e Entry) string {
	switch {
	case e.Version < 0 || e.Version > CurrentVersion:
		return fmt.Sprintf("hash format %d is not one Meridian writes (0 to %d)", e.Version, CurrentVersion)
	case !isHash(e.Hash):
		// Not checked otherwise without the key, which checks only that
		// each entry names the hash of the one before: hashes replaced by
		// any text, linked alike, verified, and the head, printed to the
		// operator's terminal, was that text.
		return "its hash is not 64 lowercase hex digits"
	case e.Version < 2 && e.Tenant != "":
		// Not which tenant: the detail is shown to every tenant (see
		// Result.ForTenant), and would name one to the others.
		return fmt.Sprintf("a format %d entry names a tenant, which its hash does not cover (entries named their tenant from format 2 on)", e.Version)
	}
	return ""
}

// isHash says whether h reads as a hash Meridian writes: 64 lowercase
// hex digits.
func isHash(h string) bool {
	if len(h) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

type acceptKey struct {
	seq  int64
	kind string
}

// contentHash is the plain SHA-256 of every stored field of e but its
// hash, each length-prefixed, under a prefix of its own: no entry hash
// (sum) of any key or none is ever equal to it.
func contentHash(e Entry) string {
	h := sha256.New()
	for _, f := range []string{"meridian-audit-content-v1", strconv.Itoa(e.Version), strconv.FormatInt(e.Seq, 10), e.Time, e.Kind, e.RunID, e.Tenant, string(e.Payload), e.PrevHash} {
		fmt.Fprintf(h, "%d:", len(f))
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// acceptance is the break one KindBrokenAccepted entry accepts.
type acceptance struct {
	at int64
	p  Problem
}

// accepted returns the first entry after the broken one (seq) that accepts
// p exactly, or 0 and why none does, to add to p's detail: an acceptance
// of another break at the same entry, or one that cannot tell.
func accepted(cands []acceptance, p Problem, seq int64) (int64, string) {
	why := ""
	for _, a := range cands {
		if a.at <= seq {
			continue
		}
		ok, w := matchAcceptance(a, p)
		if ok {
			return a.at, ""
		}
		why = w
	}
	return 0, why
}

// matchAcceptance reports whether a accepts p, the break as found now,
// and if not, why.
//
// An acceptance written since Found was added matches only when every
// field of Found matches. One written before has no Found: it names the
// break's entry, kind and detail only. Of those, a gap's still matches the
// gap its detail names, first and last missing entry alike, and no other:
// the entry before the gap and the one after it, where the check resumes,
// are then fixed by their seqs, and each is checked under the key as any
// entry is (only the key's holder can seal another at either seq). Every
// other older acceptance matches nothing: a modified entry's contents as
// found are recorded nowhere, so one changed again could not be told from
// the one accepted. Such a log fails until the operator, having checked
// it, accepts the break again, which records it in the current form.
func matchAcceptance(a acceptance, p Problem) (bool, string) {
	f := p.Found
	if a.p.Found == nil {
		if first, last, ok := parseGap(a.p.Detail); ok && f.Last > 0 && first == p.Seq {
			if last == f.Last {
				return true, ""
			}
			return false, fmt.Sprintf("; not accepted: entry %d accepted only entries %d to %d missing", a.at, first, last)
		}
		return false, fmt.Sprintf("; not accepted: entry %d accepted a break at this entry, but was written by an older version that does not record what it found, so that break cannot be told from a later change; check the log and accept it again", a.at)
	}
	g := a.p.Found
	if g.Last == f.Last && g.Before == f.Before && g.Entry == f.Entry && g.Hash == f.Hash && g.Content == f.Content {
		return true, ""
	}
	return false, fmt.Sprintf("; not accepted: entry %d accepted only the break found then (%s), and this one differs", a.at, describeFound(a.p))
}

// parseGap reads a gap's first and last missing seq from its detail,
// which must read exactly as gapDetail writes it.
func parseGap(detail string) (first, last int64, ok bool) {
	if _, err := fmt.Sscanf(detail, gapDetail, &first, &last); err != nil || fmt.Sprintf(gapDetail, first, last) != detail || first < 1 || last < first {
		return 0, 0, false
	}
	return first, last, true
}

// describeFound says what an acceptance pinned, for an operator.
func describeFound(p Problem) string {
	f := p.Found
	if f.Last > 0 {
		return fmt.Sprintf("entries %d to %d missing between the entry hashed %s and entry %d hashed %s", p.Seq, f.Last, short(f.Before), f.Entry, short(f.Hash))
	}
	s := fmt.Sprintf("entry %d hashed %s after %s", f.Entry, short(f.Hash), short(f.Before))
	if f.Content != "" {
		// Not the contents hash itself: the detail is shown to every
		// tenant (see Result.ForTenant).
		s += ", its contents as they were then"
	}
	return s
}

// originBudget bounds the bytes origin hashes in one verification, over
// all of its breaks: each position tried hashes the whole entry, and an
// entry may be megabytes (a transfer intent lists every chunk of its
// dataset). It was a budget per break, and breaks come cheap to whoever
// writes the database (with the key, each sealed and accepted): a log of n
// breaks cost n times the budget of hashing at every verification, each
// server start and each tenant's request alike.
const originBudget = 256 << 20

// originSpentWhy is added to the detail of a break whose entry origin did
// not search for, or not fully, because the budget was spent: the break
// is reported as modified, which it is too, and may differ from the one
// an unbounded search would name (an acceptance of that one does not
// match).
var originSpentWhy = fmt.Sprintf("; where it was written was not searched for in full (a verification hashes at most %d MiB looking for where broken entries were written, and this entry, with the breaks before it, took all of it)", originBudget>>20)

// originHashed, when set, is told the bytes origin hashes at each try.
var originHashed func(n int64)

// origin returns the position at which e hashes correctly, if any: an
// intact entry that was moved still carries the seq it was written at
// inside its hash. It tries first position 1 (for an entry naming the
// genesis) and the position after the entry e names as the one before it
// (seqOf finds an entry by hash), then positions outward from e.Seq up to
// limit: a moved entry is most often near where it was written, and
// trying every position up to limit cost the log's length times the
// entry's size (a large entry in a long log kept the server's start
// hashing for hours).
//
// Every try, the first two included, is paid from *budget (what is left
// of the verification's originBudget) by the entry's size; a try it
// cannot pay is not made, and searched is then false unless e was found.
// Past the budget e is reported as modified, which it is too. The budget
// holds for an entry of any size (a floor of 16 positions let one entry of
// a gigabyte, edited in the database, cost 16 GB of hashing at every
// verification) and for any number of breaks.
func (c *Chain) origin(e Entry, limit int64, budget *int64, seqOf func(hash string) (int64, bool, error)) (at int64, ok, searched bool, err error) {
	size := int64(len(e.Time)+len(e.Kind)+len(e.RunID)+len(e.Tenant)+len(e.Payload)+len(e.PrevHash)) + 128
	spent := false
	try := func(at int64) bool {
		if *budget < size {
			spent = true
			return false
		}
		*budget -= size
		if originHashed != nil {
			originHashed(size)
		}
		return c.sum(e, at) == e.Hash
	}
	if e.PrevHash == Genesis && try(1) {
		return 1, true, true, nil
	}
	s, found, err := seqOf(e.PrevHash)
	if err != nil {
		return 0, false, false, err
	}
	if found && s+1 >= 1 && s+1 <= limit && try(s+1) {
		return s + 1, true, true, nil
	}
	if e.Seq < 1 || limit < 1 {
		return 0, false, !spent, nil
	}
	// Only positions 1 to limit are tried: the walk starts at the first
	// distance that reaches one (an entry claiming seq 2^60 is limit
	// positions from the log's end, not 2^60), and a position past the
	// end is never computed (e.Seq+d would wrap).
	lo := max(1, e.Seq-limit)
	hi := max(e.Seq-1, limit-e.Seq)
	for d := lo; !spent && d <= hi; d++ {
		if e.Seq-d >= 1 && e.Seq-d <= limit && try(e.Seq-d) {
			return e.Seq - d, true, true, nil
		}
		if d <= limit-e.Seq && try(e.Seq+d) {
			return e.Seq + d, true, true, nil
		}
	}
	return 0, false, !spent, nil
}

func fail(r Result, seq int64, kind, detail string) Result {
	return failWith(r, Problem{Seq: seq, Kind: kind, Detail: detail})
}

func failWith(r Result, p Problem) Result {
	r.OK = false
	r.Problem = &p
	r.Head = ""
	return r
}

// Appender persists records at the end of the chain, atomically.
type Appender interface {
	AppendAudit(ctx context.Context, recs ...Record) error
}

// Log appends entries through an Appender. Other packages (data transfer,
// for example) use it to add their own kinds.
type Log struct{ a Appender }

// NewLog returns a Log over a.
func NewLog(a Appender) *Log { return &Log{a: a} }

// Append adds one entry of kind for runID (may be empty) with payload
// marshalled as JSON, owned by no tenant.
func (l *Log) Append(ctx context.Context, kind, runID string, payload any) error {
	return l.AppendFor(ctx, "", kind, runID, payload)
}

// AppendFor adds one entry owned by tenant.
func (l *Log) AppendFor(ctx context.Context, tenant, kind, runID string, payload any) error {
	rec, err := NewRecord(kind, runID, payload)
	if err != nil {
		return err
	}
	rec.Tenant = tenant
	return l.a.AppendAudit(ctx, rec)
}

// KeyFile is the key's file name in the state directory.
const KeyFile = "audit.key"

// LoadKey reads the HMAC key from dir, creating a random 32-byte key in a
// 0600 file on first use. A key file readable by group or others, or owned
// by another user (not root), is refused (checkKeyFile).
//
// The temporary files of writers of the key killed before their rename
// (atomicfile's) are removed once atomicfile.StaleTempAge old: its
// writers hold no lock, so a fresher one may be being filled. ReadKey,
// which only looks, removes nothing.
func LoadKey(dir string) ([]byte, error) {
	atomicfile.RemoveStaleTemps(dir, func(name string) bool { return name == KeyFile }, atomicfile.StaleTempAge)
	key, err := ReadKey(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(dir, filepath.Join(dir, KeyFile))
	}
	if err != nil {
		return nil, err
	}
	// Made durable before the log is signed with it: a creator killed
	// between its link and its sync of the directory left a key in
	// memory only, and a power loss that took it failed the whole
	// chain's HMAC at the next start.
	if err := atomicfile.SyncEntry(filepath.Join(dir, KeyFile)); err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	return key, nil
}

// ReadKey reads the HMAC key from dir as LoadKey does, but never creates
// it: a missing key file is an error that wraps fs.ErrNotExist. Commands
// that only look (audit verify --state) use it, so that looking writes
// nothing.
func ReadKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, KeyFile)
	b, fi, err := plainfile.ReadStat(path, maxKeyFileBytes)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	if err := checkKeyFile("audit key", path, fi); err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("audit key %s: want at least 16 hex-encoded bytes", path)
	}
	return key, nil
}

// geteuid is os.Geteuid; tests stand in another user.
var geteuid = os.Geteuid

// testHookKeyRead, when set, runs after a key file (the audit key, the
// anchor key) was read and before it is checked.
var testHookKeyRead func(path string)

// checkKeyFile checks the key file read at path, fi being what was read
// (plainfile.ReadStat), not what the name holds now: a check made on the
// name again saw whatever was renamed there after the read (a 0600 file
// over a key others had read), and let that key in. Refused: a mode with
// group or other bits (others may have read the key), and an owner other
// than this process's effective user and root (plainfile.ForeignOwner): a
// user who can write the directory (one they made first, a group-writable
// one) may put there a 0600 key of their own, which they know, and root
// reads it whatever its owner. what names the key in errors.
func checkKeyFile(what, path string, fi os.FileInfo) error {
	if testHookKeyRead != nil {
		testHookKeyRead(path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s %s: mode %v lets others read it; want 0600", what, path, perm)
	}
	if bad := plainfile.ForeignOwner(fi, geteuid()); bad != "" {
		return fmt.Errorf("%s %s: %s; refused: whoever owns it chose the key, and may know it", what, path, bad)
	}
	return nil
}

// createKey creates the key file, unless another process (a replica
// sharing the state directory) created it first; then it reads that one.
func createKey(dir, path string) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := mkdirDurable(dir); err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	created, err := atomicfile.CreateFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	if !created {
		// Another process's key, read once: a name that exists yet reads
		// as missing (a link to nothing) would otherwise have each try
		// create and sync a file again, for ever.
		key, err := ReadKey(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("audit key %s: the name exists but reads as missing (a link to nothing?); remove it or restore the key: %w", path, err)
		}
		return key, err
	}
	return key, nil
}

// WriteFileAtomic creates dir (0700, synced into its parent) when missing
// and writes data to path atomically (write, fsync, rename, fsync the
// directory).
func WriteFileAtomic(dir, path string, data []byte, mode os.FileMode) error {
	if err := mkdirDurable(dir); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, mode)
}

// mkdirDurable creates dir (0700) and any missing parents, and fsyncs the
// parent of each directory it creates, as atomicfile.MkdirAll does: until
// then a new directory's entry is in memory only, and a power loss can
// take it with everything written inside it since, synced or not. A dir
// already there has its parent synced too, once per process: its maker
// may have been killed before it synced it.
func mkdirDurable(dir string) error {
	return atomicfile.MkdirAll(dir, 0o700)
}

// Gap returns the first and last missing seq of p when p is a gap in the
// log (entries deleted, the rest not renumbered), as Verify reports it and
// an acceptance records it: from Found, or, in an acceptance written
// before Found was kept, from its detail, which must read exactly as a
// gap's does. ok is false for every other break.
func (p Problem) Gap() (first, last int64, ok bool) {
	if p.Kind != Deleted {
		return 0, 0, false
	}
	if p.Found != nil {
		if p.Found.Last < p.Seq || p.Seq < 1 {
			return 0, 0, false
		}
		return p.Seq, p.Found.Last, true
	}
	return parseGap(p.Detail)
}
