package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
)

// RuleFile is one rule file sent to the server.
type RuleFile struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

// RulesApplyRequest changes the server's rules: files to add or replace by
// name, names to remove, and why (written to the audit log).
type RulesApplyRequest struct {
	Files  []RuleFile `json:"files"`
	Remove []string   `json:"remove,omitempty"`
	Reason string     `json:"reason"`
}

// RuleRevision is one revision as the API shows it.
type RuleRevision struct {
	Revision int64     `json:"revision"`
	SHA256   string    `json:"sha256"`
	By       string    `json:"by"`
	Reason   string    `json:"reason"`
	Time     time.Time `json:"time"`
	Files    []string  `json:"files"`
	// Witnessed says whether the server's audit log vouches for the
	// revision (a sealed record names it with its hash, author, reason
	// and files' names); false, with Unwitnessed saying why, for a row
	// written or changed outside Meridian. Absent where the server checks
	// revisions against no log.
	Witnessed   *bool  `json:"witnessed,omitempty"`
	Unwitnessed string `json:"unwitnessed,omitempty"`
}

// RulesApplyResult is an accepted revision and what it changed.
type RulesApplyResult struct {
	RuleRevision
	Diff *rules.Diff `json:"diff"`
}

// WhatIfRequest asks what a proposed change to the rules would do to the
// server's live runs and staged data, as of a date (default today).
type WhatIfRequest struct {
	Files  []RuleFile `json:"files"`
	Remove []string   `json:"remove,omitempty"`
	AsOf   string     `json:"asOf,omitempty"`
}

// RulesService is the server's law as the API changes and shows it.
type RulesService interface {
	Apply(ctx context.Context, req RulesApplyRequest, by string) (*RulesApplyResult, error)
	// History is at most limit revisions numbered after after, oldest
	// first.
	History(ctx context.Context, after int64, limit int) ([]RuleRevision, error)
	Diff(ctx context.Context, from, to int64) (*rules.Diff, error)
	WhatIf(ctx context.Context, req WhatIfRequest) (any, error)
	// Law is the rules in force now (the current revision's engine), or
	// why this server cannot apply them (a *rules.BehindError: a newer
	// revision, or the one in force, does not load here): the revision it
	// holds is then not the law, and is not shown as if it were.
	Law() (*policy.Engine, error)
}

// SetRules serves the rules routes with rs. Changing rules and asking
// what-if of the live runs take the admin token; reading them any token.
func (s *Server) SetRules(rs RulesService) {
	s.rules = rs
	long := 2 * time.Minute
	for _, rt := range []Route{
		{Method: "POST", Path: "/v1/rules", Summary: "Change the server's rules: a new revision, re-checked against every live run", Access: Admin, Timeout: long, Cost: 5, Audited: true,
			Request: RulesApplyRequest{}, Response: RulesApplyResult{}, Errors: []int{400, 409}, Handler: s.rulesApply},
		{Method: "GET", Path: "/v1/rules", Summary: "The rules in force: each rule's state on a date, its dates, enforcement steps and sources",
			Query: []Param{{"asOf", "YYYY-MM-DD (default today, UTC)", "string"}}, Response: RuleList{}, Errors: []int{400, 503}, Handler: s.rulesList},
		{Method: "GET", Path: "/v1/rules/revisions", Summary: "The rules revisions, oldest first; a page at a time",
			Query: []Param{{"limit", fmt.Sprintf("revisions per page, 1 to %d (%d when only cursor is given); a page ends early, with a cursor, before its revisions pass %d bytes; without limit and cursor, every revision when they fit in one page and a 400 when they do not", MaxRevisionPage, RevisionPage, MaxRevisionPageBytes), "integer"},
				{"cursor", "the page starts after the revision this names (the cursor of the page before)", "string"}},
			Response: RuleHistory{}, Errors: []int{400}, Handler: s.rulesHistory},
		// A diff of revisions the server has not compiled lately compiles
		// the law of each (about a quarter of a second of a processor
		// for the built-in packs): it costs and is bounded as a plan is.
		{Method: "GET", Path: "/v1/rules/diff", Summary: "What changed between two revisions (from: the one before to; to: the current)", Cost: 5, Plans: true,
			Query: []Param{{"from", "revision (0: no rules applied)", "integer"}, {"to", "revision", "integer"}}, Response: rules.Diff{}, Errors: []int{400}, Handler: s.rulesDiff},
		{Method: "POST", Path: "/v1/rules/what-if", Summary: "What a proposed change would do to every tenant's live runs and staged data", Access: Admin, Timeout: long, Cost: 5,
			Request: WhatIfRequest{}, Response: map[string]any{}, Errors: []int{400}, CrossTenant: true, Handler: s.rulesWhatIf},
	} {
		s.Add(rt)
	}
}

