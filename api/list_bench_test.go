package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// withDocuments lists runs as the API did before lists left documents out:
// each run read whole from the store, documents and all.
type withDocuments struct {
	Controller
	st store.Store
}

func (c *withDocuments) ListPage(ctx context.Context, tenant, after string, limit int) ([]*run.Run, error) {
	rows, err := c.st.ListRuns(ctx, store.ListOptions{Tenant: tenant, After: after, Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]*run.Run, 0, len(rows))
	for _, row := range rows {
		r := &run.Run{ID: row.ID, Tenant: row.Tenant, Job: row.Job, State: run.State(row.State), Site: row.Site}
		if err := json.Unmarshal(row.Data, &r.Data); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// BenchmarkListRunsCall is the whole call a user waits for, GET
// /v1/runs?limit=200 over a real connection, on a tenant whose 200 runs
// each carried 256 KiB of documents: read without the documents (now) and
// with them (before). The controller confirms runs against the audit
// log, as a server's does; with changedMarked, each run was found changed
// outside Meridian (its GET read it first: the runs here have no sealed
// submission record), and the list marks all 200 with the reason.
//
//	go test ./api -run '^$' -bench ListRunsCall -benchtime 20x
func BenchmarkListRunsCall(b *testing.B) {
	for _, bc := range []struct{ before, marked bool }{{false, false}, {true, false}, {false, true}} {
		before := bc.before
		name := fmt.Sprintf("documentsRead=%v", before)
		if bc.marked {
			name += "/changedMarked"
		}
		b.Run(name, func(b *testing.B) {
			w := &withDocuments{}
			o := fixtureOptions{Witnessed: true}
			if before {
				o.Hide = func(c Controller) Controller { w.Controller = c; return w }
			}
			f := newFixtureWith(b, o)
			w.st = f.st
			ctx := context.Background()
			doc := strings.Repeat("#", 256<<10)
			for i := range 200 {
				data, _ := json.Marshal(run.Data{Documents: []run.Document{{Name: "job.yaml", Content: doc}}, AsOf: "2026-12-01"})
				r := &store.Run{ID: fmt.Sprintf("run-%06d", i), Tenant: "a", Job: "j", State: string(run.Succeeded), Data: data}
				if _, _, err := f.st.CreateRun(ctx, r, "", store.Change{}); err != nil {
					b.Fatal(err)
				}
			}
			c := NewClient(f.srv.URL, tokA)
			for i := range 200 {
				if !bc.marked {
					break
				}
				var got RunShown
				if _, _, err := c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/runs/run-%06d", i), nil, &got); err != nil || !got.ChangedOutsideMeridian {
					b.Fatal(got.ChangedOutsideMeridian, err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				var page RunList
				if _, _, err := c.do(ctx, http.MethodGet, "/v1/runs?limit=200", nil, &page); err != nil || len(page.Runs) != 200 {
					b.Fatal(len(page.Runs), err)
				}
			}
		})
	}
}
