// Package rules keeps the law a server runs under as versioned state: the
// built-in packs, the packs of `serve --rules DIR`, and the packs an admin
// applies to the running server (`meridian rules apply`), each accepted
// change a numbered revision with its content hash, time, author and
// reason, written to the audit log. A change is loaded and checked in full
// before anything is stored: a pack that fails changes nothing.
package rules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// Store is what the state needs of the server's store.
type Store interface {
	PutRuleRevision(ctx context.Context, r *store.RuleRevision, after int64, rec audit.Record) (*store.RuleRevision, error)
	ListRuleRevisions(ctx context.Context, after int64, limit int) ([]*store.RuleRevisionInfo, error)
	GetRuleRevision(ctx context.Context, rev int64) (*store.RuleRevision, error)
	LastRuleRevision(ctx context.Context) (int64, error)
}

// KindRevision is the audit kind of an accepted rules revision.
const KindRevision = "rules-revision"

// Current is the law in force on the server now.
type Current struct {
	// Rev is the revision (0: no rules applied to the server yet).
	Rev  int64
	Hash string
	// Files are the applied files, by name.
	Files  map[string]string
	Engine *policy.Engine
	// Dates are the days on which the loaded rules change (policy.Engine.Dates).
	Dates []catalog.Date
	// Unloaded, when set, is why Rev's files do not load here: a
	// revision stored under an earlier version of Meridian, whose loader
	// accepted what this one refuses. A server starting on it holds it
	// (its files, for the change that corrects it) with an Engine of the
	// built-in packs and rule directories alone, which nothing is judged
	// under: Behind is set until a revision that loads is in force.
	Unloaded error
}

// State holds the current law and its history.
type State struct {
	st   Store
	dirs []string

	mu  sync.RWMutex
	cur *Current
	// behind is why the latest revision in the store does not load here
	// (nil when it does): the law in force is then one this server cannot
	// apply, and its plans and stagings fail closed until it can.
	behind error
	// applying serialises Apply in this process; the store's revision
	// check serialises it between processes sharing the store.
	applying sync.Mutex
	// failed is the latest revision that did not load here, and until
	// when Refresh answers its error without reading it again.
	failed failedLoad
	// now is the clock of failed's retries (time.Now when nil).
	now func() time.Time
	// witness, when set (OpenWitnessed), confirms each revision loaded
	// from the store against the audit log.
	witness *witness
}

// failedLoad is a revision that did not load here: its files cost up to
// seconds of parsing and compiling, and a server refreshes every second,
// so a revision that does not load is tried again only after a rest.
type failedLoad struct {
	rev   int64
	until time.Time
	err   error
	// held is the revision with its files when Meridian applied it (its
	// row and record agree) and only this loader refuses it: what an
	// admin's correcting change is made to (Apply).
	held *Current
}

// Retrying a revision that did not load waits at least minRetry, and at
// least retryFactor times as long as the failed load took.
const (
	minRetry    = time.Minute
	retryFactor = 4
)