// RuleHistory is GET /v1/rules/revisions. Cursor, when set, is the
// cursor= of the next page; a page without it is the last.
type RuleHistory struct {
	Revisions []RuleRevision `json:"revisions"`
	Cursor    string         `json:"cursor,omitempty"`
}

// RevisionPage is how many revisions a page of GET /v1/rules/revisions
// holds when the request names a cursor and no limit, and MaxRevisionPage
// the most one answer holds.
const (
	RevisionPage    = 100
	MaxRevisionPage = 1000
	// MaxRevisionPageBytes bounds the revisions' JSON in one answer: a
	// page that would pass it ends before, with a cursor to go on (it
	// holds at least one revision).
	MaxRevisionPageBytes = 1 << 20
)

// revisionKey is what a cursor of GET /v1/rules/revisions names: the
// last revision of the page before.
type revisionKey struct {
	Revision int64 `json:"revision"`
}

// maxRevisionCursor bounds the cursor= of GET /v1/rules/revisions.
const maxRevisionCursor = 128

// revisionCursor reads GET /v1/rules/revisions's cursor= (0 and given
// false when absent). A bad one is answered 400 and ok is false.
func revisionCursor(w http.ResponseWriter, r *http.Request) (after int64, given, ok bool) {
	v := r.URL.Query().Get("cursor")
	if v == "" {
		return 0, false, true
	}
	var k revisionKey
	var err error
	if len(v) > maxRevisionCursor {
		err = errors.New("too long")
	} else if b, derr := base64.RawURLEncoding.DecodeString(v); derr != nil {
		err = derr
	} else {
		err = decodeCursor(b, &k)
	}
	if err != nil || k.Revision < 1 {
		writeErr(w, http.StatusBadRequest, "invalid", "cursor", "not a cursor of the rules revisions: give the cursor of the page before")
		return 0, true, false
	}
	return k.Revision, true, true
}

// RuleList is GET /v1/rules: the console's rules timeline.
type RuleList struct {
	AsOf  string      `json:"asOf"`
	Rules []RuleEntry `json:"rules"`
}

// RuleEntry is a rule's state on the asked date and its enforcement steps
// (in force, suspended until a date, not enforced), in date order.
type RuleEntry struct {
	policy.RuleStatus
	Enforcement []RuleStep `json:"enforcement"`
}

// RuleStep is one enforcement step: State holds from From ("" for a
// rule's first step: from its effective date); Until ends a suspension.
type RuleStep struct {
	State string `json:"state"`
	From  string `json:"from,omitempty"`
	Until string `json:"until,omitempty"`
}

func (s *Server) rulesList(w http.ResponseWriter, r *http.Request) {
	now := s.now().UTC()
	asOf := catalog.Date{Time: time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)}
	if v := r.URL.Query().Get("asOf"); v != "" {
		// The date's error quotes the value whole: the refusal quotes
		// at most 64 bytes of it (clip), as every refusal of a query
		// value does.
		d, err := catalog.ParseDate(v)
		if err != nil {
			writeErr(w, http.StatusBadRequest, "invalid", "asOf", fmt.Sprintf("%s: want a date, YYYY-MM-DD, from %d to %d", clip(v), catalog.MinDateYear, catalog.MaxDateYear))
			return
		}
		asOf = d
	}
	e, err := s.rules.Law()
	if err != nil {
		fail(w, err) // 503 law_unavailable, as a plan is answered
		return
	}
	out := RuleList{AsOf: asOf.String(), Rules: []RuleEntry{}}
	for _, st := range e.Rules(asOf) {
		ent := RuleEntry{RuleStatus: st, Enforcement: []RuleStep{}}
		if rule, ok := e.Rule(st.ID); ok {
			for _, step := range rule.Enforcement {
				rs := RuleStep{State: step.State}
				if !step.From.IsZero() {
					rs.From = step.From.String()
				}
				if !step.Until.IsZero() {
					rs.Until = step.Until.String()
				}
				ent.Enforcement = append(ent.Enforcement, rs)
			}
		}
		if ent.Sources == nil {
			ent.Sources = []string{}
		}
		out.Rules = append(out.Rules, ent)
	}
	writeJSON(w, http.StatusOK, out)
}

