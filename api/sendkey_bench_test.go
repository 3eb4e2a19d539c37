package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
)

// BenchmarkSendKeyCall is the whole call `meridian dataset send-key`
// waits for, PUT /v1/datasets/{name}/key over a real connection: the
// dataset's registration confirmed, the key's record appended to the
// audit log, the key stored, and the runs held for it brought forward.
// The tenant has held (0, 1,000 or 10,000 runs, copies of a submitted
// one), each waiting for the key of a dataset of its own; one of them
// waits for the key sent, and is held again (outside the timer) after
// each call, so that every call brings one run forward.
//
//	go test ./api -run '^$' -bench SendKeyCall -benchtime 50x
func BenchmarkSendKeyCall(b *testing.B) {
	for _, held := range []int{0, 1000, 10000} {
		b.Run(fmt.Sprintf("held=%d", held), func(b *testing.B) {
			f := newFixtureWith(b, fixtureOptions{Witnessed: true})
			// A server of its own, with no bound on the calls that
			// append to the audit log: the default would refuse the
			// 121st key in a row, and the limit is not what is timed.
			srv := httptest.NewServer(New(f.c, Options{Tokens: f.st, Audit: f.st, AuditedRateLimit: &RateLimit{Rate: 1e9, Burst: 1 << 30}}))
			b.Cleanup(srv.Close)
			ctx := context.Background()
			c := NewClient(srv.URL, tokA)
			ds := fmt.Sprintf("apiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: ds}\nspec: {origin: SG, classification: public, sizeBytes: 1.0e5, store: %q}\n", "file://"+filepath.Join(f.dir, "store"))
			if _, err := c.Apply(ctx, []run.Document{{Name: "ds.yaml", Content: ds}}, false); err != nil {
				b.Fatal(err)
			}
			mine := storeHeldRuns(b, f, held)
			key, err := seal.NewKey()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := c.PutKey(ctx, "ds", key.String()); err != nil {
					b.Fatal(err)
				}
				if mine == "" {
					continue
				}
				b.StopTimer()
				holdAgain(b, f.st, mine)
				b.StartTimer()
			}
		})
	}
}

// storeHeldRuns stores n held runs of tenant a, copies of a run submitted
// through the controller, each held for the key of a dataset of its own
// (other-N) but one, the middle one, held for the key of ds: its id is
// returned ("" when n is 0).
func storeHeldRuns(b *testing.B, f *fixture, n int) string {
	b.Helper()
	if n == 0 {
		return ""
	}
	ctx := context.Background()
	first, _, err := f.c.Submit(ctx, "a", run.SubmitRequest{Documents: []run.Document{{Name: "j.yaml", Content: jobYAML}}})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	mine := ""
	start := time.Now()
	for i := range n {
		name := fmt.Sprintf("other-%d", i)
		if i == n/2 {
			name = "ds"
		}
		d := first.Data
		d.Attempts = []run.Attempt{{N: 1, Site: "alpha", Nonce: "0123456789abcdef"}}
		d.Hold = &run.Hold{Reason: "the server holds no key of dataset " + name + "; the run waits held rather than fail, and tries the staging again in 1h0m0s",
			Code: policy.CodeNotNow, Since: now, NextTry: now.Add(time.Hour), Tries: 1, KeyDataset: name}
		data, err := json.Marshal(d)
		if err != nil {
			b.Fatal(err)
		}
		row := &store.Run{ID: fmt.Sprintf("held-%06d", i), Tenant: "a", Job: first.Job, State: string(run.Held), Site: "alpha", Attempt: 1, Data: data}
		if _, _, err := f.st.CreateRun(ctx, row, "", store.Change{}); err != nil {
			b.Fatal(err)
		}
		if name == "ds" {
			mine = row.ID
		}
	}
	b.Logf("%d held runs stored in %s", n, time.Since(start).Round(time.Millisecond))
	return mine
}

// holdAgain puts the next try of held run id an hour away again, as it
// was before a key brought it forward; it fails the benchmark if the
// call before did not bring it forward.
func holdAgain(b *testing.B, st store.Store, id string) {
	b.Helper()
	_, err := st.UpdateRun(context.Background(), id, func(row *store.Run) (store.Change, error) {
		var d run.Data
		if err := json.Unmarshal(row.Data, &d); err != nil {
			return store.Change{}, err
		}
		if d.Hold == nil || time.Until(d.Hold.NextTry) > time.Minute {
			return store.Change{}, fmt.Errorf("run %s was not brought forward by the key: %+v", id, d.Hold)
		}
		d.Hold.NextTry = time.Now().UTC().Add(time.Hour)
		data, err := json.Marshal(d)
		if err != nil {
			return store.Change{}, err
		}
		row.Data = data
		return store.Change{}, nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
