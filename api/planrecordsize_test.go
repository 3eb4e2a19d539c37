package api

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/internal/catalogtest"
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
	cat := catalogtest.WriteSites(t, dir, catalogtest.HugePlanSites)
	huge := run.New(run.Config{Store: st, StateDir: dir, CatalogDir: cat,
		Plan: catalogtest.Plan, Backends: catalogtest.Backends})
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
