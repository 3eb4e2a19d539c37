package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

func nowUTC() time.Time { return time.Now().UTC() }

// anchorer follows the store's audit head into the anchor directory.
type anchorer struct {
	*audit.Follower
	st serverStore
}

func newAnchorer(a *audit.Anchors, log *slog.Logger) *anchorer {
	an := &anchorer{}
	an.Follower = audit.NewFollower(a, audit.LogReader{
		HashAt: func(ctx context.Context, seq int64) (string, bool, error) {
			return an.st.AuditHashAt(ctx, seq)
		},
		Acceptance: func(ctx context.Context, after, through int64) (int64, bool, error) {
			return acceptanceIn(ctx, an.st, after, through)
		},
	}, func(err error) {
		log.Error("audit anchor not advanced: the log no longer extends its anchor, holds an acceptance of a broken log this server did not write, or the anchor cannot be written", "err", err)
	})
	return an
}

func (a *anchorer) notify(seq int64, head string) { a.Notify(seq, head) }
func (a *anchorer) run()                          { a.Run() }
func (a *anchorer) close()                        { a.Close() }

// auditAccept is what the operator accepts of a log that does not verify.
type auditAccept struct {
	// Broken: serve --accept-broken-audit, the break the start reports.
	Broken bool
	// Cut: serve --accept-audit-cut N, with Broken: that the anchor of
	// the broken log does not hold either (Result.AnchorProblem: a tail cut,
	// the anchored entry rewritten, the anchor removed), N being
	// Result.CutSeq, as the refusal prints it. Zero accepts none. An
	// anchor replaced is accepted so too; its key is never kept (see
	// checkAuditAtStart).
	Cut int64
}

// checkAcceptAuditCut refuses --accept-audit-cut as no start would take
// it: negative (N counts entries), or without --accept-broken-audit, which
// accepts the break it comes with.
func checkAcceptAuditCut(opts serverOptions) error {
	switch {
	case opts.AcceptAuditCut < 0:
		return fmt.Errorf("--accept-audit-cut: %d is negative; want N as the refused start and meridian audit verify print it", opts.AcceptAuditCut)
	case opts.AcceptAuditCut > 0 && !opts.AcceptBrokenAudit:
		return errors.New("--accept-audit-cut without --accept-broken-audit: it accepts a cut beside a break, and only with the break; give both")
	}
	return nil
}

