package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// noWatch hides the controller's WatchRun: streams fall back to reading
// every Streams.Poll, as they do for changes another replica records.
type noWatch struct{ Controller }

// BenchmarkEventLatency measures the time from a change to a run being
// recorded (a cancel request: one timeline event, committed by the
// controller in its store transaction) to the event arriving at a client
// of the run's event stream over a real loopback connection. One op is one
// such change. "signal": the controller signals the stream (one replica);
// "poll": no signal, the stream reads every Streams.Poll (1 s). On
// PostgreSQL (skipped without a test server, see internal/pgtest) another
// replica records the change: "listen", the database announces it to the
// stream's replica (Controller.ListenStore); "poll", it does not. p50 and
// p99 are reported besides the mean (ns/op), and ms-commit-p50: how much of
// it the cancel call itself took (its transaction; the signal goes out
// after its commit).
//
//	go test ./api -run '^$' -bench EventLatency -benchtime 50x
func BenchmarkEventLatency(b *testing.B) {
	for _, tc := range []struct {
		name   string
		hide   func(Controller) Controller
		pg     bool // another replica, on PostgreSQL, records the change
		listen bool
	}{
		{name: "signal"},
		{name: "poll", hide: func(c Controller) Controller { return noWatch{c} }},
		{name: "postgres-other-replica/listen", pg: true, listen: true},
		{name: "postgres-other-replica/poll", pg: true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			o := fixtureOptions{Limits: &DefaultLimits, Hide: tc.hide}
			if tc.pg {
				o.Postgres = pgtest.NewDatabase(b)
			}
			f := newFixtureWith(b, o)
			ctx := context.Background()
			changer := f.c
			if tc.pg {
				changer = otherReplica(b, f, o.Postgres)
			}
			if tc.listen {
				lctx, stop := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { f.c.ListenStore(lctx); close(done) }()
				b.Cleanup(func() { stop(); <-done })
			}
			cl := NewClient(f.srv.URL, tokA)
			var lat, commit []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				r, err := cl.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
				if err != nil {
					b.Fatal(err)
				}
				rd, closeStream := benchStream(b, f.srv.URL+"/v1/runs/"+r.ID+"/events?follow=1")
				readUntil(b, rd, func(ev SSE) bool { return ev.Event == "run" })
				b.StartTimer()
				t0 := time.Now()
				if _, err := changer.Cancel(ctx, "a", r.ID); err != nil {
					b.Fatal(err)
				}
				commit = append(commit, time.Since(t0))
				readUntil(b, rd, func(ev SSE) bool {
					var e store.Event
					return ev.Event == "event" && json.Unmarshal([]byte(ev.Data), &e) == nil && e.Kind == "cancel-requested"
				})
				lat = append(lat, time.Since(t0))
				b.StopTimer()
				closeStream()
				b.StartTimer()
			}
			b.StopTimer()
			slices.Sort(commit)
			b.ReportMetric(float64(commit[len(commit)/2].Microseconds())/1000, "ms-commit-p50")
			reportLatency(b, lat)
		})
	}
}

// benchStream opens the event stream at url as tenant a.
func benchStream(b *testing.B, url string) (*SSEReader, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		cancel()
		b.Fatalf("stream: %v %v", err, resp)
	}
	return NewSSEReader(resp.Body), func() { cancel(); resp.Body.Close() }
}

// readUntil reads events until one satisfies ok.
func readUntil(b *testing.B, rd *SSEReader, ok func(SSE) bool) {
	for {
		ev, err := rd.Next()
		if err != nil {
			b.Fatal(err)
		}
		if ok(ev) {
			return
		}
	}
}

// reportLatency reports lat's median and 99th percentile.
func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "ms-p99")
}

// BenchmarkRunsStream measures the tenant's runs stream: from a change to
// one of n runs (or b.N, when more) being recorded (a cancel request) to
// that run's event arriving at a client of GET /v1/runs?follow=1 over
// loopback. The stream reads the run that changed, whatever n is.
//
//	go test ./api -run '^$' -bench RunsStream -benchtime 50x
func BenchmarkRunsStream(b *testing.B) {
	for _, n := range []int{50, 500} {
		b.Run(fmt.Sprintf("runs-%d", n), func(b *testing.B) {
			f := newFixtureWith(b, fixtureOptions{Limits: &DefaultLimits, Streams: Streams{ListPoll: time.Hour}})
			ctx := context.Background()
			cl := NewClient(f.srv.URL, tokA)
			// Each op cancels a run not cancelled before: the list holds
			// at least b.N runs.
			var ids []string
			for range max(n, b.N) {
				r, err := cl.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobYAML}}})
				if err != nil {
					b.Fatal(err)
				}
				ids = append(ids, r.ID)
			}
			rd, closeStream := benchStream(b, f.srv.URL+"/v1/runs?follow=1")
			defer closeStream()
			readUntil(b, rd, func(ev SSE) bool { return ev.Event == "runs" })
			var lat []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := ids[i]
				t0 := time.Now()
				if _, err := f.c.Cancel(ctx, "a", id); err != nil {
					b.Fatal(err)
				}
				readUntil(b, rd, func(ev SSE) bool {
					var r run.Run
					return ev.Event == "run" && json.Unmarshal([]byte(ev.Data), &r) == nil && r.ID == id
				})
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			reportLatency(b, lat)
		})
	}
}
