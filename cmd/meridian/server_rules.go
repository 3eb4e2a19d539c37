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

	// laws keeps the laws of the revisions diffs asked for, as their
	// files write them (rules.State.WrittenAt): a diff compiles nothing,
	// but parsing a revision still takes half a second to a second a MiB
	// of rule files, and any tenant may ask for a diff. A revision never
	// changes, so its law may be kept; parses happen one at a time
	// (parsing holds parse), so that diffs of revisions not kept take one
	// core at most.
	// mu guards laws only: a diff of kept revisions does not wait behind
	// another's parse.
	mu   sync.Mutex
	laws map[int64]rules.Written
	// parse holds a token while a revision is parsed; a diff waits for it
	// only as long as its request may (each waiting diff holds one of its
	// tenant's plan slots).
	parseOnce sync.Once
	parse     chan struct{}
	// load is rs.WrittenAt (tests wrap it).
	load func(ctx context.Context, rev int64) (rules.Written, error)
}

// maxDiffLaws bounds rulesService.laws. A law parsed takes at most three
// bytes on the heap a byte of its files (policy.TestWrittenSize: 1.3 for
// the built-in packs, 2.5 for packs of the shortest definitions and
// thresholds), and the files a revision applies are at most
// rules.MaxTotalBytes (16 MiB) beside the built-in packs' 50 KB, so four
// kept take under 200 MiB: their number bounds them, where compiled
// engines needed a bound on their bytes too (one revision at the loader's
// bounds took gigabytes).
const maxDiffLaws = 4

// writtenAt is rs.WrittenAt through s.laws.
func (s *rulesService) writtenAt(ctx context.Context, rev int64) (rules.Written, error) {
	if cur := s.rs.Current(); cur.Rev == rev && cur.Unloaded == nil {
		return cur.Engine, nil
	}
	kept := func() rules.Written {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.laws[rev]
	}
	if w := kept(); w != nil {
		return w, nil
	}
	s.parseOnce.Do(func() { s.parse = make(chan struct{}, 1) })
	select {
	case s.parse <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for another revision's parse: %w", context.Cause(ctx))
	}
	defer func() { <-s.parse }()
	if w := kept(); w != nil { // parsed while this one waited
		return w, nil
	}
	load := s.load
	if load == nil {
		load = s.rs.WrittenAt
	}
	w, err := load(ctx, rev)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.laws == nil {
		s.laws = map[int64]rules.Written{}
	}
	for r := range s.laws {
		if len(s.laws) < maxDiffLaws {
			break
		}
		delete(s.laws, r) // any of them
	}
	s.laws[rev] = w
	return w, nil
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

// Law is the current revision's rules, or why this server cannot apply
// them (rules.State.Behind).
func (s *rulesService) Law() (*policy.Engine, error) {
	if err := s.rs.Behind(); err != nil {
		return nil, err
	}
	return s.rs.Current().Engine, nil
}

// History lists a page of revisions from the store's listing: their
// files' names, never their contents.
func (s *rulesService) History(ctx context.Context, after int64, limit int) ([]api.RuleRevision, error) {
	h, err := s.rs.History(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]api.RuleRevision, 0, len(h))
	for _, r := range h {
		files := make([]string, 0, len(r.Files))
		// The store's listing is in name order already.
		for _, f := range r.Files {
			files = append(files, f.Name)
		}
		rev := api.RuleRevision{Revision: r.Rev, SHA256: r.Hash, By: r.Who, Reason: r.Reason, Time: r.CreatedAt.UTC(), Files: files, Unwitnessed: r.Unwitnessed}
		if r.Witnessed || r.Unwitnessed != "" {
			rev.Witnessed = &r.Witnessed
		}
		out = append(out, rev)
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
	a, err := s.writtenAt(ctx, from)
	if err != nil {
		return nil, diffError("from", err)
	}
	b, err := s.writtenAt(ctx, to)
	if err != nil {
		return nil, diffError("to", err)
	}
	return rules.Compare(a, b), nil
}

// diffError is why a diff's revision could not be read: the request's
// end as itself (answered 503, not as the request's fault), else a
// revision the request named that does not exist or does not load.
func diffError(field string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	return &api.InputError{Field: field, Err: err}
}

func (s *rulesService) WhatIf(ctx context.Context, req api.WhatIfRequest) (any, error) {
	ch, err := change(req.Files, req.Remove)
	if err != nil {
		return nil, err
	}
	_, eng, err := s.rs.ProposedContext(ctx, ch)
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
