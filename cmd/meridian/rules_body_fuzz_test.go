package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/screen"
	"meridian.dev/meridian/store"
)

// rulesFuzzAdmin is the admin token of FuzzRulesBodies's server.
const rulesFuzzAdmin = "fuzz-admin-token-0123456789abcdef0123456789"

// rulesFuzzServer is the API handler as serve builds it, rules routes
// served by the server's own rules service, on a SQLite store in a new
// directory under base with the built-in rule packs; its rate limits are
// off. close closes its store.
func rulesFuzzServer(base string) (h http.Handler, rs *rules.State, close func(), err error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp(base, "server")
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		return nil, nil, nil, err
	}
	close = func() { st.Close(); os.RemoveAll(dir) }
	if rs, err = rules.Open(ctx, st, nil); err != nil {
		close()
		return nil, nil, nil, err
	}
	scr := &screen.Screener{Store: &screen.Store{Dir: filepath.Join(dir, "screening")}}
	planLaw := screenPlanLaw{rs.Law(), scr}
	ctl := run.New(run.Config{Store: st, StateDir: dir, CatalogDir: filepath.Join("..", "..", "api", "testdata", "sites"),
		Plan: plannerOf(planUnder(planLaw, nil, "controller")), PlanWith: planUnder(planLaw, nil, "api"), LawNow: lawNowOf(rs, scr),
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		}})
	if _, err := api.AddToken(ctx, st, "ops", rulesFuzzAdmin, true, "fuzz admin", "test"); err != nil {
		close()
		return nil, nil, nil, err
	}
	a := api.New(ctl, api.Options{Tokens: st, Audit: st, RateLimit: api.RateLimit{}, AuditedRateLimit: &api.RateLimit{}})
	a.SetRules(&rulesService{rs: rs, scr: scr, ctl: ctl, now: time.Now})
	return a, rs, close, nil
}