func (s *State) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// Open loads the built-in packs, dirs and the latest revision's files.
func Open(ctx context.Context, st Store, dirs []string) (*State, error) {
	s := &State{st: st, dirs: dirs}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// start is a start's first refresh. A start on a revision Meridian
// applied whose files this loader refuses is not refused: the state holds
// the revision unloaded, Behind says why, and an admin's corrected
// revision (Apply) puts a law in force.
func (s *State) start(ctx context.Context) error {
	err := s.Refresh(ctx)
	if cur := s.Current(); err != nil && cur != nil && cur.Unloaded != nil {
		return nil
	}
	return err
}

// Refresh makes the latest revision in the store the law in force, when
// another process sharing the store applied it. It asks the store for the
// latest number, and reads that revision's files only when it is newer
// than the law in force: a server refreshes every second, and the
// history holds megabytes of rule files a revision.
func (s *State) Refresh(ctx context.Context) error {
	last, err := s.st.LastRuleRevision(ctx)
	if err != nil {
		return err
	}
	if old := s.Current(); old != nil && (old.Rev > last || old.Rev == last && old.Unloaded == nil) {
		if old.Unloaded == nil {
			s.setBehind(nil)
		}
		if old.Rev > last {
			return s.checkNotRemoved(ctx, old.Rev)
		}
		return nil
	}
	s.mu.RLock()
	failed := s.failed
	s.mu.RUnlock()
	if failed.err != nil && failed.rev == last && s.clock().Before(failed.until) {
		// It did not load a moment ago; reading and parsing its megabytes
		// again every refresh would keep a core busy while behind. The
		// law in force still fails closed (behind is set).
		return failed.err
	}
	start := s.clock()
	cur := &Current{Files: map[string]string{}}
	var checked error
	if s.witness != nil {
		last, checked = s.checkLatest(ctx, last)
		if errors.As(checked, new(readError)) {
			return s.unread(ctx, last, checked)
		}
		cur.Rev = last
	}
	if last > 0 && checked == nil {
		r, err := s.st.GetRuleRevision(ctx, last)
		if err != nil {
			return s.unread(ctx, last, err)
		}
		cur.Rev, cur.Hash = r.Rev, r.Hash
		if r.Files != nil {
			cur.Files = r.Files
		}
		checked = s.checkRevision(ctx, r)
		if errors.As(checked, new(readError)) {
			return s.unread(ctx, last, checked)
		}
	}
	var eng *policy.Engine
	err = checked
	if err == nil {
		eng, err = s.load(ctx, cur.Files)
	}
	if err != nil {
		if ctx.Err() != nil {
			// The caller's end, not the revision's fault: whether it
			// loads here is for the next refresh to find out.
			return err
		}
		confirmed := checked == nil
		var held *Current
		if confirmed {
			err = &LoadError{Rev: cur.Rev, Err: err}
			held = &Current{Rev: cur.Rev, Hash: cur.Hash, Files: cur.Files, Unloaded: err}
		} else {
			err = fmt.Errorf("rules revision %d no longer loads: %w", cur.Rev, err)
		}
		// A rule directory fixed meanwhile lets it load: it is tried
		// again after a rest that grows with what a try costs.
		s.mu.Lock()
		s.failed = failedLoad{rev: last, until: s.clock().Add(max(minRetry, retryFactor*s.clock().Sub(start))), err: err, held: held}
		s.mu.Unlock()
		if old := s.Current(); old != nil && (old.Unloaded == nil || old.Rev != cur.Rev) {
			// Another server applied it: it is the law in force, and
			// planning on under the older revision here would ignore it.
			s.setBehind(s.behindOf(cur.Rev, err))
		} else if old == nil && confirmed {
			// A start on a revision Meridian applied (its record says
			// so) whose files this loader refuses: an upgrade whose
			// loader refuses what the earlier one accepted. Refusing to
			// start left no server to post the corrected revision to;
			// running under another law would ignore the law in force.
			// The server starts holding the revision's files, judges
			// nothing, and takes the admin's corrected revision
			// (Apply) on those files.
			base, berr := s.load(ctx, nil)
			if berr != nil {
				return err
			}
			held.Engine, held.Dates = base, base.Dates()
			s.advance(held)
			s.setBehind(&BehindError{Rev: cur.Rev, NoLaw: true, Err: err})
		}
		return err
	}
	cur.Engine, cur.Dates = eng, eng.Dates()
	s.advance(cur)
	s.mu.Lock()
	s.failed = failedLoad{}
	s.mu.Unlock()
	s.setBehind(nil)
	return nil
}

// checkNotRemoved says whether the store still holds applied, the law in
// force here, when its latest revision was read older. The store's latest
// only grows: a revision this server applied or loaded that is gone from
// it was deleted outside Meridian (with its record, at the log's end, the
// audit log verifies as it is), and the refresh said nothing while the
// servers that started next put the revision before it in force. The law
// in force here stays applied; the refresh's error says what happened.
func (s *State) checkNotRemoved(ctx context.Context, applied int64) error {
	// Apply here may have stored and put in force a revision after the
	// latest was read.
	now, err := s.st.LastRuleRevision(ctx)
	if err != nil || now >= applied {
		return err
	}
	return fmt.Errorf("the store's latest rules revision is %d, older than %d, the law in force here: revisions were removed outside Meridian; this server goes on applying %d", now, applied, applied)
}

// unread ends a refresh that could not read revision last, newer than the
// law in force, or its audit record: the store failed, or the revision's
// row does not decode (written outside Meridian). last is the law in force
// all the same, so planning on under the older revision here would ignore
// it: the server is behind until a refresh reads it. The store's failure
// may pass, so the next refresh reads it again, without the rest a
// revision that did not load waits.
func (s *State) unread(ctx context.Context, last int64, err error) error {
	if ctx.Err() != nil {
		return err
	}
	if cur := s.Current(); cur != nil && last > cur.Rev {
		s.setBehind(s.behindOf(last, err))
	}
	return err
}

// behindOf is why this server, holding the law in force before rev, cannot
// apply rev.
func (s *State) behindOf(rev int64, err error) *BehindError {
	cur := s.Current()
	return &BehindError{Rev: rev, Applies: cur.Rev, NoLaw: cur.Unloaded != nil, Err: err}
}

// LoadError is a revision Meridian applied (its row and its audit record
// agree) whose files this server's loader refuses: stored under an earlier
// version of Meridian, or beside a rule directory that differs. The
// remedy is a revision that corrects them, applied as any other.
type LoadError struct {
	Rev int64
	Err error // the loader's, naming the file, the rule and the step
}

func (e *LoadError) Error() string {
	return fmt.Sprintf("rules revision %d no longer loads: %v; to mend it, an admin applies the corrected rule files (meridian rules apply -f FILE --reason TEXT) to a server of this version: the change is made to revision %d's files and checked in full, and the server plans again once it is in force", e.Rev, e.Err, e.Rev)
}

func (e *LoadError) Unwrap() error { return e.Err }

// BehindError says that this server cannot load the rules revision in
// force (Rev), which another server applied, and still holds the older
// one it applies: it plans and stages nothing meanwhile.
type BehindError struct {
	Rev, Applies int64
	// NoLaw: the server holds no revision it can apply (it started on
	// one that does not load here); Applies is then a revision it holds
	// but does not apply.
	NoLaw bool
	Err   error // why Rev does not load here
}

func (e *BehindError) Error() string {
	if e.NoLaw {
		return fmt.Sprintf("this server cannot load rules revision %d, the law in force, and applies no law: it plans, stages and places nothing: %v", e.Rev, e.Err)
	}
	return fmt.Sprintf("this server cannot load rules revision %d, the law in force (it applies %d): %v", e.Rev, e.Applies, e.Err)
}

func (e *BehindError) Unwrap() error { return e.Err }

func (s *State) setBehind(err error) {
	s.mu.Lock()
	s.behind = err
	s.mu.Unlock()
}

// Behind says why this server cannot apply the law in force: the latest
// revision in the store, which another server applied, does not load
// here (a rule directory or a binary that differs). nil when it applies
// it. Plans and law decisions through the state fail closed meanwhile.
func (s *State) Behind() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.behind
}

