package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/internal/catalogtest"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// TestRunPlanTooLargeForRecord: meridian run of a job whose plan is over
// what a plan record may hold even without its rejections (17,500 sites
// may take it) exits 2 with the server's message, naming the job's
// constraints and the bound. The server failed the submission with an
// internal error (the store refused the plan record), and the CLI said
// only that the server had a fault.
func TestRunPlanTooLargeForRecord(t *testing.T) {
	isolatedConfig(t)
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat := catalogtest.WriteSites(t, dir, catalogtest.HugePlanSites)
	c := run.New(run.Config{Store: st, StateDir: dir, CatalogDir: cat,
		Plan: catalogtest.Plan, Backends: catalogtest.Backends})
	tok := api.NewToken()
	if _, err := api.AddToken(ctx, st, "lab", tok, false, "test", "test"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(c, api.Options{Tokens: st, Audit: st}))
	defer srv.Close()
	job := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(job, []byte(`apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: lab}
spec: {headquarters: SG}
---
apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: tiny}
spec:
  organization: lab
  model: {parameters: 1.0e6}
  method: pretrain
  tokens: 1.0e6
  workload: {command: [/bin/true]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := runRoot(t, "run", "-f", job, "--server", srv.URL, "--token", tok)
	if code != exitBadInput || !strings.Contains(out, "spec.constraints") || !strings.Contains(out, "17500 placements") || !strings.Contains(out, fmt.Sprint(store.MaxAuditPayloadBytes/2)) {
		t.Errorf("run of a job with 17,500 lawful placements: exit %d, want %d naming spec.constraints, the placements and the bound:\n%s", code, exitBadInput, out)
	}
	runs, err := st.ListRuns(ctx, store.ListOptions{AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 0 {
		t.Errorf("after the refusal: %d runs, want none", len(runs))
	}
}