// checkAuditAtStart verifies the whole chain and its anchor. A broken log
// stops the server unless the operator accepts it, which is written to the
// log (and the anchor moved to the accepted head) before anything else.
// The break accepted, later starts verify past it (audit.Verify): what is
// done to the log afterwards stops the server again.
// A break that comes with a cut tail (the log no longer holds the head its
// anchor recorded, or its anchor was removed or replaced) is accepted
// only when the operator names the cut too (accept.Cut, Result.CutSeq, as
// the refusal prints it): accepting the break
// resets the anchor onto the head, over the cut, and --accept-broken-audit
// alone, given for the break the operator saw, accepted a cut named
// nowhere.
// Either way the log then records the anchor key that guards it, so that a
// removed anchor directory is noticed rather than read as a log never
// anchored. That key is never one the log does not name and this start
// did not make: an anchor directory holding one (replaced, or planted
// with an anchor that reads as a cut, or with none) was written by
// whoever could write it, who would then sign every later anchor. It
// gets a fresh key first (Anchors.Rekey), the old one kept aside.
func checkAuditAtStart(ctx context.Context, st anchoredStore, anchors *audit.Anchors, accept auditAccept, w io.Writer) error {
	res, err := st.VerifyAuditAnchored(ctx, anchors)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if !res.OK {
		cut := res.AnchorProblem
		refused := func(err error) error { return &auditRefused{err: err, logKey: res.LogKey, anchorProblem: cut} }
		if cut != nil && res.CutSeq() <= 0 {
			// No start names 0 with the cut: --accept-broken-audit alone
			// would. CutSeq never gives it for a problem a start accepts.
			return refused(fmt.Errorf("audit log does not verify: %w; and its anchor does not hold: %v; no number names that cut (%d), so no start accepts it: refusing to serve (check the log and the anchor directory %s with meridian audit verify)", res.Problem, cut, res.CutSeq(), anchors.Dir()))
		}
		rekey := !anchors.Made() && anchors.Key() != res.LogKey
		if !accept.Broken {
			// What an acceptance does to the directory, told before:
			// one that is another log's anchor is better pointed away
			// from (--audit-anchor) than given a fresh key.
			also := ""
			if rekey {
				also = fmt.Sprintf(", and gives the anchor directory %s a fresh key, keeping the one it holds, which the log does not name, aside", anchors.Dir())
			}
			if cut != nil {
				return refused(fmt.Errorf("audit log does not verify: %w; and its anchor does not hold: %v; refusing to serve (check the log with meridian audit verify; to serve anyway, accepting both, start with --accept-broken-audit --accept-audit-cut %d; that acceptance is itself recorded%s)", res.Problem, cut, res.CutSeq(), also))
			}
			return refused(fmt.Errorf("audit log does not verify: %w; refusing to serve (start with --accept-broken-audit to serve anyway; that acceptance is itself recorded%s)", res.Problem, also))
		}
		by := "operator (serve --accept-broken-audit)"
		if cut != nil {
			if accept.Cut != res.CutSeq() {
				named := "--accept-broken-audit accepts the break alone"
				if accept.Cut != 0 {
					named = fmt.Sprintf("--accept-audit-cut %d names another", accept.Cut)
				}
				return refused(fmt.Errorf("audit log does not verify: %w; and its anchor does not hold: %v; %s, and accepting it would anchor the log as it is now, over what was cut, which would then be named nowhere: refusing to serve (check the log with meridian audit verify; to accept both, start with --accept-broken-audit --accept-audit-cut %d; that acceptance is itself recorded, naming both)", res.Problem, cut, named, res.CutSeq()))
			}
			fmt.Fprintf(w, "warning: audit log does not verify (%v) and its anchor does not hold (%v); serving because --accept-broken-audit --accept-audit-cut %d was given\n", res.Problem, cut, accept.Cut)
			by = fmt.Sprintf("operator (serve --accept-broken-audit --accept-audit-cut %d)", accept.Cut)
		} else {
			if accept.Cut != 0 {
				fmt.Fprintf(w, "note: --accept-audit-cut %d given, but the log's anchor holds: nothing cut to accept\n", accept.Cut)
			}
			fmt.Fprintf(w, "warning: audit log does not verify (%v); serving because --accept-broken-audit was given\n", res.Problem)
		}
		if rekey {
			// The directory's key is not the one the log names (or the
			// log names none), and this start did not make it: whoever
			// can write the directory may have put it there, with an
			// anchor of their own (replaced, or read as a cut or as
			// missing). Recorded and signing the reset, it would be the
			// log's, and its holder would sign every later anchor. A
			// fresh key takes its place; the old one is kept aside.
			if err := rekeyFound(ctx, anchors, w, "which the log does not name as its own", "point --audit-anchor at a new empty directory and start again"); err != nil {
				return err
			}
		}
		accepted, err := audit.NewRecord(audit.KindBrokenAccepted, "", audit.BrokenAccepted{Problem: res.Problem, Anchored: res.Anchored, AnchorProblem: cut, By: by})
		if err != nil {
			return err
		}
		keyed, err := anchors.KeyRecord()
		if err != nil {
			return err
		}
		before, _, err := st.AuditHead(ctx)
		if err != nil {
			return err
		}
		// One append: the acceptance and the key now in use (perhaps a new
		// anchor directory's, or the fresh one the Rekey above wrote).
		// Dying before the reset below leaves the log broken as it was,
		// for the operator to accept again. The anchor directory is not as
		// it was after a Rekey: it holds the fresh key and no anchor (the
		// old one was moved aside with its key), so the next start finds
		// no anchor where this one found the old, and its refusal names
		// what to accept then.
		if err := st.AppendAudit(ctx, accepted, keyed); err != nil {
			return err
		}
		seq, head, err := st.AuditHead(ctx)
		if err != nil {
			return err
		}
		// The reset anchors every entry up to the head, and an acceptance
		// counts once anchored: one appended beside this one by other means
		// (whoever holds audit.key and writes the database) would count
		// with it, accepting whatever it names.
		if n, err := acceptancesIn(ctx, st, before, seq, 2); err != nil {
			return err
		} else if n > 1 {
			return fmt.Errorf("audit log: another %s entry was appended beside this start's acceptance (entries %d to %d); not anchoring it: check the log and start again", audit.KindBrokenAccepted, before+1, seq)
		}
		return anchors.Reset(ctx, seq, head, nowUTC())
	}
	for _, a := range res.Accepted {
		fmt.Fprintf(w, "note: audit log broken at entry %d (%s), accepted at entry %d; every entry since verifies\n", a.Problem.Seq, a.Problem.Kind, a.At)
	}
	if more := res.AcceptedCount - int64(len(res.Accepted)); more > 0 {
		fmt.Fprintf(w, "note: audit log broken at %d more entries, each accepted by a later entry\n", more)
	}
	if res.Unproven != "" && res.Entries > 0 {
		// An upgrade's first start, or a log cut back to before it was
		// first anchored with the anchor removed: only the operator can
		// tell, and only if told.
		fmt.Fprintf(w, "warning: audit log of %d entries records no anchor key (%s); anchoring it as it is now\n", res.Entries, res.Unproven)
	}
	return recordAnchorKey(ctx, st, anchors, res, w)
}

