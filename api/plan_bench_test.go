package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/bench/synth"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// yamlDocs writes resources as one multi-document YAML file.
func yamlDocs(tb testing.TB, docs ...any) string {
	tb.Helper()
	var b strings.Builder
	for _, d := range docs {
		y, err := yaml.Marshal(d)
		if err != nil {
			tb.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.String()
}

// BenchmarkAPIPlan measures POST /v1/plans over HTTP against a server whose
// catalog holds 2,000 synthetic sites of 4 pools (bench/synth), read from
// files once when the server starts: per request, the token check, decoding
// the job's documents, the tenant's world over the cached catalog, the real
// planner with the built-in law, and the plan JSON (top 50). Jobs "cn" and
// "us" as in bench/plan-scale.sh.
func BenchmarkAPIPlan(b *testing.B) {
	for _, job := range synth.Jobs {
		b.Run(job, func(b *testing.B) { benchAPIPlan(b, 2000, job) })
	}
}

func benchAPIPlan(b *testing.B, sites int, jobName string) {
	dir := b.TempDir()
	w, err := catalog.Builtin()
	if err != nil {
		b.Fatal(err)
	}
	var docs []any
	for _, s := range synth.Sites(w, sites, 4, 1) {
		docs = append(docs, s)
	}
	catDir := filepath.Join(dir, "sites")
	os.MkdirAll(catDir, 0o755)
	if err := os.WriteFile(filepath.Join(catDir, "sites.yaml"), []byte(yamlDocs(b, docs...)), 0o644); err != nil {
		b.Fatal(err)
	}
	set := synth.JobNamed(jobName)
	jobDoc := yamlDocs(b, set.Organizations[0], set.Datasets[0], set.Jobs[0])
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	eng, err := policy.Builtin()
	if err != nil {
		b.Fatal(err)
	}
	law := planner.PolicyLaw(eng)
	var planning time.Duration
	c := run.New(run.Config{Store: st, StateDir: dir, CatalogDir: catDir,
		Plan: func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude, Rules: law})
		},
		PlanWith: func(w *catalog.World, job *catalog.TrainingJob, opts planner.Options) (*planner.Plan, error) {
			opts.Rules = law
			start := time.Now()
			defer func() { planning += time.Since(start) }()
			return planner.Make(w, job, opts)
		},
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		}})
	addTokens(b, st, Token{Tenant: "a", Token: tokA})
	srv := httptest.NewServer(New(c, Options{Tokens: st, Audit: st}))
	defer srv.Close()
	body, _ := json.Marshal(run.PlanRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobDoc}}, AsOf: "2025-06-01"})
	var size int64
	// post sends the request and receives the whole answer: kept when keep
	// is set (to check it), else counted as it arrives, as a client that
	// decodes it as a stream would.
	post := func(keep bool) []byte {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/plans", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tokA)
		req.Header.Set("Content-Type", BodyType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		if keep {
			data, err := io.ReadAll(resp.Body)
			if err != nil {
				b.Fatal(err)
			}
			size = int64(len(data))
			return data
		}
		if size, err = io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		return nil
	}
	// The first request reads the catalog files.
	var p planner.Plan
	if err := json.Unmarshal(post(true), &p); err != nil {
		b.Fatal(err)
	}
	if p.Summary.Candidates == 0 {
		b.Fatalf("no candidates: %+v", p.Summary)
	}
	planning = 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		post(false)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/plan")
	b.ReportMetric(float64(planning.Microseconds())/1000/float64(b.N), "ms-in-planner")
	b.ReportMetric(float64(size)/1e3, "kB-answer")
}
