package planner

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/estimate"
	"meridian.dev/meridian/policy"
)

// This file holds simple, real implementations of the planner's
// dependencies for unit tests: a table-driven law and a 6ND estimator.
// Whole-plan golden tests use the real policy and estimate packages.

// tableLaw denies by (country, accelerator) and obliges by country.
type tableLaw struct {
	deny        map[string]policy.Finding // key "CC/acc" or "CC/*"
	obligations map[string][]policy.Finding
	advisories  map[string][]policy.Finding
	bases       map[string]string // dataset → basis
	mu          sync.Mutex        // sessions of one plan run on several goroutines
	calls       map[string]int    // site/pool → evaluations
	sessionErr  error
	silentDeny  bool // deny everything without a reason
}

func (l *tableLaw) Session(q policy.Query) (Session, error) {
	if l.sessionErr != nil {
		return nil, l.sessionErr
	}
	if l.calls == nil {
		l.calls = map[string]int{}
	}
	return &tableSession{l: l, q: q}, nil
}

type tableSession struct {
	l *tableLaw
	q policy.Query
}

func (s *tableSession) Evaluate(site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator) policy.Decision {
	s.l.mu.Lock()
	s.l.calls[site.Metadata.Name+"/"+pool.Accelerator]++
	s.l.mu.Unlock()
	cc := site.Spec.Country
	if s.l.silentDeny {
		return policy.Decision{}
	}
	var d policy.Decision
	for _, k := range []string{cc + "/" + acc.ID, cc + "/*"} {
		if f, ok := s.l.deny[k]; ok {
			d.Denials = append(d.Denials, f)
		}
	}
	d.Allowed = len(d.Denials) == 0
	d.Obligations = s.l.obligations[cc]
	d.Advisories = s.l.advisories[cc]
	for _, ds := range s.q.Datasets {
		if b, ok := s.l.bases[ds.Metadata.Name]; ok {
			d.Transfers = append(d.Transfers, policy.Transfer{Dataset: ds.Metadata.Name, From: ds.Spec.Origin, To: cc, Basis: b})
		}
	}
	return d
}

// sixND estimates 6 × parameters × tokens FLOPs at a fixed utilisation and
// 16 bytes of training state per parameter.
type sixND struct {
	mfu    float64
	fail   string          // accelerator id whose estimate fails
	spread estimate.Spread // of every estimate; zero for none
}

func (e *sixND) TrainingFLOPs(j *catalog.TrainingJobSpec) float64 {
	return 6 * j.Model.Active() * j.Tokens
}

func (e *sixND) MinCount(j *catalog.TrainingJobSpec, acc *catalog.Accelerator) int {
	if !acc.MemoryGB.Known() {
		return 0
	}
	return int(math.Ceil(j.Model.Parameters * 16 / (acc.MemoryGB.V() * 1e9)))
}

func (e *sixND) Estimate(in estimate.Input) (estimate.Result, error) {
	if in.Accelerator.ID == e.fail {
		return estimate.Result{}, fmt.Errorf("no bf16TFLOPS for %s", in.Accelerator.ID)
	}
	peak, _ := in.Accelerator.PeakTFLOPS(in.Job.PrecisionOrDefault())
	flops := e.TrainingFLOPs(in.Job)
	h := flops / (float64(in.Count) * peak * 1e12 * e.mfu) / 3600
	return estimate.Result{FLOPs: flops, Hours: h, AcceleratorHours: h * float64(in.Count),
		CostUSD: h * float64(in.Count) * in.PricePerHour, MFU: e.mfu, Fits: true, Spread: e.spread}, nil
}

func fact(v float64) catalog.Fact { return catalog.Fact{Value: &v, Source: "test fixture"} }

// testWorld builds a world of the built-in countries, two test accelerators
// and the resources in docs (YAML), with no built-in sites.
func testWorld(t testing.TB, docs ...string) *catalog.World {
	t.Helper()
	w, err := catalog.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w.ReplaceSites()
	accs := map[string]*catalog.Accelerator{}
	for k, v := range w.Accelerators {
		accs[k] = v
	}
	accs["test-fast"] = &catalog.Accelerator{ID: "test-fast", Origin: "US", DataCenter: true, BF16TFLOPS: fact(1000), MemoryGB: fact(80)}
	accs["test-slow"] = &catalog.Accelerator{ID: "test-slow", Origin: "CN", DataCenter: true, BF16TFLOPS: fact(250), MemoryGB: fact(32)}
	w.Accelerators = accs
	countries := map[string]*catalog.Country{}
	for k, v := range w.Countries {
		countries[k] = v
	}
	for _, c := range []*catalog.Country{{ISO: "DE", EU: true, EEA: true}, {ISO: "FR", EU: true, EEA: true}} {
		if countries[c.ISO] == nil {
			countries[c.ISO] = c
		}
	}
	w.Countries = countries
	set, err := catalog.Decode("world.yaml", []byte(strings.Join(docs, "\n---\n")))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add(set); err != nil {
		t.Fatal(err)
	}
	return w
}

func site(name, country string, gbps, egress float64, pools ...string) string {
	return fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: %s}
spec:
  country: %s
  location: {lat: 0, lon: 0}
  operator: {name: op, headquarters: %s}
  pools:
%s
  network: {egressPerGB: %g, gbps: %g}`, name, country, country, strings.Join(pools, "\n"), egress, gbps)
}

func pool(acc string, count, avail int, price float64) string {
	return fmt.Sprintf("    - {accelerator: %s, count: %d, available: %d, pricePerHour: %g}", acc, count, avail, price)
}

const testOrg = `apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: lab}
spec: {headquarters: CN}`

func dataset(name, location string, size float64) string {
	loc := ""
	if location != "" {
		loc = "\n  location: " + location
	}
	return fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: Dataset
metadata: {name: %s}
spec:
  origin: CN%s
  sizeBytes: %g
  classification: public`, name, loc, size)
}

// job is a 10B-parameter model on 1e11 tokens (6e21 FLOPs) plus extra spec lines.
func job(extra ...string) string {
	return `apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: j}
spec:
  organization: lab
  model: {parameters: 1.0e10}
  method: pretrain
  tokens: 1.0e11
` + strings.Join(extra, "\n")
}

func mustMake(t testing.TB, w *catalog.World, law Law, est Estimator, opts Options) *Plan {
	t.Helper()
	opts.Rules, opts.Estimator = law, est
	if opts.AsOf.IsZero() {
		opts.AsOf = catalog.MustDate("2026-01-01")
	}
	p, err := Make(w, w.Jobs[0], opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