func isAdmin(r *http.Request) bool { return PrincipalOf(r).Admin }

func adminOnly(w http.ResponseWriter, r *http.Request) bool {
	if isAdmin(r) {
		return true
	}
	writeErr(w, http.StatusForbidden, "forbidden", "", "changing or what-iffing the server's rules takes the admin token (the one in the server's client.json)")
	return false
}

func (s *Server) rulesApply(w http.ResponseWriter, r *http.Request) {
	if !adminOnly(w, r) {
		return
	}
	var req RulesApplyRequest
	if !decodeRuleChange(w, r, &req, "rules change") {
		return
	}
	res, err := s.rules.Apply(r.Context(), req, "admin of tenant "+tenantOf(r))
	if err != nil {
		rulesFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// MaxRuleProblems bounds the problems a refused rules change (or what-if)
// lists in its answer.
const MaxRuleProblems = 100

// rulesFail answers a rules change that was refused: problems in the files
// (400, the first MaxRuleProblems listed), no change (409), or a server
// fault.
func rulesFail(w http.ResponseWriter, err error) {
	var ps policy.Problems
	switch {
	case errors.As(err, &ps):
		// The problems quote the files (a rule's id, a field's value), and
		// the law's loader lists every one: a change of 4 MiB of broken
		// rules was answered with each of its problems twice, as the
		// message and as the list, tens of megabytes. The list holds the
		// first MaxRuleProblems, and the message those and how many more.
		msg := err.Error()
		if len(ps) > MaxRuleProblems {
			msg = fmt.Sprintf("%s\n%d more problems not shown (at most %d are listed); fix those above first", ps[:MaxRuleProblems].Error(), len(ps)-MaxRuleProblems, MaxRuleProblems)
			ps = ps[:MaxRuleProblems]
		}
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": boundError(Error{Code: "invalid", Field: "files", Message: msg}), "problems": ps})
	case errors.Is(err, rules.ErrUnchanged):
		writeErr(w, http.StatusConflict, "unchanged", "files", err.Error())
	default:
		var ie *InputError
		if errors.As(err, &ie) {
			writeErr(w, http.StatusBadRequest, "invalid", ie.Field, ie.Err.Error())
			return
		}
		fail(w, err)
	}
}

// InputError is a rules request the user must fix.
type InputError struct {
	Field string
	Err   error
}

func (e *InputError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// rulesHistory answers the revisions a page at a time (limit, cursor),
// as GET /v1/queue does. A request with neither (a client from before
// pages) gets every revision when they fit in MaxRevisionPage and a 400
// naming limit when they do not, never the first page passed off as the
// whole.
func (s *Server) rulesHistory(w http.ResponseWriter, r *http.Request) {
	limit, ok := queryInt(w, r, "limit", 0, 1, MaxRevisionPage, fmt.Sprintf("a number of revisions from 1 to %d", MaxRevisionPage))
	if !ok {
		return
	}
	after, cursor, ok := revisionCursor(w, r)
	if !ok {
		return
	}
	paged := limit > 0 || cursor
	switch {
	case !paged:
		limit = MaxRevisionPage
	case limit == 0:
		limit = RevisionPage
	}
	// The page is the revisions after the cursor's, oldest first, up to
	// limit and up to MaxRevisionPageBytes of them as JSON (a revision
	// names up to rules.MaxFiles files and gives a reason of up to
	// rules.MaxReason bytes: a thousand of them ran to tens of megabytes).
	// The service is asked RevisionPage at a time, and for one more than
	// the page can hold, to know whether another page follows; never for
	// more: the history grows with every change.
	page, last, more, err := s.revisionPage(r.Context(), after, int(limit))
	if err != nil {
		fail(w, err)
		return
	}
	if more && !paged {
		writeErr(w, http.StatusBadRequest, "invalid", "limit", fmt.Sprintf(
			"there are more rules revisions than an answer without limit holds (%d, or %d bytes): read them in pages with limit (at most %d) and cursor", MaxRevisionPage, MaxRevisionPageBytes, MaxRevisionPage))
		return
	}
	nextCursor := ""
	if more {
		b, err := json.Marshal(revisionKey{Revision: last})
		if err != nil {
			fail(w, err)
			return
		}
		nextCursor = base64.RawURLEncoding.EncodeToString(b)
	}
	// RuleHistory, from the revisions' JSON as revisionPage measured it.
	writePage(w, "revisions", page.items, pageField{"cursor", nextCursor})
}

// revisionPage reads the revisions after after, up to limit of them and
// MaxRevisionPageBytes of their JSON (at least one), from the service
// RevisionPage at a time; more says whether any follow the page, and last
// is the page's last revision. The page is its revisions' JSON as
// measured: it is written from that, not encoded again.
func (s *Server) revisionPage(ctx context.Context, after int64, limit int) (page rawPage, last int64, more bool, err error) {
	for {
		ask := min(limit+1-len(page.items), RevisionPage)
		h, err := s.rules.History(ctx, after, ask)
		if err != nil {
			return rawPage{}, 0, false, err
		}
		moved := false
		for _, rev := range h {
			if rev.Revision <= after {
				continue
			}
			after, moved = rev.Revision, true
			if len(page.items) == limit {
				return page, last, true, nil
			}
			if ok, err := page.add(rev, MaxRevisionPageBytes); err != nil {
				return rawPage{}, 0, false, err
			} else if !ok {
				return page, last, true, nil
			}
			last = rev.Revision
		}
		// Fewer than asked: the history ends here.
		if len(h) < ask || !moved {
			return page, last, false, nil
		}
	}
}

func (s *Server) rulesDiff(w http.ResponseWriter, r *http.Request) {
	var revs [2]int64
	for i, k := range []string{"from", "to"} {
		v := r.URL.Query().Get(k)
		if v == "" {
			revs[i] = -1
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeErr(w, http.StatusBadRequest, "invalid", k, "want a revision number (0: no rules applied)")
			return
		}
		revs[i] = n
	}
	d, err := s.rules.Diff(r.Context(), revs[0], revs[1])
	if err != nil {
		rulesFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) rulesWhatIf(w http.ResponseWriter, r *http.Request) {
	if !adminOnly(w, r) {
		return
	}
	var req WhatIfRequest
	if !decodeRuleChange(w, r, &req, "what-if request") {
		return
	}
	rep, err := s.rules.WhatIf(r.Context(), req)
	if err != nil {
		rulesFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// decodeRuleChange is decodeBody for a rules change or what-if: a body
// listing more than rules.MaxFiles files, or names to remove, is refused
// before it is decoded, as decodeDocuments refuses too many documents.
// Decoded first, 4 MiB of empty files ({}, three bytes each) made 1.4
// million of them, about 590 MiB allocated and two seconds of a
// processor's time, before the rules refused the 257th.
func decodeRuleChange(w http.ResponseWriter, r *http.Request, v any, what string) bool {
	body, ok := readJSONBody(w, r, v, what)
	if !ok {
		return false
	}
	for _, key := range []string{"files", "remove"} {
		if arrayOver(body, key, rules.MaxFiles) && json.Valid(body) {
			writeErr(w, http.StatusBadRequest, "invalid", key, fmt.Sprintf("more than %d entries: a rules change names at most %d rule files (split it)", rules.MaxFiles, rules.MaxFiles))
			return false
		}
	}
	return unmarshalBody(w, body, v, what)
}
