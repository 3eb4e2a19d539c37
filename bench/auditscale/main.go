// Command auditscale times what readers of a long history wait for: the
// transfer ledger's records of one tenant (read by every staging, its
// totals and its open intents), GET /v1/audit of one tenant, first page and
// whole, and GET /v1/runs/{id}/logs from an offset near the end of a run's
// 16 MiB output (what each poll of a followed log asks). It fills a SQLite
// store with runs of three tenants, each with a plan, a decision, state
// changes, a transfer intent and a confirmation, payloads the size the
// demo's are. bench/audit-scale.sh runs it at two commits side by side.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

func main() {
	runs := flag.Int("runs", 3000, "runs in the log, spread over three tenants")
	rounds := flag.Int("rounds", 5, "times each read is timed (the median is printed)")
	flag.Parse()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "auditscale")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("auditscale key 0123456789abcdef")})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	tenants := []string{"t0", "t1", "t2"}
	pad := func(n int) map[string]string { return map[string]string{"pad": strings.Repeat("x", n)} }
	for i := range *runs {
		tenant := tenants[i%len(tenants)]
		id := fmt.Sprintf("run-%012d", i)
		// A run carries its documents (a job of about 2 KB), as submitted.
		doc, _ := json.Marshal(run.Run{ID: id, Tenant: tenant, Job: "j", State: run.Succeeded,
			Data: run.Data{Documents: []run.Document{{Name: "job.yaml", Content: strings.Repeat("# a line of a job's YAML\n", 80)}}}})
		recs := []audit.Record{rec(audit.KindPlan, id, tenant, pad(9000)), rec(audit.KindDecision, id, tenant, pad(1400))}
		for range 5 {
			recs = append(recs, rec(audit.KindState, id, tenant, pad(200)))
		}
		recs = append(recs,
			rec(transfer.KindIntent, id, tenant, transfer.Intent{ID: id, Entry: transfer.Entry{Dataset: "d", Site: "s", Bytes: 1 << 20}, Objects: []transfer.Object{{Key: strings.Repeat("k", 900), Bytes: 1 << 20}}}),
			rec(transfer.KindTransfer, id, tenant, transfer.Entry{Intent: id, Dataset: "d", Site: "s", Bytes: 1 << 20, BytesSent: 1 << 20, Complete: true}))
		if _, _, err := st.CreateRun(ctx, &store.Run{ID: id, Tenant: tenant, Job: "j", State: string(run.Succeeded), Data: doc}, "", store.Change{Audit: recs}); err != nil {
			log.Fatal(err)
		}
	}
	es, err := st.AuditEntries(ctx, "")
	if err != nil {
		log.Fatal(err)
	}
	var size int
	for _, e := range es {
		size += len(e.Payload)
	}
	fmt.Printf("log: %d runs, %d entries, %.1f MB of payloads\n", *runs, len(es), float64(size)/1e6)

	c := run.New(run.Config{Store: st, StateDir: dir})
	if _, err := api.AddToken(ctx, st, "t0", strings.Repeat("a", 40), false, "bench", "bench"); err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(api.New(c, api.Options{Tokens: st, Audit: st, RateLimit: api.RateLimit{Rate: 1e6, Burst: 1e6}}))
	defer srv.Close()
	cl := api.NewClient(srv.URL, strings.Repeat("a", 40))
	led := transfer.AuditLedger{Store: st}

	timed := func(name string, f func() (int, error)) {
		var ds []time.Duration
		var n int
		for range *rounds {
			t0 := time.Now()
			got, err := f()
			if err != nil {
				log.Fatalf("%s: %v", name, err)
			}
			ds = append(ds, time.Since(t0))
			n = got
		}
		slices.Sort(ds)
		fmt.Printf("%-40s %8d %10.1f ms\n", name, n, float64(ds[len(ds)/2].Microseconds())/1000)
	}
	fmt.Printf("%-40s %8s %13s\n", "read", "entries", "median")
	timed("ledger records of one tenant", func() (int, error) {
		r, err := led.Records(ctx, "t0", transfer.KindIntent, transfer.KindTransfer, transfer.KindAbandoned)
		return len(r), err
	})
	timed("transfer totals of one tenant", func() (int, error) {
		s, err := transfer.Summarize(ctx, led, "t0")
		return len(s), err
	})
	timed("GET /v1/audit, one tenant, first answer", func() (int, error) {
		var l api.AuditList
		err := getJSON(srv.URL+"/v1/audit", &l)
		return len(l.Entries), err
	})
	timed("GET /v1/audit, one tenant, every page", func() (int, error) {
		es, err := cl.Audit(ctx, "")
		return len(es), err
	})

	// The first page as the client asks for it (a server without pages
	// answers every run).
	timed("GET /v1/runs, one tenant, first answer", func() (int, error) {
		var l api.RunList
		err := getJSON(srv.URL+"/v1/runs?limit=1000", &l)
		return len(l.Runs), err
	})
	timed("GET /v1/runs, one tenant, every page", func() (int, error) {
		rs, err := cl.List(ctx)
		return len(rs), err
	})

	// A run whose attempt kept 16 MiB of output, in the state directory's
	// layout (logs/RUN/attempt-N.log), read from 100 bytes before its end.
	id := "run-logs"
	doc, _ := json.Marshal(run.Run{ID: id, Tenant: "t0", Job: "j", State: run.Running, Data: run.Data{Attempts: []run.Attempt{{N: 1, Site: "alpha"}}}})
	if _, _, err := st.CreateRun(ctx, &store.Run{ID: id, Tenant: "t0", Job: "j", State: string(run.Running), Data: doc}, "", store.Change{}); err != nil {
		log.Fatal(err)
	}
	logPath := filepath.Join(dir, "logs", id, "attempt-1.log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(logPath, []byte(strings.Repeat("step 1234 loss 2.345\n", 16<<20/21)), 0o600); err != nil {
		log.Fatal(err)
	}
	_, logSize, err := cl.Logs(ctx, id, 0)
	if err != nil {
		log.Fatal(err)
	}
	timed("GET /v1/runs/{id}/logs, last 100 bytes", func() (int, error) {
		b, _, err := cl.Logs(ctx, id, logSize-100)
		return len(b), err
	})
}

func rec(kind, id, tenant string, v any) audit.Record {
	r, err := audit.NewRecord(kind, id, v)
	if err != nil {
		log.Fatal(err)
	}
	r.Tenant = tenant
	return r
}

func getJSON(url string, v any) error {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("a", 40))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
