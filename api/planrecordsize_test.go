package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// TestSubmitPlanTooLargeForRecord: POST /v1/runs of a job whose plan is
// over what a plan record may hold even without its rejections (17,500
// sites may take it, about a kB a placement) is answered 400 naming the
// job's constraints and the bound, and leaves no run. It was a 500: the
// store refused the plan record's audit append, naming no field.
func TestSubmitPlanTooLargeForRecord(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat := filepath.Join(dir, "sites")
	if err := os.MkdirAll(cat, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := range 17500 {
		fmt.Fprintf(&b, `---
apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: s%05d}
spec:
  country: SG
  location: {lat: 1.35, lon: 103.82}
  operator: {name: test-dc, headquarters: SG}
  pools:
    - {accelerator: nvidia-h100-sxm, count: 16, available: 8, pricePerHour: 1.0, priceSource: "test value"}
  network: {egressPerGB: 0.05, gbps: 10}
  backend: {type: local}
`, i)
	}
	if err := os.WriteFile(filepath.Join(cat, "sites.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	huge := run.New(run.Config{Store: st, StateDir: dir, CatalogDir: cat,
		Plan: func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude})
		},
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		}})
	f := newFixtureWith(t, fixtureOptions{Hide: func(Controller) Controller { return huge }})
	body, _ := json.Marshal(run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
	code, e := f.raw(t, "POST", "/v1/runs", tokA, string(body))
	if code != http.StatusBadRequest || e.Code != "invalid" || e.Field != "spec.constraints" || !strings.Contains(e.Message, "17500 placements") {
		t.Errorf("submit of a job with 17,500 lawful placements: %d %+v; want 400 invalid naming spec.constraints and the placements", code, e)
	}
	runs, err := st.ListRuns(context.Background(), store.ListOptions{AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 0 {
		t.Errorf("after the refusal: %d runs, want none", len(runs))
	}
}
