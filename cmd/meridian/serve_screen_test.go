package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/screen"
)

// TestServerScreensOrganisations: a server screens a run's organisation
// against the list imported into its state directory, as the CLI's plan
// does, and picks up a list imported while it runs. An organisation that
// matches a list entry exactly gets no placement; a clean one runs.
func TestServerScreensOrganisations(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	tv := newTenants(t)
	ctx := context.Background()
	list, err := os.ReadFile(filepath.Join("..", "..", "screen", "testdata", "csl-sample-id.csv"))
	if err != nil {
		t.Fatal(err)
	}
	listed := []run.Document{{Name: "job.yaml", Content: jobFor("bluewater-trading", "AE", nil, "true")}}
	if _, err := tv.alpha.Submit(ctx, run.SubmitRequest{Documents: listed}); err != nil {
		t.Fatalf("before any list is imported, the organisation's declared status stands: %v", err)
	}
	st := &screen.Store{Dir: filepath.Join(tv.p.state, "screening")}
	if _, err := st.Import("consolidated.csv", list); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the server looks at the list's file at most once a second
	_, err = tv.alpha.Submit(ctx, run.SubmitRequest{Documents: listed})
	if statusOf(err) != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), "entry e1004") {
		t.Fatalf("a listed organisation's run: %v, want 422 naming the list entry e1004", err)
	}
	clean := []run.Document{{Name: "job.yaml", Content: jobFor("clean-lab", "FR", nil, "true")}}
	if _, err := tv.beta.Submit(ctx, run.SubmitRequest{Documents: clean}); err != nil {
		t.Fatalf("a clean organisation's run: %v", err)
	}
}