// advance puts next in force unless the law in force is as new or newer:
// the law only moves forward. Refresh and Apply may race (Refresh does not
// wait on applying), and a newer revision another server applied must not
// give way to an older one until the next refresh.
func (s *State) advance(next *Current) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A revision held unloaded gives way to the same revision loaded (a
	// rule directory mended).
	if s.cur == nil || s.cur.Rev < next.Rev || s.cur.Rev == next.Rev && s.cur.Unloaded != nil && next.Unloaded == nil {
		s.cur = next
	}
}

// load builds an engine from the built-in packs, the state's directories
// and files. It stops with ctx: a load at the bounds takes seconds, and a
// request that ended has no use for it.
func (s *State) load(ctx context.Context, files map[string]string) (*policy.Engine, error) {
	return policy.NewContext(ctx, policy.Options{Dirs: s.dirs, Files: toFiles(files)})
}

func toFiles(m map[string]string) []policy.File {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]policy.File, 0, len(names))
	for _, n := range names {
		out = append(out, policy.File{Name: n, Data: []byte(m[n])})
	}
	return out
}

// Hash is the content hash of a set of files: SHA-256 over each name and
// content, length-prefixed, in name order.
func Hash(files map[string]string) string {
	return policy.FilesDigest(toFiles(files))
}

