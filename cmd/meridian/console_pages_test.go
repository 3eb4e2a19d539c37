package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"

	"meridian.dev/meridian/console"
)

// stubConsole is a server of the console and a stub of the API: healthz
// for any token, and the routes the test adds.
func stubConsole(t *testing.T, routes map[string]http.HandlerFunc) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, console.Handler())
	mux.HandleFunc("GET /v1/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"tenant":"default"}`))
	})
	for p, h := range routes {
		mux.HandleFunc(p, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestConsoleAuditPages: the audit page read every page of the tenant's
// log before it showed one entry, and filtered them in the browser: a
// tenant whose log had grown to millions of entries had its browser ask
// for all of them each time the page opened. The page now reads one page
// of the server's, and the next each time "more" is pressed; its filters
// apply to the entries read.
func TestConsoleAuditPages(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	b := newBrowser(t)
	// The log never ends within the test: every page names a next.
	const perPage, endless = 3, 200
	var asked atomic.Int64
	var limits atomic.Int64 // requests without a limit
	srv := stubConsole(t, map[string]http.HandlerFunc{
		"GET /v1/audit": func(w http.ResponseWriter, r *http.Request) {
			n := asked.Add(1)
			if r.URL.Query().Get("limit") == "" {
				limits.Add(1)
			}
			after, _ := strconv.Atoi(r.URL.Query().Get("after"))
			w.Header().Set("Content-Type", "application/json")
			var es []string
			for s := after + 1; s <= after+perPage; s++ {
				kind := "run-state"
				if s%3 == 0 {
					kind = "transfer"
				}
				es = append(es, fmt.Sprintf(`{"seq":%d,"time":"2026-01-01T00:00:00Z","kind":%q,"hash":"%064x"}`, s, kind, s))
			}
			next := ""
			if n < endless {
				next = fmt.Sprintf(`,"next":%d`, after+perPage)
			}
			fmt.Fprintf(w, `{"entries":[%s,%s,%s]%s}`, es[0], es[1], es[2], next)
		},
	})
	b.login(srv.URL, "stub-token", "audit")
	rows := `document.querySelectorAll("#audit-table tbody tr").length`
	b.waitJS("the first page", rows+` > 0`)
	if got := evalJS[int](b, "rows", rows); got != perPage {
		t.Errorf("the page shows %d entries when it opens, want the first page's %d", got, perPage)
	}
	if n := asked.Load(); n != 1 {
		t.Fatalf("the page read %d pages of the log when it opened, want 1", n)
	}
	b.run("more", chromedp.Click(chromedp.ID("audit-more")))
	b.waitJS("the second page", rows+fmt.Sprintf(` === %d`, 2*perPage))
	if n := asked.Load(); n != 2 {
		t.Errorf("after more the page had read %d pages, want 2", n)
	}
	if n := limits.Load(); n != 0 {
		t.Errorf("%d reads of the log named no limit", n)
	}
	// The filters apply to the entries read.
	b.run("filter by kind", chromedp.SetValue(chromedp.ID("audit-kind"), "transfer"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#audit-kind").dispatchEvent(new Event("change"))`))
	var seqs []string
	b.eval("seqs shown", `[...document.querySelectorAll("#audit-table tbody tr td:first-child")].map(td => td.textContent)`, &seqs)
	if fmt.Sprint(seqs) != "[3 6]" {
		t.Errorf("filtered by kind transfer, the table shows entries %v, want [3 6]", seqs)
	}
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("the page logged errors: %v", errs)
	}
}

// TestConsolePlanRunPicker: the plan page read every one of the tenant's
// runs, a thousand at a time, for its picker before it planned anything.
// It now reads one page for the picker, and the next when "more runs" is
// chosen; a run named in the page's address is offered though it is not
// on the page.
func TestConsolePlanRunPicker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	b := newBrowser(t)
	const endless = 100
	var asked atomic.Int64
	runJSON := func(id string) string {
		return fmt.Sprintf(`{"id":%q,"tenant":"default","job":"j","state":"succeeded","site":"","attempt":1,"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z"}`, id)
	}
	srv := stubConsole(t, map[string]http.HandlerFunc{
		"GET /v1/catalog/sites": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"sites":[]}`))
		},
		"GET /v1/rules": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"rules":[]}`))
		},
		"GET /v1/runs": func(w http.ResponseWriter, r *http.Request) {
			n := asked.Add(1)
			w.Header().Set("Content-Type", "application/json")
			id := fmt.Sprintf("r%d", n)
			next := ""
			if n < endless {
				next = fmt.Sprintf(`,"next":%q`, id)
			}
			fmt.Fprintf(w, `{"runs":[%s]%s}`, runJSON(id), next)
		},
		"GET /v1/runs/{id}": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(runJSON(r.PathValue("id"))))
		},
	})
	b.login(srv.URL, "stub-token", "plan?run=old-run")
	options := `[...document.querySelectorAll("#job-run option")].map(o => o.value)`
	b.waitJS("the picker", `document.querySelectorAll("#job-run option").length > 1`)
	var got []string
	b.eval("the picker's runs", options, &got)
	if n := asked.Load(); n != 1 {
		t.Fatalf("the plan page read %d pages of runs for its picker, want 1 (options %v)", n, got)
	}
	if fmt.Sprint(got) != "[ r1 old-run +more]" {
		t.Errorf("the picker offers %q, want the first page's run, the run the address names and more", got)
	}
	b.run("more runs", chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector("#job-run"); s.value = "+more"; s.dispatchEvent(new Event("change")); })()`))
	b.waitJS("the second page", `[...document.querySelectorAll("#job-run option")].some(o => o.value === "r2")`)
	if n := asked.Load(); n != 2 {
		t.Errorf("after more runs the picker had read %d pages, want 2", n)
	}
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("the page logged errors: %v", errs)
	}
}

// TestConsoleLedgerPages: the data page read every page of the tenant's
// transfer ledger before it showed one record: a tenant that had staged
// data for years had each visit ask the server for all of it. The page
// now reads one page, and the next each time "more" is pressed; the
// staged copies it offers to verify come from the totals of the whole
// ledger, which each page carries.
func TestConsoleLedgerPages(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	b := newBrowser(t)
	const endless = 200
	var asked atomic.Int64
	json := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(body))
		}
	}
	srv := stubConsole(t, map[string]http.HandlerFunc{
		"GET /v1/catalog/sites":     json(`{"sites":[]}`),
		"GET /v1/catalog/countries": json(`{"countries":[]}`),
		"GET /v1/datasets":          json(`{"datasets":[]}`),
		"GET /v1/ledger": func(w http.ResponseWriter, r *http.Request) {
			n := asked.Add(1)
			after, _ := strconv.Atoi(r.URL.Query().Get("after"))
			w.Header().Set("Content-Type", "application/json")
			next := ""
			if n < endless {
				next = fmt.Sprintf(`,"next":%d`, after+1)
			}
			fmt.Fprintf(w, `{"entries":[{"seq":%d,"time":"2026-01-01T00:00:00Z","dataset":"d%d","site":"s1","from":"DE","to":"FR","rules":[],"asOf":"2026-01-01"}],"totals":[{"dataset":"d0","site":"far","kind":"dataset"}]%s}`, after+1, after+1, next)
		},
	})
	b.login(srv.URL, "stub-token", "data")
	rows := `document.querySelectorAll("#ledger-table tbody tr").length`
	b.waitJS("the first page", rows+` > 0`)
	if n := asked.Load(); n != 1 {
		t.Fatalf("the data page read %d pages of the ledger when it opened, want 1", n)
	}
	var copies []string
	b.eval("the staged copies", `[...document.querySelectorAll("#copies-table .verify")].map(s => s.dataset.dataset + "@" + s.dataset.site)`, &copies)
	if fmt.Sprint(copies) != "[d0@far]" {
		t.Errorf("the staged copies offered are %v, want the totals' [d0@far]", copies)
	}
	b.run("more", chromedp.Click(chromedp.ID("ledger-more")))
	b.waitJS("the second page", rows+` === 2`)
	if n := asked.Load(); n != 2 {
		t.Errorf("after more the data page had read %d pages, want 2", n)
	}
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("the page logged errors: %v", errs)
	}
}