// auditRefused is a start's refusal of a log that does not verify, with
// the key the log names (Result.LogKey) and what its anchor's check found
// beside a break (Result.AnchorProblem; nil if the anchor holds, or if
// the refusal is not of a break).
type auditRefused struct {
	err           error
	logKey        string
	anchorProblem *audit.Problem
}

func (e *auditRefused) Error() string { return e.err.Error() }
func (e *auditRefused) Unwrap() error { return e.err }

// shortKey is the start of an anchor key, for an operator.
func shortKey(k string) string {
	if len(k) > 16 {
		return k[:16]
	}
	return k
}

// anchorMovedHint adds to a start refused because the anchor is missing
// (the refusal's problem, or beside a break its anchor's), when
// --audit-anchor points away from the state directory's own anchor
// directory and that one holds an anchor of the key the log names, how to
// go on: the CLI anchors a state directory's log in it, as does a start
// without --audit-anchor, and moving an anchor means moving its
// directory, key included. A directory of another key is not the log's
// anchor (whoever can write the state directory may have put it there):
// no hint. Beside a break it says to move first: the refusal offers to
// accept the anchor missing too (--accept-audit-cut), and an acceptance
// records another key as the log's (--audit-anchor's, or a fresh one),
// after which the log's real anchor checks nothing of what may have been
// cut.
func anchorMovedHint(err error, anchorDir, stateAnchor string) error {
	var refused *auditRefused
	if !errors.As(err, &refused) || refused.logKey == "" || filepath.Clean(anchorDir) == filepath.Clean(stateAnchor) {
		return err
	}
	var p *audit.Problem
	missing := errors.As(err, &p) && p.Kind == audit.AnchorMissing
	beside := !missing && refused.anchorProblem != nil && refused.anchorProblem.Kind == audit.AnchorMissing
	if !missing && !beside {
		return err
	}
	if _, serr := os.Stat(filepath.Join(stateAnchor, audit.AnchorFile)); serr != nil {
		return err
	}
	if sa, serr := audit.ReadAnchors(stateAnchor); serr != nil || sa.Key() != refused.logKey {
		return err
	}
	first := ""
	if beside {
		first = fmt.Sprintf(", before accepting anything: an acceptance records another key as the log's, and the anchor in %s would then check nothing of what may have been cut", stateAnchor)
	}
	return fmt.Errorf("%w; %s holds an anchor: if the log is anchored there, move that directory, key included, to %s (or start without --audit-anchor)%s", err, stateAnchor, anchorDir, first)
}

