package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"meridian.dev/meridian/run"
)

// scrape reads /metrics as the admin and returns Meridian's own series (no
// Go or process ones), each as its name and labels, with its text.
func (mx *matrix) scrape(t *testing.T) (map[string]bool, string) {
	t.Helper()
	status, body := mx.do(t, http.MethodGet, "/metrics", tokAdmin, "")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d: %s", status, body)
	}
	series := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "meridian_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		series[line[:i]] = true
	}
	return series, string(body)
}

// TestMetricsCardinality: tenants choose the names of their runs, jobs,
// organisations and datasets, and the paths they ask for; none of them is
// a metric's label. A hundred of each add no series, and no name (nor a
// tenant's) shows in what Prometheus reads.
func TestMetricsCardinality(t *testing.T) {
	mx := newSQLiteMatrix(t)
	ctx := context.Background()
	owner, other := NewClient(mx.srv.URL, tokOwner), NewClient(mx.srv.URL, tokOther)

	// names does, for each of n names, what a tenant may ask with a name
	// of its choosing.
	home := mx.secrets[3] // the state directory's home store
	names := func(from, n int) []string {
		var chosen []string
		for i := from; i < from+n; i++ {
			org, job, ds := fmt.Sprintf("card-org-%03d", i), fmt.Sprintf("card-job-%03d", i), fmt.Sprintf("card-ds-%03d", i)
			chosen = append(chosen, org, job, ds)
			doc := fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: %[1]s}
spec: {headquarters: SG}
---
apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: %[2]s}
spec:
  organization: %[1]s
  model: {parameters: 1.0e6}
  method: pretrain
  tokens: 1.0e6
  workload: {command: [/bin/sh, -c, "true"]}
`, org, job)
			docs := []run.Document{{Name: job + ".yaml", Content: doc}}
			cl := owner
			if i%2 == 1 {
				cl = other
			}
			r, err := cl.Submit(ctx, run.SubmitRequest{Documents: docs})
			if err != nil {
				t.Fatalf("submit %s: %v", job, err)
			}
			chosen = append(chosen, r.ID)
			if _, err := cl.Plan(ctx, run.PlanRequest{Documents: docs}, 0); err != nil {
				t.Fatalf("plan %s: %v", job, err)
			}
			dsDoc := fmt.Sprintf("apiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: %s}\nspec: {origin: SG, classification: public, sizeBytes: 1.0e5, store: %q}\n", ds, home)
			if _, err := cl.Apply(ctx, []run.Document{{Name: ds + ".yaml", Content: dsDoc}}, false); err != nil {
				t.Fatalf("register %s: %v", ds, err)
			}
			// Answers the server refuses: a run, a dataset and a path
			// that are not there.
			for _, p := range []string{"/v1/runs/" + job, "/v1/datasets/" + ds + "/verify", "/v1/" + org} {
				method := http.MethodGet
				if strings.HasSuffix(p, "/verify") {
					method = http.MethodPost
				}
				if status, body := mx.do(t, method, p, tokOwner, `{"site": "alpha"}`); status < 400 {
					t.Fatalf("%s %s: %d: %s", method, p, status, body)
				}
			}
		}
		return chosen
	}

	names(0, 5)
	mx.scrape(t) // a scrape is a request the next one counts
	before, _ := mx.scrape(t)
	chosen := names(5, 100)
	after, text := mx.scrape(t)
	t.Logf("%d series after 5 of each name, %d after 105", len(before), len(after))

	// The run gauge is read from the store: a run's state may move on
	// between the scrapes, to another of the few states at a catalog site.
	var added []string
	for s := range after {
		if !before[s] && !strings.HasPrefix(s, "meridian_runs{") {
			added = append(added, s)
		}
	}
	slices.Sort(added)
	if len(added) > 0 {
		t.Errorf("a hundred more names added %d series:\n%s", len(added), strings.Join(added, "\n"))
	}
	for _, name := range append(chosen, "acme", "beta", ownerOrg, ownerDataset) {
		if strings.Contains(text, `"`+name+`"`) {
			t.Errorf("the metrics hold the label value %q", name)
		}
	}
}
