package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// BenchmarkQueueOtherTenantCall is what another tenant's held runs cost a
// tenant's GET /v1/queue: tenant A, with no held run, asks while tenant B
// has 0, 1,000 or 10,000 held. shared: A's calls one after another, each
// answered from the order computed for the first of them; first: each
// call the first after a change of this controller that can move the
// order, so that it reads and orders every tenant's held runs itself.
//
//	go test ./api -run '^$' -bench QueueOtherTenantCall -benchtime 5x
func BenchmarkQueueOtherTenantCall(b *testing.B) {
	for _, n := range []int{0, 1_000, 10_000} {
		b.Run(fmt.Sprintf("held=%d", n), func(b *testing.B) {
			f := newFixtureWith(b, fixtureOptions{})
			ctx := context.Background()
			since := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			data, _ := json.Marshal(run.Data{AsOf: "2026-12-01", Hold: &run.Hold{Reason: "waiting for capacity", Wait: run.WaitCapacity, Since: since, NextTry: since.Add(time.Hour)}})
			for i := range n {
				r := &store.Run{ID: fmt.Sprintf("run-%06d", i), Tenant: "b", Job: "j", State: string(run.Held), Data: data}
				if _, _, err := f.st.CreateRun(ctx, r, "", store.Change{}); err != nil {
					b.Fatal(err)
				}
			}
			a := NewClient(f.srv.URL, tokA)
			get := func() {
				var q QueueList
				if _, _, err := a.do(ctx, http.MethodGet, "/v1/queue", nil, &q); err != nil || len(q.Queue) != 0 {
					b.Fatal(len(q.Queue), err)
				}
			}
			b.Run("shared", func(b *testing.B) {
				get()
				b.ReportAllocs()
				for b.Loop() {
					get()
				}
			})
			b.Run("first", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					// The fixture has no quotas: setting none again changes nothing
					// but is a write that can move the order, as a run held is.
					f.c.SetQuotas(nil)
					get()
				}
			})
		})
	}
}