// anchoredStore is what anchoring a log needs of its store.
type anchoredStore interface {
	audit.Appender
	VerifyAuditAnchored(ctx context.Context, anchors *audit.Anchors) (audit.Result, error)
	AuditHead(ctx context.Context) (int64, string, error)
	anchorLogStore
}

// anchorLogStore is what an anchor update reads of a store's log.
type anchorLogStore interface {
	AuditHashAt(ctx context.Context, seq int64) (string, bool, error)
	AuditSelect(ctx context.Context, q store.AuditQuery) ([]audit.Entry, error)
}

// anchorLog is what an anchor update reads of st's log.
func anchorLog(st anchorLogStore) audit.LogReader {
	return audit.LogReader{HashAt: st.AuditHashAt, Acceptance: func(ctx context.Context, after, through int64) (int64, bool, error) {
		return acceptanceIn(ctx, st, after, through)
	}}
}

// acceptanceIn is audit.AcceptanceIn over st: the first acceptance of a
// broken log after entry after and up to entry through, found by the
// index on kind. One too large to count is left out, not read.
func acceptanceIn(ctx context.Context, st anchorLogStore, after, through int64) (int64, bool, error) {
	es, err := selectAcceptances(ctx, st, after, through, 1)
	if err != nil || len(es) == 0 {
		return 0, false, err
	}
	return es[0].Seq, true, nil
}

// acceptancesIn counts the acceptances acceptanceIn would find, up to
// limit of them.
func acceptancesIn(ctx context.Context, st anchorLogStore, after, through int64, limit int) (int, error) {
	es, err := selectAcceptances(ctx, st, after, through, limit)
	return len(es), err
}

func selectAcceptances(ctx context.Context, st anchorLogStore, after, through int64, limit int) ([]audit.Entry, error) {
	return st.AuditSelect(ctx, store.AuditQuery{AllTenants: true, Kinds: []string{audit.KindBrokenAccepted},
		After: after, Through: through, Limit: limit, MaxEntryBytes: audit.MaxAcceptancePayload})
}

// recordAnchorKey anchors the head of a log res verified and, when the log
// does not yet record the anchor's key, records it. The anchor is written
// first: a log that names a key whose anchor is missing fails, so a crash
// between the two must find the anchor there; a crash after the entry and
// before the anchor moves over it leaves an anchor older than the log,
// which is normal. A first anchor is written only when res found none (and
// so no key entry), or after a Rekey here, which moved the found anchor
// aside with its key; otherwise the anchor must still be there.
//
// A log that names no key gets one this process made: a key found in the
// directory (one planted there, with or without an anchor of its own, by
// whoever can write it) would be recorded as the log's, and its holder
// would sign every later anchor, a tail cut from then on included. As an
// acceptance does, the directory gets a fresh key first, the found one
// kept aside (Anchors.Rekey); w is told.
func recordAnchorKey(ctx context.Context, st anchoredStore, anchors *audit.Anchors, res audit.Result, w io.Writer) error {
	advance := anchors.Extend
	if res.Anchored == nil {
		advance = anchors.Advance
	}
	if res.AnchorKeySeq == 0 && !anchors.Made() {
		// The CLI's commands come here too, and have no --audit-anchor.
		if err := rekeyFound(ctx, anchors, w, "which the log does not name (it names none) and this process did not make (another replica's, or one put there)", "move it aside so that a new empty one takes its place, or, for a server, point --audit-anchor at a new empty directory; then try again"); err != nil {
			return err
		}
		// The anchor went aside with its key.
		advance = anchors.Advance
	}
	seq, head, err := st.AuditHead(ctx)
	if err != nil {
		return err
	}
	if err := advance(ctx, seq, head, anchorLog(st), nowUTC()); err != nil {
		return err
	}
	if res.AnchorKeySeq > 0 {
		// The log records this key already: a different one would not
		// have verified.
		return nil
	}
	rec, err := anchors.KeyRecord()
	if err != nil {
		return err
	}
	if err := st.AppendAudit(ctx, rec); err != nil {
		return err
	}
	if seq, head, err = st.AuditHead(ctx); err != nil {
		return err
	}
	return anchors.Extend(ctx, seq, head, anchorLog(st), nowUTC())
}

