package api

import (
	"context"
	"runtime"
	"testing"
	"time"

	"meridian.dev/meridian/store"
)

// BenchmarkRunsStreamFullPoll: one check of the whole list by a runs
// stream of a tenant with 60,000 runs (ended ones included: they are
// never deleted), none changed since the stream read them: every run's
// version read and compared with the one the stream holds. "whole" is the
// read before, all the versions at once, which the store refuses past
// store.MaxRunVersions (the stream then ended); "pages" reads them
// versionPage at a time. heldMB is the most the heap held over the check
// beyond what it held before it; run with GOGC=5 for it to follow what
// the check keeps, not the garbage a collection has not reached yet.
//
//	go test ./api -run '^$' -bench RunsStreamFullPoll -benchtime 5x
//	GOGC=5 go test ./api -run '^$' -bench RunsStreamFullPoll -benchtime 5x
func BenchmarkRunsStreamFullPoll(b *testing.B) {
	const n = 60000
	f := newFixtureWith(b, fixtureOptions{})
	sq, ok := f.st.(*store.SQLite)
	if !ok {
		b.Skip("the rows are written with SQLite's SQL")
	}
	if _, err := sq.DB().Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO runs (id, tenant, job, state, data, version, created_at, updated_at)
		SELECT printf('run-%06d', i), 'a', 'j', 'succeeded', '{}', 1, printf('2026-01-01T00:00:00.%06dZ', i), '2026-01-01T00:00:00Z' FROM n`, n); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	vers := make(map[string]int64, n) // what the stream holds: one version a run
	if err := eachVersions(ctx, f.c, "a", "", func(vs []store.RunVersion) error {
		for _, v := range vs {
			vers[v.ID] = v.Version
		}
		return nil
	}); err != nil || len(vers) != n {
		b.Fatal(len(vers), err)
	}
	var moved []string
	check := func(vs []store.RunVersion) error {
		moved = moved[:0]
		for _, v := range vs {
			if have, ok := vers[v.ID]; !ok || have != v.Version {
				moved = append(moved, v.ID)
			}
		}
		return nil
	}
	for _, bc := range []struct {
		name string
		poll func() error
	}{
		{"whole", func() error {
			vs, err := f.st.RunVersions(ctx, "a") // what the stream read before
			if err != nil {
				return err
			}
			return check(vs)
		}},
		{"pages", func() error { return eachVersions(ctx, f.c, "a", "", check) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var err error
			var peak uint64
			var m runtime.MemStats
			for b.Loop() {
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&m)
				stop := make(chan struct{})
				done := make(chan uint64)
				go func() { done <- heapPeak(stop) }()
				b.StartTimer()
				err = bc.poll()
				close(stop)
				if p := <-done; p > m.HeapInuse {
					peak = max(peak, p-m.HeapInuse)
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "heldMB")
			if err != nil {
				b.Logf("%s: %v", bc.name, err)
			}
		})
	}
}

// heapPeak samples the heap in use each millisecond until stop closes,
// returning the most it saw.
func heapPeak(stop <-chan struct{}) uint64 {
	var peak uint64
	var m runtime.MemStats
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapInuse)
		select {
		case <-stop:
			return peak
		case <-tick.C:
		}
	}
}
