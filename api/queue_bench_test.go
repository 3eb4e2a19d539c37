package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// BenchmarkQueueCall is the whole call a user waits for, GET /v1/queue
// over a real connection, with 10,000 runs of two tenants waiting for
// capacity. shared: the two tenants ask at once, as a busy server's
// clients do, and calls share the order computed for another's; first:
// each call the first after a change of this controller that can move
// the order, so that it computes the order itself (as every call did
// before).
//
//	go test ./api -run '^$' -bench QueueCall -benchtime 5x
func BenchmarkQueueCall(b *testing.B) {
	f := newFixtureWith(b, fixtureOptions{})
	ctx := context.Background()
	since := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	const n = 10_000
	for i := range n {
		tenant := []string{"a", "b"}[i%2]
		data, _ := json.Marshal(run.Data{AsOf: "2026-12-01", Hold: &run.Hold{Reason: "waiting for capacity", Wait: run.WaitCapacity, Since: since, NextTry: since.Add(time.Hour)}})
		r := &store.Run{ID: fmt.Sprintf("run-%06d", i), Tenant: tenant, Job: "j", State: string(run.Held), Data: data}
		if _, _, err := f.st.CreateRun(ctx, r, "", store.Change{}); err != nil {
			b.Fatal(err)
		}
	}
	clients := []*Client{NewClient(f.srv.URL, tokA), NewClient(f.srv.URL, tokB)}
	get := func(c *Client) {
		var q QueueList
		if _, _, err := c.do(ctx, http.MethodGet, "/v1/queue", nil, &q); err != nil || len(q.Queue) != n/2 {
			b.Fatal(len(q.Queue), err)
		}
	}
	b.Run("shared", func(b *testing.B) {
		var i atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			c := clients[i.Add(1)%2]
			for pb.Next() {
				get(c)
			}
		})
	})
	b.Run("first", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			// The fixture has no quotas: setting none again changes nothing
			// but is a write that can move the order, as a run held is.
			f.c.SetQuotas(nil)
			get(clients[0])
		}
	})
}