// rekeyFound gives anchors a fresh key in place of the one found there
// (Anchors.Rekey), the old key and its anchor kept aside, and tells w.
// held says why the found key is not kept; instead what to do where the
// directory cannot be written so.
func rekeyFound(ctx context.Context, anchors *audit.Anchors, w io.Writer, held, instead string) error {
	old := anchors.Key()
	if err := anchors.Rekey(ctx, nowUTC()); err != nil {
		return fmt.Errorf("audit anchor %s holds key %s, %s, and giving it a fresh key failed: %w; where it cannot be written so (write-once storage), %s", anchors.Dir(), shortKey(old), held, err, instead)
	}
	fmt.Fprintf(w, "note: the anchor directory %s held key %s, %s; it was given a fresh key %s, the old key and its anchor kept aside there (%s*)\n", anchors.Dir(), shortKey(old), held, shortKey(anchors.Key()), audit.AsideSuffix)
	return nil
}

// auditReader serves the API's audit routes, verifying against the anchor.
type auditReader struct {
	st      serverStore
	anchors *audit.Anchors
}

func (a auditReader) AuditSelect(ctx context.Context, q store.AuditQuery) ([]audit.Entry, error) {
	return a.st.AuditSelect(ctx, q)
}

func (a auditReader) AuditSelectPage(ctx context.Context, q store.AuditQuery) ([]audit.Entry, int64, error) {
	return a.st.AuditSelectPage(ctx, q)
}

func (a auditReader) VerifyAudit(ctx context.Context) (audit.Result, error) {
	return a.st.VerifyAuditAnchored(ctx, a.anchors)
}

// raiseFileLimit lifts the soft limit on open files to the hard one, so
// that connection limits, not the kernel's default, bound the server.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// anchoringLease is the store lease a server holds while it checks and
// anchors the audit log at its start, renewed while it does; anchoringTTL
// bounds how long a server that died holding it keeps the others waiting,
// and anchoringWait how long a start waits for it.
const (
	anchoringLease = "audit-anchoring"
	anchoringTTL   = time.Minute
	anchoringWait  = 3 * time.Minute
)

// leaseAnchoring waits for the store's anchoring lease and returns the
// context to anchor under (it ends if the lease is lost) and the release.
// Replicas of one store starting together each find a log that names no
// anchor key; holding the lease, only the first records it, and the next
// ones verify the log it left.
func leaseAnchoring(ctx context.Context, st store.Leaser, replica string, log *slog.Logger) (context.Context, func(), error) {
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, nil, err
	}
	holder := fmt.Sprintf("%s/%d/%x", replica, os.Getpid(), nonce)
	lctx, release, err := store.HoldLease(ctx, st, anchoringLease, holder, anchoringTTL, anchoringWait, log)
	if err != nil {
		return nil, nil, fmt.Errorf("audit anchoring: %w; a lease its holder stopped holding frees itself %s after", err, anchoringTTL)
	}
	return lctx, release, nil
}
