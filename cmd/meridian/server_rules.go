package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/screen"
	"meridian.dev/meridian/transfer"
)

// rulesService serves the rules routes: changes go through rules.State
// (checked in full, a revision with its audit entry); the controller is
// nudged so that it re-checks every live run at once.
type rulesService struct {
	rs  *rules.State
	scr *screen.Screener
	ctl *run.Controller
	now func() time.Time

	// engines keeps the engines of the revisions diffs asked for: loading
	// one compiles every rule (a quarter of a second for the built-in
	// packs), and any tenant may ask for a diff. A revision never changes,
	// so its engine may be kept; compiles happen one at a time (compiling
	// holds compile), so that diffs of revisions not kept take one core
	// at most. mu guards engines only: a diff of kept revisions does not
	// wait behind another's compile, as it did when the compile held mu.
	mu      sync.Mutex
	engines map[int64]*policy.Engine
	// kept is the SizeEstimate of engines together, held to maxBytes
	// (maxDiffEngineBytes when 0; tests set less).
	kept     int64
	maxBytes int64
	// compile holds a token while a revision compiles; a diff waits for
	// it only as long as its request may (each waiting diff holds one of
	// its tenant's plan slots).
	compileOnce sync.Once
	compile     chan struct{}
	// load is rs.EngineAt (tests wrap it).
	load func(ctx context.Context, rev int64) (*policy.Engine, error)
}

// maxDiffEngines and maxDiffEngineBytes bound rulesService.engines, in
// engines and in their SizeEstimate together: the built-in packs take
// about a megabyte compiled, but a revision at the loader's bounds (256
// files, 16 MiB) took gigabytes (a pack of comprehensions, about 150
// bytes a byte of file), so eight of the largest would take tens of
// gigabytes. Engines are let go, any of them, until a new one fits; one
// larger than the whole bound is not kept (each diff of it compiles it).
const (
	maxDiffEngines     = 8
	maxDiffEngineBytes = 256 << 20
)

// engineAt is rs.EngineAt through s.engines.
func (s *rulesService) engineAt(ctx context.Context, rev int64) (*policy.Engine, error) {
	if cur := s.rs.Current(); cur.Rev == rev {
		return cur.Engine, nil
	}
	kept := func() *policy.Engine {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.engines[rev]
	}
	if e := kept(); e != nil {
		return e, nil
	}
	s.compileOnce.Do(func() { s.compile = make(chan struct{}, 1) })
	select {
	case s.compile <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for another revision's compile: %w", context.Cause(ctx))
	}
	defer func() { <-s.compile }()
	if e := kept(); e != nil { // compiled while this one waited
		return e, nil
	}
	load := s.load
	if load == nil {
		load = s.rs.EngineAt
	}
	e, err := load(ctx, rev)
	if err != nil {
		return nil, err
	}
	s.keep(rev, e)
	return e, nil
}

// keep adds rev's engine to s.engines, letting others go until it fits
// both bounds.
func (s *rulesService) keep(rev int64, e *policy.Engine) {
	limit := s.maxBytes
	if limit <= 0 {
		limit = maxDiffEngineBytes
	}
	size := e.SizeEstimate()
	if size > limit {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.engines == nil {
		s.engines = map[int64]*policy.Engine{}
	}
	if old, ok := s.engines[rev]; ok {
		delete(s.engines, rev)
		s.kept -= old.SizeEstimate()
	}
	for r, old := range s.engines {
		if len(s.engines) < maxDiffEngines && s.kept+size <= limit {
			break
		}
		delete(s.engines, r)
		s.kept -= old.SizeEstimate()
	}
	s.engines[rev] = e
	s.kept += size
}

func (s *rulesService) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

func change(files []api.RuleFile, remove []string) (rules.Change, error) {
	ch := rules.Change{Remove: remove}
	for _, f := range files {
		ch.Files = append(ch.Files, policy.File{Name: f.Name, Data: []byte(f.Content)})
	}
	if len(ch.Files) == 0 && len(ch.Remove) == 0 {
		return ch, &api.InputError{Field: "files", Err: errors.New("give at least one rule file or a name to remove")}
	}
	return ch, nil
}

func (s *rulesService) Apply(ctx context.Context, req api.RulesApplyRequest, by string) (*api.RulesApplyResult, error) {
	ch, err := change(req.Files, req.Remove)
	if err != nil {
		return nil, err
	}
	cur, d, err := s.rs.Apply(ctx, ch, by, req.Reason, s.clock())
	if err != nil {
		return nil, inputError(err)
	}
	s.ctl.Nudge()
	return &api.RulesApplyResult{RuleRevision: api.RuleRevision{Revision: cur.Rev, SHA256: cur.Hash, By: by, Reason: req.Reason,
		Time: s.clock().UTC(), Files: names(cur.Files)}, Diff: d}, nil
}

// inputError turns the rules state's field errors into the API's.
func inputError(err error) error {
	var fe *rules.FieldError
	if errors.As(err, &fe) {
		return &api.InputError{Field: fe.Field, Err: fe.Err}
	}
	return err
}

func names(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Law is the current revision's rules.
func (s *rulesService) Law() *policy.Engine { return s.rs.Current().Engine }

func (s *rulesService) History(ctx context.Context) ([]api.RuleRevision, error) {
	h, err := s.rs.History(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.RuleRevision, 0, len(h))
	for _, r := range h {
		out = append(out, api.RuleRevision{Revision: r.Rev, SHA256: r.Hash, By: r.Who, Reason: r.Reason, Time: r.CreatedAt.UTC(), Files: names(r.Files)})
	}
	return out, nil
}

// Diff compares revisions from and to; -1 means "the one before to" for
// from and "the current one" for to.
func (s *rulesService) Diff(ctx context.Context, from, to int64) (*rules.Diff, error) {
	if to < 0 {
		to = s.rs.Current().Rev
	}
	if from < 0 {
		from = max(to-1, 0)
	}
	a, err := s.engineAt(ctx, from)
	if err != nil {
		return nil, &api.InputError{Field: "from", Err: err}
	}
	b, err := s.engineAt(ctx, to)
	if err != nil {
		return nil, &api.InputError{Field: "to", Err: err}
	}
	return rules.Compare(a, b), nil
}

func (s *rulesService) WhatIf(ctx context.Context, req api.WhatIfRequest) (any, error) {
	ch, err := change(req.Files, req.Remove)
	if err != nil {
		return nil, err
	}
	_, eng, err := s.rs.Proposed(ch)
	if err != nil {
		return nil, inputError(err)
	}
	asOf := transfer.Today(s.clock())
	if req.AsOf != "" {
		if asOf, err = catalog.ParseDate(req.AsOf); err != nil {
			return nil, &api.InputError{Field: "asOf", Err: err}
		}
	}
	law := screenPlanLaw{planner.PolicyLaw(eng), s.scr}
	proposed := run.LawNow{Rev: s.rs.Current().Rev + 1, Law: law, Transfer: screenTransferLaw{eng, s.scr}, Dates: eng.Dates()}
	return s.ctl.WhatIf(ctx, proposed, plannerOf(planUnder(law, nil, "what-if")), asOf)
}