// Current returns the law in force.
func (s *State) Current() *Current {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur
}

// Change is a proposed change to the applied files: files to add or
// replace (by name) and names to remove.
type Change struct {
	Files  []policy.File
	Remove []string
}

// Limits on the applied files: each file is also held to
// policy.MaxPackBytes when it loads.
const (
	MaxFiles      = 256
	MaxTotalBytes = 16 << 20
)

// FieldError is a change the sender must fix, naming the field.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

var fileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.(yaml|yml)$`)

// CheckFileName accepts the name of an applied rule file: a base name of
// at most 128 characters (letters, digits, '.', '_', '-') ending in .yaml
// or .yml. Files are kept by name, so a path or an odd name is refused.
func CheckFileName(n string) error {
	if !fileName.MatchString(n) || strings.Contains(n, "..") {
		return fmt.Errorf("%q is not a rule file name: want a base name of letters, digits, '.', '_' and '-' (at most 128), ending in .yaml or .yml", n)
	}
	return nil
}

// Proposed returns the files the change would leave applied, and an engine
// loaded from them, checked in full. It stores nothing.
func (s *State) Proposed(ch Change) (map[string]string, *policy.Engine, error) {
	return s.ProposedContext(context.Background(), ch)
}

// ProposedContext is Proposed stopping with ctx (policy.NewContext): a
// request's proposed law is not loaded on after the request ends.
func (s *State) ProposedContext(ctx context.Context, ch Change) (map[string]string, *policy.Engine, error) {
	return s.proposed(ctx, s.Current(), ch)
}

func (s *State) proposed(ctx context.Context, cur *Current, ch Change) (map[string]string, *policy.Engine, error) {
	files := map[string]string{}
	for n, c := range cur.Files {
		files[n] = c
	}
	// A name given twice in one change would have its last file win
	// unseen, or a file removed and added: the sender's review of the
	// change is of what it lists, so each name comes once.
	named := map[string]string{}
	for i, n := range ch.Remove {
		field := fmt.Sprintf("remove[%d]", i)
		if prev, dup := named[n]; dup {
			return nil, nil, &FieldError{field, fmt.Errorf("%q is named by %s too: name each file once in a change", n, prev)}
		}
		named[n] = field
	}
	for i, f := range ch.Files {
		field := fmt.Sprintf("files[%d].name", i)
		if prev, dup := named[f.Name]; dup {
			return nil, nil, &FieldError{field, fmt.Errorf("%q is named by %s too: name each file once in a change", f.Name, prev)}
		}
		named[f.Name] = field
	}
	for i, n := range ch.Remove {
		if _, ok := files[n]; !ok {
			return nil, nil, &FieldError{fmt.Sprintf("remove[%d]", i), fmt.Errorf("%q: no applied rule file has that name", n)}
		}
		delete(files, n)
	}
	for i, f := range ch.Files {
		if err := CheckFileName(f.Name); err != nil {
			return nil, nil, &FieldError{fmt.Sprintf("files[%d].name", i), err}
		}
		if len(f.Data) > policy.MaxPackBytes {
			return nil, nil, &FieldError{fmt.Sprintf("files[%d].content", i), fmt.Errorf("%s is %d bytes, over the %d-byte limit for a rule file", f.Name, len(f.Data), policy.MaxPackBytes)}
		}
		files[f.Name] = string(f.Data)
	}
	total := 0
	for _, c := range files {
		total += len(c)
	}
	if len(files) > MaxFiles {
		return nil, nil, &FieldError{"files", fmt.Errorf("%d rule files would be applied, over the limit of %d", len(files), MaxFiles)}
	}
	if total > MaxTotalBytes {
		return nil, nil, &FieldError{"files", fmt.Errorf("the applied rule files would hold %d bytes, over the limit of %d", total, MaxTotalBytes)}
	}
	eng, err := s.load(ctx, files)
	if err != nil {
		return nil, nil, err
	}
	return files, eng, nil
}

// ErrUnchanged means a change would leave the applied files as they are.
var ErrUnchanged = errors.New("the change leaves the rules as they are")

// Apply checks the change in full, stores it as the next revision with its
// audit record, and makes it the law in force (unless a newer revision
// already is). On any error nothing changes. The Current returned is the
// revision this change stored.
func (s *State) Apply(ctx context.Context, ch Change, who, reason string, now time.Time) (*Current, *Diff, error) {
	if err := checkReason(reason); err != nil {
		return nil, nil, &FieldError{"reason", err}
	}
	s.applying.Lock()
	defer s.applying.Unlock()
	cur := s.Current()
	if err := s.Refresh(ctx); err != nil {
		// The store's latest revision, which Meridian applied and this
		// loader refuses, is what the admin's change corrects: it is
		// made to that revision's files, and must load in full.
		if cur = s.held(err); cur == nil {
			return nil, nil, err
		}
	} else {
		cur = s.Current()
	}
	files, eng, err := s.proposed(ctx, cur, ch)
	if err != nil {
		return nil, nil, err
	}
	hash := Hash(files)
	if hash == cur.Hash || len(files) == 0 && len(cur.Files) == 0 {
		return nil, nil, ErrUnchanged
	}
	var was Written = cur.Engine
	if cur.Unloaded != nil {
		// What changed is told against the revision as written (it has
		// no engine); failing that, against the law held here.
		was = s.Current().Engine
		if w, err := policy.Parse(ctx, policy.Options{Dirs: s.dirs, Files: toFiles(cur.Files)}); err == nil {
			was = w
		}
	}
	d := Compare(was, eng)
	rec, err := audit.NewRecord(KindRevision, "", map[string]any{
		"revision": cur.Rev + 1, "sha256": hash, "files": fileHashes(files), "by": who, "reason": reason,
		"added": d.Added, "removed": d.Removed, "changed": d.changedIDs(),
		"definitions": names(d.Definitions), "thresholds": names(d.Thresholds),
	})
	if err != nil {
		return nil, nil, err
	}
	saved, err := s.st.PutRuleRevision(ctx, &store.RuleRevision{Hash: hash, Files: files, Who: who, Reason: reason}, cur.Rev, rec)
	if err != nil {
		return nil, nil, err
	}
	next := &Current{Rev: saved.Rev, Hash: hash, Files: files, Engine: eng, Dates: eng.Dates()}
	// A refresh may have put a newer revision (another server's) in force
	// while ours was written.
	s.advance(next)
	s.mu.Lock()
	if b, ok := s.behind.(*BehindError); ok && b.Rev < next.Rev && s.cur == next {
		// The revision that did not load is replaced by one that does:
		// the server plans again now, not at its next refresh.
		s.behind = nil
	}
	s.mu.Unlock()
	return next, d, nil
}

// held is the revision a refresh's err says does not load here, when
// Meridian applied it and only this loader refuses it (nil otherwise).
func (s *State) held(err error) *Current {
	var le *LoadError
	if !errors.As(err, &le) {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if h := s.failed.held; h != nil && h.Rev == le.Rev {
		return h
	}
	return nil
}

// MaxReason bounds a revision's reason, in bytes.
const MaxReason = 2000

func checkReason(r string) error {
	switch {
	case strings.TrimSpace(r) == "":
		return errors.New("say why the rules change (it is written to the audit log)")
	case len(r) > MaxReason:
		return fmt.Errorf("%d bytes, over the limit of %d", len(r), MaxReason)
	case !utf8.ValidString(r):
		return errors.New("holds bytes that are not UTF-8; want UTF-8 text")
	}
	// What a catalog's text may not hold (catalog.RefusedText): what a
	// display writes escaped, but a newline and a tab, which lay out a
	// longer reason. The reason is shown by `rules history` and written to
	// the audit log, where a terminal escape, a bidirectional control, a
	// line separator or a joiner between two Latin letters would show
	// other text than was written.
	if i, why := catalog.RefusedText(r); i >= 0 {
		return fmt.Errorf("holds %s, at byte %d; refused", why, i)
	}
	return nil
}

func fileHashes(files map[string]string) map[string]string {
	out := map[string]string{}
	for n, c := range files {
		sum := sha256.Sum256([]byte(c))
		out[n] = hex.EncodeToString(sum[:])
	}
	return out
}

// Revision is a revision as History lists it: its row in the store, and
// whether the audit log vouches for it.
type Revision struct {
	*store.RuleRevisionInfo
	// Witnessed: a sealed rules-revision record names the revision with
	// its row's hash, author, reason and files' names. Unwitnessed, when
	// set, is why none does: the row was written, or its hash changed,
	// outside Meridian, and the revision is never loaded; or its author,
	// reason or files' names were, and the row does not say who applied
	// the law in it, or why. Both are unset when the state checks no
	// revision against the log (Open). Where a sealed record names the
	// revision with its row's hash, CreatedAt is the record's time, not
	// the row's, which the database's writer could change.
	Witnessed   bool
	Unwitnessed string
}

// History returns at most limit revisions numbered after after, oldest
// first, with their files' names and sizes but not their contents, each
// marked as the audit log vouches for it or not (OpenWitnessed). A row
// written outside Meridian was listed as genuine, with whatever author
// and reason it claims, though it never became law. Only the row's hash
// is held to the record here: its files are held to it when a revision
// is loaded.
func (s *State) History(ctx context.Context, after int64, limit int) ([]*Revision, error) {
	h, err := s.st.ListRuleRevisions(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]*Revision, len(h))
	for i, r := range h {
		out[i] = &Revision{RuleRevisionInfo: r}
	}
	if s.witness == nil {
		return out, nil
	}
	if err := s.witness.vouch(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// EngineAt loads the law of revision rev (0: no applied files), compiled.
func (s *State) EngineAt(ctx context.Context, rev int64) (*policy.Engine, error) {
	if cur := s.Current(); rev == cur.Rev {
		if cur.Unloaded != nil {
			return nil, cur.Unloaded
		}
		return cur.Engine, nil
	}
	files, err := s.filesAt(ctx, rev)
	if err != nil {
		return nil, err
	}
	return s.load(ctx, files)
}

// WrittenAt is the law of revision rev (0: no applied files) as its files
// write it, parsed without compiling a condition (policy.Parse): what a
// diff reads. Compiling a revision at the loader's bounds takes minutes
// and gigabytes, and a diff asks for it on any tenant's request; parsing
// stops with ctx. The current revision's is its engine, compiled already.
func (s *State) WrittenAt(ctx context.Context, rev int64) (Written, error) {
	if cur := s.Current(); rev == cur.Rev && cur.Unloaded == nil {
		return cur.Engine, nil
	}
	files, err := s.filesAt(ctx, rev)
	if err != nil {
		return nil, err
	}
	return policy.Parse(ctx, policy.Options{Dirs: s.dirs, Files: toFiles(files)})
}

// filesAt is the files revision rev applied (none for 0).
func (s *State) filesAt(ctx context.Context, rev int64) (map[string]string, error) {
	if rev == 0 {
		return map[string]string{}, nil
	}
	r, err := s.st.GetRuleRevision(ctx, rev)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no rules revision %d", rev)
	}
	if err != nil {
		return nil, err
	}
	if err := s.checkRevision(ctx, r); err != nil {
		return nil, err
	}
	if r.Files == nil {
		return map[string]string{}, nil
	}
	return r.Files, nil
}

// The law in force, as the planner, the stager and the controller ask it.

// Law is a planner.Law over the law in force when each session opens; it
// knows the days that law changes on (planner.DatedLaw).
func (s *State) Law() planner.Law { return stateLaw{s} }

type stateLaw struct{ s *State }

func (l stateLaw) Session(q policy.Query) (planner.Session, error) {
	return l.SessionContext(context.Background(), q)
}

// SessionContext is Session stopping with ctx (planner.ContextLaw).
func (l stateLaw) SessionContext(ctx context.Context, q policy.Query) (planner.Session, error) {
	if err := l.s.Behind(); err != nil {
		return nil, err
	}
	sess, err := l.s.Current().Engine.SessionContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return sess, nil
}

func (l stateLaw) Dates() []catalog.Date { return l.s.Current().Dates }

// QueryDates is the query's days that can change the law in force's
// answers (planner.QueryDatedLaw).
func (l stateLaw) QueryDates(q policy.Query) []catalog.Date {
	return l.s.Current().Engine.QueryDates(q)
}

// Snapshot is the law in force now, fixed (planner.SnapshotLaw): a plan
// opens a session per worker as its work reaches them, and one per day of
// its horizon, and a revision applied meanwhile must not judge part of one
// plan. A server that is behind gives a law that fails closed.
func (l stateLaw) Snapshot() planner.Law {
	if err := l.s.Behind(); err != nil {
		return failedLaw{err}
	}
	return pinnedLaw{l.s.Current()}
}

// pinnedLaw is one revision's law.
type pinnedLaw struct{ cur *Current }

func (l pinnedLaw) Session(q policy.Query) (planner.Session, error) {
	return l.SessionContext(context.Background(), q)
}

// SessionContext is Session stopping with ctx (planner.ContextLaw): a
// plan's sessions end with its request.
func (l pinnedLaw) SessionContext(ctx context.Context, q policy.Query) (planner.Session, error) {
	sess, err := l.cur.Engine.SessionContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return sess, nil
}

func (l pinnedLaw) Dates() []catalog.Date { return l.cur.Dates }

// QueryDates is the query's days that can change this revision's answers
// (planner.QueryDatedLaw).
func (l pinnedLaw) QueryDates(q policy.Query) []catalog.Date { return l.cur.Engine.QueryDates(q) }

// failedLaw refuses every session with why the law cannot be applied.
type failedLaw struct{ err error }

func (l failedLaw) Session(policy.Query) (planner.Session, error) { return nil, l.err }

func (l failedLaw) SessionContext(context.Context, policy.Query) (planner.Session, error) {
	return nil, l.err
}

// EvaluateTransfer implements transfer.Law with the law in force.
func (s *State) EvaluateTransfer(q policy.Query, ds *catalog.Dataset, to string) policy.Decision {
	return s.Pin().EvaluateTransfer(q, ds, to)
}

// Rules lists the rules in force on asOf (transfer.RuleLister).
func (s *State) Rules(asOf catalog.Date) []policy.RuleStatus {
	return s.Current().Engine.Rules(asOf)
}

// Pin returns the law in force now, which a revision applied later does
// not change (transfer.Pinner): a staging's decision and the rules its
// ledger entry lists as evaluated then come from one revision. A server
// behind the store's latest revision pins a law that denies every
// transfer, as EvaluateTransfer does.
func (s *State) Pin() transfer.Law {
	if err := s.Behind(); err != nil {
		return behindLaw{err}
	}
	return s.Current().Engine
}

// behindLaw denies every transfer with why the law in force cannot be
// applied here.
type behindLaw struct{ err error }

func (l behindLaw) EvaluateTransfer(policy.Query, *catalog.Dataset, string) policy.Decision {
	return policy.Decision{Denials: []policy.Finding{policy.EngineFinding(l.err.Error())}}
}

// Rules lists none: no rule of a law that cannot be loaded was evaluated.
func (behindLaw) Rules(catalog.Date) []policy.RuleStatus { return nil }

var _ transfer.Pinner = (*State)(nil)