// FuzzRulesBodies posts arbitrary bodies to POST /v1/rules and POST
// /v1/rules/what-if, as the admin, through serve's own rules service (the
// api package's tests only stand in for it). which's low bit picks the
// route; its second bit sends the input as the content of one rule file
// in a well-formed request, so that the rule loader, not only the JSON
// decoder, is reached. Each input meets the server as it starts (the
// built-in packs only): one that changed the law is followed by a new
// server, so that a finding reads the same when run again alone. Every
// answer is a 200, a 409 (no change) or a 4xx JSON error with a message,
// a refusal of what was decoded ("invalid") naming its field; never a 5xx
// or a panic. An accepted change is the law in force, its files as sent;
// a what-if changes nothing. Each request ends within a minute, and
// allocates less than rulesFuzzAllocFixed and rulesFuzzAllocPerByte a
// byte of its body: a blow-up out of all proportion to the body fails it,
// a cost in proportion does not (see rulesFuzzAllocPerByte).
func FuzzRulesBodies(f *testing.F) {
	for _, p := range []string{"../../examples/rules/org-policy.yaml", "../../examples/provenance-rules/model-provenance.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for which := range uint8(4) {
			files := []api.RuleFile{{Name: filepath.Base(p), Content: string(b)}}
			switch which {
			case 0:
				body, _ := json.Marshal(api.RulesApplyRequest{Files: files, Reason: "seed"})
				f.Add(which, body)
			case 1:
				body, _ := json.Marshal(api.WhatIfRequest{Files: files})
				f.Add(which, body)
			default:
				f.Add(which, b)
			}
		}
	}
	f.Add(uint8(0), []byte(`{"files":[],"remove":["org-policy.yaml"],"reason":"r"}`))
	f.Add(uint8(1), []byte(`{"files":[{"name":"a.yaml","content":"kind: RulePack"}],"asOf":"2026-02-30"}`))
	f.Add(uint8(1), []byte(`{"files":[{"name":"../a.yaml","content":""}]}`))
	f.Add(uint8(0), []byte(`{"files":[{}],"Reason":"r"}`))
	f.Add(uint8(2), []byte("apiVersion: meridian.dev/v1alpha1\nkind: RulePack\nmetadata: {name: x}\nrules:\n  - {id: x, jurisdiction: ORG, kind: org-policy, effect: deny, effectiveFrom: 2024-01-01, enforcement: in-force, confidence: confirmed, sources: [t], message: m, condition: \"site.country == 'FR'\"}\n"))
	base := f.TempDir()
	var (
		h     http.Handler
		rs    *rules.State
		close = func() {}
	)
	defer func() { close() }()
	f.Fuzz(func(t *testing.T, which uint8, in []byte) {
		if h == nil {
			var err error
			if h, rs, close, err = rulesFuzzServer(base); err != nil {
				t.Fatal(err)
			}
		}
		path := "/v1/rules"
		if which&1 == 1 {
			path = "/v1/rules/what-if"
		}
		body := in
		if which&2 != 0 {
			files := []api.RuleFile{{Name: "fuzz.yaml", Content: string(in)}}
			if path == "/v1/rules" {
				body, _ = json.Marshal(api.RulesApplyRequest{Files: files, Reason: "fuzz"})
			} else {
				body, _ = json.Marshal(api.WhatIfRequest{Files: files, AsOf: "2026-06-01"})
			}
		}
		before := rs.Current()
		req := httptest.NewRequest("POST", path, strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+rulesFuzzAdmin)
		req.Header.Set("Content-Type", api.BodyType)
		rec := httptest.NewRecorder()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		start := time.Now()
		h.ServeHTTP(rec, req)
		took := time.Since(start)
		runtime.ReadMemStats(&m1)
		if took > time.Minute {
			t.Fatalf("POST %s took %v for %d bytes", path, took, len(body))
		}
		if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > rulesFuzzAllocFixed+rulesFuzzAllocPerByte*uint64(len(body)) {
			t.Fatalf("POST %s allocated %d MiB for %d bytes", path, alloc>>20, len(body))
		}
		switch {
		case rec.Code == http.StatusOK:
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("POST %s: answer is not JSON: %q", path, rec.Body.String())
			}
		case rec.Code >= 400 && rec.Code < 500 && rec.Code != http.StatusTooManyRequests:
			var e api.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("POST %s: status %d with a body that is no JSON error: %q", path, rec.Code, rec.Body.String())
			}
			if e.Error.Code == "invalid" && e.Error.Field == "" {
				t.Fatalf("POST %s: status %d refuses %q naming no field: %+v", path, rec.Code, body, e.Error)
			}
		default:
			t.Fatalf("POST %s: status %d for %q: %s", path, rec.Code, body, rec.Body.String())
		}
		after := rs.Current()
		if path == "/v1/rules/what-if" || rec.Code != http.StatusOK {
			if after.Rev != before.Rev || after.Hash != before.Hash {
				t.Fatalf("POST %s answered %d and changed the law: revision %d to %d", path, rec.Code, before.Rev, after.Rev)
			}
			return
		}
		// An accepted change: the law in force is a new revision holding
		// the files as sent. The next input meets a new server.
		close()
		h, close = nil, func() {}
		var req2 api.RulesApplyRequest
		if err := json.Unmarshal(body, &req2); err != nil {
			t.Fatalf("accepted a body that does not decode: %v", err)
		}
		var res api.RulesApplyResult
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || res.Revision != after.Rev || after.Rev != before.Rev+1 {
			t.Fatalf("accepted as revision %d (%v); in force %d, before %d", res.Revision, err, after.Rev, before.Rev)
		}
		for _, f := range req2.Files {
			if got, ok := after.Files[f.Name]; !ok || got != f.Content {
				t.Fatalf("accepted file %q is not in force as sent", f.Name)
			}
		}
		for _, n := range req2.Remove {
			if _, ok := after.Files[n]; ok && !sentFile(req2.Files, n) {
				t.Fatalf("removed file %q is still in force", n)
			}
		}
	})
}

// The allocation FuzzRulesBodies allows a request: a bound on blow-ups
// out of proportion to the body (a document that expands as it is read),
// not on costs in proportion to it. Measured (on a shared machine), a
// request that loads a rule file allocates about 9 MiB however short its
// body (the built-in packs are loaded with it) and about 215 bytes a byte
// of rules past that; one refused before the rules are read, a few bytes a
// byte. A bound so tight that a list decoded whole before it was counted
// (the files and remove lists, 70 to 160 bytes a byte of a body of empty
// files, 0.8 MiB for 9 KB) would fail it fails rule files as they are sent
// too: that is checked with a large body (TestRuleChangeOfManyFilesBounded,
// api), not here.
const (
	rulesFuzzAllocFixed   = 64 << 20
	rulesFuzzAllocPerByte = 1 << 10
)

func sentFile(fs []api.RuleFile, name string) bool {
	for _, f := range fs {
		if f.Name == name {
			return true
		}
	}
	return false
}
