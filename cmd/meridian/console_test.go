package main

// The console in a real headless Chromium (Debian's chromium, driven over
// the DevTools protocol by chromedp) against real `meridian serve`
// processes: the plan map of the built-in catalog for an organisation
// owned by an Entity-listed party, dragged across the affiliates rule's
// dates; a run that migrated twice (the demo's); the ledger, the rules and
// the audit pages; and a plan over 2,000 sites, timed. Any error the page
// logs fails the test. Screenshots of each page go to
// $MERIDIAN_CONSOLE_SHOTS (a temporary directory when unset).

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/bench/synth"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/store"
)

// affiliateJob is the acceptance scenario's job: an organisation ≥ 50 %
// owned by Entity-listed parties (restrictedParty: affiliate-of-listed).
const affiliateJob = `apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: affiliate-lab}
spec: {headquarters: CN, restrictedParty: affiliate-of-listed}
---
apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: long-run}
spec:
  organization: affiliate-lab
  model: {parameters: 7.0e9}
  method: pretrain
  tokens: 1.0e9
  objective: cost
  constraints: {maxAccelerators: 8}
`

// chromiumPath finds the browser. With MERIDIAN_TEST_BROWSER=1 (CI) a
// missing browser is a failure, never a skip.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("MERIDIAN_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("MERIDIAN_TEST_BROWSER") == "1" {
		t.Fatal("MERIDIAN_TEST_BROWSER=1 but no chromium at /usr/bin/chromium (apt-get install chromium; scripts/install-deps.sh does)")
	}
	t.Skip("no chromium (apt-get install chromium); MERIDIAN_TEST_BROWSER=1 makes this a failure")
	return ""
}

// browser is one Chromium with a fresh profile; errs collects every error
// the pages log (console.error, uncaught exceptions, failed loads, CSP
// violations).
type browser struct {
	t     *testing.T
	ctx   context.Context
	shots string
	mu    sync.Mutex
	errs  []string
}

func newBrowser(t *testing.T) *browser {
	chrome := chromiumPath(t)
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	shots := os.Getenv("MERIDIAN_CONSOLE_SHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("console screenshots in %s", shots)
	b := &browser{t: t, ctx: ctx, shots: shots}
	// Subscribing starts the browser (on a context with no deadline, which
	// would stop it).
	msgs := chromedp.Console(ctx)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.errs = append(b.errs, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 120*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// waitJS polls a JavaScript expression until it is true.
func (b *browser) waitJS(what, expr string) {
	b.t.Helper()
	b.run(what, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(90*time.Second), chromedp.WithPollingInterval(20*time.Millisecond)))
}

// evalJS evaluates a JavaScript expression in the page.
func evalJS[T any](b *browser, what, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 120*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// eval evaluates a JavaScript expression and decodes its value into out.
func (b *browser) eval(what, expr string, out any) {
	b.t.Helper()
	raw := evalJS[string](b, what, "JSON.stringify("+expr+")")
	if err := json.Unmarshal([]byte(raw), out); err != nil {
		b.t.Fatalf("%s: %v: %s", what, err, raw)
	}
}

func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 120*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// viewShot is a screenshot of the window (a page with thousands of table
// rows is too tall for a whole-page one).
func (b *browser) viewShot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 120*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.errs)
}

// runRequests is a JavaScript expression: how many requests the page
// made (from the browser's resource timing) for run id's record and its
// timeline with the query search ("" for none), answered with status (0:
// any).
func runRequests(id, search string, status int) string {
	return fmt.Sprintf(`performance.getEntriesByType("resource").filter(e => {
		const u = new URL(e.name);
		return (u.pathname === "/v1/runs/%[1]s" || u.pathname === "/v1/runs/%[1]s/events") && u.search === %[2]q && (%[3]d === 0 || e.responseStatus === %[3]d);
	}).length`, id, search, status)
}

// forget drops the page errors that match expected (a test that causes
// them on purpose), failing when there were none.
func (b *browser) forget(expected func(string) bool) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.errs)
	b.errs = slices.DeleteFunc(b.errs, expected)
	if len(b.errs) == n {
		b.t.Errorf("no page error of the kind expected; errors: %v", b.errs)
	}
}

// login opens the console on a server and signs in with the token, as a
// person would: the form, then the first page.
func (b *browser) login(base, token, hash string) {
	b.t.Helper()
	b.run("open the console", chromedp.Navigate(base+"/console/#/"+hash), chromedp.WaitVisible(chromedp.ID("token")))
	b.run("sign in", chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitNotPresent(chromedp.ID("token")))
	kept := evalJS[string](b, "token storage", `sessionStorage.getItem("meridian.token") + "|" + localStorage.length`)
	cookies := evalJS[string](b, "cookies", `document.cookie`)
	if kept != token+"|0" || cookies != "" {
		b.t.Errorf("the token is kept as %q (want it in session storage only) and cookies are %q (want none)", kept, cookies)
	}
}

// consoleState is a state directory whose workloads (run as their
// tenant's user when the tests run as root) can pass through its parents.
func consoleState(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "state")
}

// consoleServer starts `meridian serve` on a state directory and returns
// its URL and token.
func consoleServer(t testing.TB, p *serveProc) (string, string) {
	t.Helper()
	p.start()
	t.Cleanup(p.stop)
	cfg, err := readClientConfig(p.state)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Server, cfg.Token
}

// siteOutcome is the console's outcome of a site in a plan, computed here
// from the API's plan: a placement when any of its accelerators is, else
// law when any is rejected for law, else the first rejection's kind.
func siteOutcomes(p *planner.Plan) map[string]string {
	out := map[string]string{}
	for _, pl := range p.Placements {
		out[pl.Site] = "placement"
	}
	for _, r := range p.Rejected {
		if out[r.Site] == "placement" {
			continue
		}
		switch {
		case r.Kind == planner.KindLaw:
			out[r.Site] = "law"
		case out[r.Site] == "":
			k := string(r.Kind)
			switch r.Kind {
			case planner.KindCapacity, planner.KindMemory, planner.KindDeadline, planner.KindBudget:
			default:
				k = "other"
			}
			out[r.Site] = k
		}
	}
	return out
}

func TestConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers and a browser")
	}
	b := newBrowser(t)
	ctx := context.Background()
	bin := binary(t)

	t.Run("plan", func(t *testing.T) {
		b.t = t
		base, token := consoleServer(t, &serveProc{t: t, bin: bin, state: consoleState(t)})
		c := api.NewClient(base, token)

		// The static files are public and carry the CSP; data is not.
		for path, want := range map[string]int{"/console/": 200, "/console/main.js": 200, "/console/style.css": 200, "/console/nothing.js": 404, "/v1/runs": 401} {
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("GET %s without a token: %d, want %d", path, resp.StatusCode, want)
			}
			if strings.HasPrefix(path, "/console/") && want == 200 && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Errorf("GET %s: Content-Security-Policy %q", path, resp.Header.Get("Content-Security-Policy"))
			}
		}

		b.login(base, token, "plan?asOf=2025-07-01")
		b.run("give the job and plan",
			chromedp.WaitVisible(chromedp.ID("job-docs")),
			chromedp.SetValue(chromedp.ID("job-docs"), affiliateJob),
			chromedp.Click(chromedp.ID("plan-btn")))
		b.waitJS("the plan of 2025-07-01 on the map", `document.querySelector("#map").dataset.asOf === "2025-07-01"`)

		sites, err := c.Sites(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var markers int
		b.eval("count markers", `document.querySelectorAll("#map g.site").length`, &markers)
		if markers != len(sites) || markers == 0 {
			t.Errorf("the map shows %d sites, the catalog has %d", markers, len(sites))
		}

		// read returns the outcome and rules the map shows for a site.
		read := func(site string) (string, string) {
			var v []string
			b.eval("read "+site, fmt.Sprintf(`(() => { const g = document.querySelector('#map g.site[data-site=%q]'); return g ? [g.dataset.outcome, g.dataset.rules] : ["missing", ""]; })()`, site), &v)
			return v[0], v[1]
		}
		// check compares every marker with the API's plan of the same day.
		check := func(asOf string) *planner.Plan {
			p, err := c.Plan(ctx, run.PlanRequest{Documents: []run.Document{{Name: "job.yaml", Content: affiliateJob}}, AsOf: asOf}, 0)
			if err != nil {
				t.Fatal(err)
			}
			var shown map[string]string
			b.eval("outcomes", `Object.fromEntries([...document.querySelectorAll("#map g.site")].map(g => [g.dataset.site, g.dataset.outcome]))`, &shown)
			placed := map[string]bool{}
			for _, s := range sites {
				placed[s.Metadata.Name] = true
			}
			for site, want := range siteOutcomes(p) {
				if !placed[site] {
					// Not in the catalog (the server's own local site):
					// the table lists it, the map cannot place it.
					var n int
					b.eval("table row of "+site, fmt.Sprintf(`document.querySelectorAll('#sites-table button[data-site=%q]').length`, site), &n)
					if n == 0 {
						t.Errorf("%s: %s is in the plan but not in the table", asOf, site)
					}
					continue
				}
				if shown[site] != want {
					t.Errorf("%s: %s shows %q, the API's plan says %q", asOf, site, shown[site], want)
				}
			}
			var rows int
			b.eval("table rows", `document.querySelectorAll("#sites-table tbody tr").length`, &rows)
			if want := len(p.Placements) + len(p.Rejected); rows < want && want <= 400 {
				t.Errorf("%s: the table has %d rows, the plan %d placements and rejections", asOf, rows, want)
			}
			return p
		}
		check("2025-07-01")
		b.shot("plan-2025-07-01")

		// The Singapore and Malaysia H100 sites of the built-in catalog.
		var h100 []string
		for _, s := range sites {
			if s.Spec.Country != "SG" && s.Spec.Country != "MY" {
				continue
			}
			for _, pool := range s.Spec.Pools {
				if pool.Accelerator == "nvidia-h100-sxm" {
					h100 = append(h100, s.Metadata.Name)
					break
				}
			}
		}
		if len(h100) < 2 {
			t.Fatalf("the built-in catalog has %d SG/MY H100 sites: %v", len(h100), h100)
		}
		setDate := func(d string) {
			b.run("set the date "+d, chromedp.SetValue(chromedp.ID("as-of-date"), d),
				chromedp.Evaluate[chromedp.Void](`document.querySelector("#as-of-date").dispatchEvent(new Event("change"))`))
			b.waitJS("the plan of "+d, fmt.Sprintf(`document.querySelector("#map").dataset.asOf === %q`, d))
		}
		expect := func(d, want string) {
			for _, s := range h100 {
				got, rules := read(s)
				if got != want {
					t.Errorf("%s on %s: %q, want %q", s, d, got, want)
				}
				if want == "law" && !strings.Contains(" "+rules+" ", " us-ear-affiliates-2025 ") {
					t.Errorf("%s on %s: rules %q, want us-ear-affiliates-2025", s, d, rules)
				}
			}
		}
		// The day before the affiliates rule, then one arrow key on the
		// slider: the day it takes effect.
		setDate("2025-09-28")
		expect("2025-09-28", "placement")
		b.run("slider one day on", chromedp.Focus(chromedp.ID("as-of")), chromedp.KeyEvent(kb.ArrowRight))
		b.waitJS("the plan of 2025-09-29", `document.querySelector("#map").dataset.asOf === "2025-09-29"`)
		expect("2025-09-29", "law")
		p := check("2025-09-29")
		b.shot("plan-2025-09-29")
		setDate("2025-11-09")
		expect("2025-11-09", "law")
		// The button to the next day a rule changes: the suspension.
		b.run("next rule date", chromedp.Click(chromedp.ID("next-date")))
		b.waitJS("the plan of 2025-11-10", `document.querySelector("#map").dataset.asOf === "2025-11-10"`)
		expect("2025-11-10", "placement")
		check("2025-11-10")
		setDate("2026-11-09")
		expect("2026-11-09", "placement")
		setDate("2026-11-10")
		expect("2026-11-10", "law")

		// A click on a rejected site shows its rule, message and source as
		// the API gives them.
		setDate("2025-09-29")
		// The markers of Singapore and Malaysia overlap at world scale: the
		// click opens whichever is on top, which must be one of them.
		b.run("click "+h100[0], chromedp.Click(chromedp.CSS(fmt.Sprintf(`#map g.site[data-site=%q]`, h100[0]))))
		b.waitJS("the site's story", `!!document.querySelector('#detail section.explain')`)
		var shown string
		b.eval("the site shown", `document.querySelector('#detail section.explain').dataset.site`, &shown)
		if !slices.Contains(h100, shown) {
			t.Fatalf("a click on %s shows %q", h100[0], shown)
		}
		var text string
		b.eval("detail text", `document.querySelector('#detail').textContent`, &text)
		found := 0
		for _, r := range p.Rejected {
			if r.Site != shown || r.Kind != planner.KindLaw {
				continue
			}
			for _, f := range r.Reasons {
				found++
				for _, want := range []string{f.Rule, f.Message, f.Source} {
					if !strings.Contains(text, want) {
						t.Errorf("the detail of %s lacks %q:\n%s", shown, want, text)
					}
				}
			}
		}
		if found == 0 {
			t.Fatalf("the API's plan has no law rejection of %s", shown)
		}
		// Keyboard: Tab reaches a site, Enter opens it.
		other := h100[len(h100)-1]
		b.run("keyboard to "+other, chromedp.Focus(chromedp.CSS(fmt.Sprintf(`#map g.site[data-site=%q]`, other))), chromedp.KeyEvent(kb.Enter))
		b.waitJS("the keyboard's site", fmt.Sprintf(`document.querySelector('#detail section.site-detail').dataset.site === %q`, other))
		b.shot("plan-detail")
	})

	t.Run("2000-sites", func(t *testing.T) {
		b.t = t
		catDir, jobFile := writeLocatedSynthWorld(t, 2000)
		base, token := consoleServer(t, &serveProc{t: t, bin: bin, state: consoleState(t), cat: catDir})
		job, err := os.ReadFile(jobFile)
		if err != nil {
			t.Fatal(err)
		}
		b.login(base, token, "plan?asOf=2025-06-01")
		b.run("give the job", chromedp.WaitVisible(chromedp.ID("job-docs")), chromedp.SetValue(chromedp.ID("job-docs"), string(job)))
		start := time.Now()
		b.run("plan", chromedp.Click(chromedp.ID("plan-btn")))
		b.waitJS("the plan on the map", `document.querySelector("#map").dataset.asOf === "2025-06-01" && !!document.querySelector("#map").dataset.loadMs`)
		first := time.Since(start)
		var markers int
		var render, load, fetch string
		b.eval("markers", `document.querySelectorAll("#map g.site").length`, &markers)
		b.eval("render time", `document.querySelector("#map").dataset.renderMs`, &render)
		b.eval("load time", `document.querySelector("#map").dataset.loadMs`, &load)
		b.eval("fetch time", `document.querySelector("#map").dataset.fetchMs`, &fetch)
		if markers != 2000 {
			t.Errorf("the map shows %d sites, want 2000", markers)
		}
		t.Logf("2,000 sites, Plan pressed: map painted %s ms later in the page (the plan's request and parse: %s ms; building the map: %s ms); %s as the test saw it", load, fetch, render, first.Round(time.Millisecond))
		// The whole page again: load, script, catalog, plan, drawing.
		b.run("reload", chromedp.Reload())
		b.waitJS("the plan on the map again", `document.querySelector("#map") && !!document.querySelector("#map").dataset.paintedAtMs && document.querySelectorAll("#map g.site").length === 2000`)
		var painted string
		b.eval("painted", `document.querySelector("#map").dataset.paintedAtMs`, &painted)
		b.eval("render time", `document.querySelector("#map").dataset.renderMs`, &render)
		t.Logf("2,000 sites, page reloaded: map painted %s ms after the navigation began (building the map and table: %s ms)", painted, render)
		var split string
		b.eval("the plan's split", `(() => { const e = performance.getEntriesByType("resource").filter(e => e.name.includes("/v1/plans")).pop(); const at = Number(document.querySelector("#map").dataset.fetchedAtMs); return "request sent to last byte " + Math.round(e.responseEnd - e.requestStart) + " ms, last byte to parsed " + Math.round(at - e.responseEnd) + " ms"; })()`, &split)
		t.Logf("2,000 sites, the reload's plan request: %s", split)
		var timings []string
		b.eval("resource timings", `performance.getEntriesByType("resource").map(e => e.name.replace(location.origin, "") + " " + Math.round(e.duration) + " ms " + e.transferSize + " B")`, &timings)
		t.Logf("2,000 sites: the page's requests: %s", strings.Join(timings, "; "))
		b.viewShot("plan-2000-sites")
		// The API's share: the plan of all placements, and of the first 50.
		for _, top := range []int{0, 50} {
			start := time.Now()
			if _, err := api.NewClient(base, token).Plan(ctx, run.PlanRequest{Documents: []run.Document{{Name: "job.yaml", Content: string(job)}}, AsOf: "2025-06-01"}, top); err != nil {
				t.Fatal(err)
			}
			t.Logf("2,000 sites: POST /v1/plans?top=%d from Go: %s", top, time.Since(start).Round(time.Millisecond))
		}
	})

	t.Run("runs-data-rules-audit", func(t *testing.T) {
		b.t = t
		out, err := exec.Command(bin, "demo", "--keep", "--timeout", "120s").CombinedOutput()
		const kept = "state kept in "
		i := strings.LastIndex(string(out), kept)
		if i < 0 {
			t.Fatalf("demo: %v\n%s", err, out)
		}
		demoDir := strings.TrimSpace(string(out[i+len(kept):]))
		t.Cleanup(func() { os.RemoveAll(demoDir) })
		if err != nil {
			t.Fatalf("demo: %v\n%s", err, out)
		}
		base, token := consoleServer(t, &serveProc{t: t, bin: bin, state: filepath.Join(demoDir, "state"), cat: filepath.Join(demoDir, "catalog")})
		c := api.NewClient(base, token)
		runs, err := c.List(ctx)
		if err != nil || len(runs) == 0 {
			t.Fatalf("the demo's runs: %v, %v", runs, err)
		}
		r := runs[0]
		// The migrations the API says the run made: consecutive attempts
		// at different sites.
		var moves []string
		prev := ""
		for _, a := range r.Attempts {
			if prev != "" && a.Site != prev {
				moves = append(moves, prev+">"+a.Site)
			}
			prev = a.Site
		}
		if r.Site != prev && prev != "" {
			moves = append(moves, prev+">"+r.Site)
		}
		if len(moves) == 0 {
			t.Fatalf("the demo run did not migrate: attempts %+v", r.Attempts)
		}

		b.login(base, token, "runs")
		b.waitJS("the runs list", fmt.Sprintf(`[...document.querySelectorAll("#runs-table a")].some(a => a.textContent === %q)`, r.ID))
		b.shot("runs")
		b.run("open the run", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#runs-table a[href="#/runs/%s"]`, r.ID))))
		b.waitJS("the run's migrations", fmt.Sprintf(`document.querySelectorAll("path.arc.migration").length === %d`, len(moves)))
		var drawn []string
		b.eval("arcs", `[...document.querySelectorAll("path.arc.migration")].map(a => a.dataset.from + ">" + a.dataset.to)`, &drawn)
		if !slices.Equal(drawn, moves) {
			t.Errorf("the run page draws migrations %v, the run made %v", drawn, moves)
		}
		b.waitJS("the timeline", `!!document.querySelector('#run-timeline li[data-kind="checkpoint-moved"]')`)
		logs, _, err := c.Logs(ctx, r.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(logs) > 0 {
			b.waitJS("the logs", fmt.Sprintf(`document.querySelector("#run-logs").textContent.length >= %d`, len(strings.TrimSpace(string(logs)))))
		}
		var cancelDisabled bool
		b.eval("cancel", `document.querySelector("#cancel").disabled`, &cancelDisabled)
		if !cancelDisabled {
			t.Errorf("cancel is offered for a %s run", r.State)
		}
		b.shot("run")

		b.run("data page", chromedp.Navigate(base+"/console/#/data"))
		b.waitJS("the ledger", `document.querySelectorAll("#ledger-table tbody tr").length > 0 && document.querySelectorAll("path.arc.transfer").length > 0`)
		b.run("verify a copy", chromedp.Click(chromedp.CSS(`#copies-table button`)))
		b.waitJS("verified", `!!document.querySelector("#copies-table .verify.good")`)
		b.shot("data")

		b.run("rules page", chromedp.Navigate(base+"/console/#/rules?asOf=2025-12-01"))
		b.waitJS("the rules", `[...document.querySelectorAll("#rules-list tbody tr")].some(tr => tr.textContent.includes("us-ear-affiliates-2025") && tr.textContent.includes("suspended-until 2026-11-10 from 2025-11-10"))`)
		b.waitJS("the revisions", `!!document.querySelector("#rules-revisions table")`)
		b.waitJS("the suspension drawn", `!!document.querySelector('rect.span-suspended[data-rule="us-ear-affiliates-2025"]')`)
		b.shot("rules")

		b.run("audit page", chromedp.Navigate(base+"/console/#/audit"))
		b.waitJS("the audit log", `document.querySelectorAll("#audit-table tbody tr").length > 0`)
		b.run("verify the chain", chromedp.Click(chromedp.ID("audit-verify")))
		b.waitJS("the chain verifies", `!!document.querySelector('#audit-verify-result [data-ok="true"]')`)
		b.run("filter by kind", chromedp.SetValue(chromedp.ID("audit-kind"), "transfer"),
			chromedp.Evaluate[chromedp.Void](`document.querySelector("#audit-kind").dispatchEvent(new Event("change"))`))
		var kinds []string
		b.eval("kinds shown", `[...document.querySelectorAll("#audit-table tbody tr td:nth-child(3)")].map(td => td.textContent)`, &kinds)
		if len(kinds) == 0 || slices.ContainsFunc(kinds, func(k string) bool { return k != "transfer" }) {
			t.Errorf("filtered by kind transfer, the table shows %v", kinds)
		}
		b.shot("audit")
	})

	t.Run("live-run-cancel", func(t *testing.T) {
		b.t = t
		p := newServeProc(t)
		base, token := consoleServer(t, p)
		job := demoJob(t, bin, p.state, 100000, 10, "20ms")
		r, err := api.NewClient(base, token).Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: job}}})
		if err != nil {
			t.Fatal(err)
		}
		// The list follows the tenant's runs stream: a run submitted
		// meanwhile appears, and its cancel shows, without the page ever
		// reading the list by itself.
		b.login(base, token, "runs")
		b.run("keep every request's timing", chromedp.Evaluate[chromedp.Void](`performance.setResourceTimingBufferSize(100000)`))
		b.waitJS("the run listed", fmt.Sprintf(`[...document.querySelectorAll("#runs-table a")].some(a => a.textContent === %q)`, r.ID))
		c := api.NewClient(base, token)
		r2, err := c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: job}}})
		if err != nil {
			t.Fatal(err)
		}
		b.waitJS("the new run listed", fmt.Sprintf(`[...document.querySelectorAll("#runs-table a")].some(a => a.textContent === %q)`, r2.ID))
		if _, err := c.Cancel(ctx, r2.ID); err != nil {
			t.Fatal(err)
		}
		b.waitJS("the new run's cancel listed", fmt.Sprintf(`[...document.querySelectorAll("#runs-table tr")].some(tr => tr.textContent.includes(%q) && tr.querySelector(".state").textContent === "cancelled")`, r2.ID))
		listReads := `performance.getEntriesByType("resource").filter(e => { const u = new URL(e.name); return u.pathname === "/v1/runs" && !u.searchParams.has("follow"); }).length`
		if n := evalJS[int](b, "list reads", listReads); n != 0 {
			t.Errorf("the runs page read the list %d times while its stream was open", n)
		}
		b.run("open the run", chromedp.Navigate(base+"/console/#/runs/"+r.ID))
		// Progress and the output arrive while the run runs: the log keeps
		// growing on the page without a reload.
		b.waitJS("progress", `document.querySelector("#run-progress").textContent.startsWith("Step ")`)
		b.waitJS("output", `document.querySelector("#run-logs").textContent.includes("step=")`)
		var n int
		b.eval("log length", `document.querySelector("#run-logs").textContent.length`, &n)
		b.waitJS("more output", fmt.Sprintf(`document.querySelector("#run-logs").textContent.length > %d`, n))
		// The progress moves on (the server saves it once a second) and
		// the page shows it from the run's event stream.
		var step string
		b.eval("step", `document.querySelector("#run-progress").textContent`, &step)
		b.waitJS("progress moves on", fmt.Sprintf(`document.querySelector("#run-progress").textContent !== %q`, step))
		b.shot("run-live")
		b.run("cancel, then confirm", chromedp.Click(chromedp.ID("cancel")), chromedp.Click(chromedp.ID("cancel")))
		b.waitJS("cancelled", `document.querySelector("#run-state").textContent.startsWith("cancelled")`)
		b.waitJS("the timeline's cancel", `[...document.querySelectorAll('#run-timeline li[data-kind="state"]')].some(li => li.textContent.includes("→ cancelled"))`)
		got, err := api.NewClient(base, token).Get(ctx, r.ID)
		if err != nil || got.State != run.Cancelled {
			t.Errorf("after cancel on the page the API says %v (%v)", got.State, err)
		}
		// Every change came by the stream: it ended with the run (its
		// request is done), and the page never read the run or its
		// timeline otherwise.
		b.waitJS("the event stream ended", runRequests(r.ID, "?follow=1", 200)+" === 1")
		var polls int
		b.eval("polls", runRequests(r.ID, "", 0), &polls)
		if polls != 0 {
			t.Errorf("the run page polled the run %d times while its event stream was open", polls)
		}
		evs, err := api.NewClient(base, token).Events(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		var shown []int64
		b.eval("the timeline's seqs", `[...document.querySelectorAll("#run-timeline li")].map(li => Number(li.dataset.seq))`, &shown)
		var want []int64
		for _, e := range evs {
			want = append(want, e.Seq)
		}
		if !slices.Equal(shown, want) {
			t.Errorf("the page's timeline has events %v, the run %v", shown, want)
		}
	})

	t.Run("run-page-without-stream", func(t *testing.T) {
		// The tenant's streams are all taken: the run page polls, shows
		// the run all the same, and takes the stream once one is free.
		b.t = t
		p := newServeProc(t)
		base, token := consoleServer(t, p)
		job := demoJob(t, bin, p.state, 100000, 10, "20ms")
		c := api.NewClient(base, token)
		r, err := c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: job}}})
		if err != nil {
			t.Fatal(err)
		}
		sctx, release := context.WithCancel(ctx)
		defer release()
		for i := range api.DefaultStreams.PerTenant {
			req, _ := http.NewRequestWithContext(sctx, "GET", base+"/v1/runs/"+r.ID+"/events?follow=1", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("stream %d: %v %v", i, err, resp)
			}
			defer resp.Body.Close()
		}
		// The list, refused its stream, reads the list instead.
		b.login(base, token, "runs")
		b.run("keep every request's timing", chromedp.Evaluate[chromedp.Void](`performance.setResourceTimingBufferSize(100000)`))
		b.waitJS("the run listed by reading the list", fmt.Sprintf(`[...document.querySelectorAll("#runs-table a")].some(a => a.textContent === %q)`, r.ID))
		listRequests := func(search string, status int) string {
			return fmt.Sprintf(`performance.getEntriesByType("resource").filter(e => { const u = new URL(e.name); return u.pathname === "/v1/runs" && u.search === %q && e.responseStatus === %d; }).length`, search, status)
		}
		b.waitJS("list reads", listRequests("?limit=1000", 200)+" >= 1")
		if n := evalJS[int](b, "list stream refusals", listRequests("?follow=1&pages=1", 429)); n == 0 {
			t.Errorf("the runs page reads the list, but was never refused its stream")
		}
		b.run("open the run", chromedp.Navigate(base+"/console/#/runs/"+r.ID))
		b.waitJS("progress by polling", `document.querySelector("#run-progress").textContent.startsWith("Step ")`)
		b.waitJS("polls", runRequests(r.ID, "", 0)+" >= 4")
		if n := evalJS[int](b, "refusals", runRequests(r.ID, "?follow=1", 429)); n == 0 {
			t.Errorf("the page polls, but was never refused a stream")
		}
		release()
		if _, err := c.Cancel(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		b.waitJS("cancelled", `document.querySelector("#run-state").textContent.startsWith("cancelled")`)
		b.waitJS("the event stream ended", runRequests(r.ID, "?follow=1", 200)+" === 1")
		// The refusals were the browser's "failed to load" errors: expected
		// here, and only here.
		b.forget(func(e string) bool { return strings.Contains(e, "status of 429") })
	})

	t.Run("runs-list-pages", func(t *testing.T) {
		// More runs than the stream's first page: the list shows that page,
		// and the next only once "more" is pressed. It read every page of
		// the tenant's runs by itself, and while it polled read them all
		// every 5 seconds: a tenant with a long history had each visit,
		// and each poll, ask the server for all of it.
		b.t = t
		p := newServeProc(t)
		base, token := consoleServer(t, p)
		c := api.NewClient(base, token)
		r, err := c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: demoJob(t, bin, p.state, 100000, 10, "20ms")}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Cancel(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
			got, err := c.Get(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State.Final() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %s still %s a minute after its cancel", r.ID, got.State)
			}
		}
		// Copies of the run, written while the server is stopped, as a
		// tenant with a long history has them.
		p.stop()
		const copies = 1500
		want := copyRuns(t, p.state, r.ID, copies)
		p.start()

		want = append(want, r.ID)
		slices.Sort(want)
		// laterReads counts the reads of the list's pages after its first,
		// firstReads those of its first page.
		const laterReads = `performance.getEntriesByType("resource").filter(e => { const u = new URL(e.name); return u.pathname === "/v1/runs" && u.searchParams.get("limit") === "1000" && u.searchParams.has("after"); }).length`
		const firstReads = `performance.getEntriesByType("resource").filter(e => { const u = new URL(e.name); return u.pathname === "/v1/runs" && u.search === "?limit=1000"; }).length`
		// listed checks the list shows every run when all says so, else
		// the first page of them and "more".
		listed := func(all bool) {
			t.Helper()
			var shown []string
			b.eval("the listed runs", `[...document.querySelectorAll("#runs-table a")].map(a => a.textContent)`, &shown)
			slices.Sort(shown)
			if all && !slices.Equal(shown, want) {
				t.Errorf("the list shows %d runs, not the tenant's %d", len(shown), len(want))
			}
			if !all && (len(shown) != 1000 || !evalJS[bool](b, "more offered", `!document.querySelector("#runs-more").hidden`)) {
				t.Errorf("the list shows %d runs, want the first page of 1000 and more offered", len(shown))
			}
		}

		// Streaming: the first page of the stream, and no other read until
		// "more" is pressed; then the next page, once.
		b.login(base, token, "runs")
		b.run("keep every request's timing", chromedp.Evaluate[chromedp.Void](`performance.setResourceTimingBufferSize(100000)`))
		b.waitJS("the first page listed", `document.querySelectorAll("#runs-table a").length === 1000 && !document.querySelector("#runs-more").hidden`)
		listed(false)
		// A run that changes meanwhile comes over the stream: its event
		// arrives after the list's, and no page is read for it.
		r2, err := c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: demoJob(t, bin, p.state, 100000, 10, "20ms")}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Cancel(ctx, r2.ID); err != nil {
			t.Fatal(err)
		}
		want = append(want, r2.ID)
		slices.Sort(want)
		b.waitJS("the new run listed", fmt.Sprintf(`[...document.querySelectorAll("#runs-table a")].some(a => a.textContent === %q)`, r2.ID))
		if n := evalJS[int](b, "later pages read", laterReads); n != 0 {
			t.Errorf("the list read %d pages after the stream's first before more was pressed", n)
		}
		b.run("more", chromedp.Click(chromedp.ID("runs-more")))
		b.waitJS("every run listed", fmt.Sprintf(`document.querySelectorAll("#runs-table a").length === %d && document.querySelector("#runs-more").hidden`, len(want)))
		listed(true)
		if n := evalJS[int](b, "later pages read", laterReads); n != 1 {
			t.Errorf("more read %d pages, want 1", n)
		}

		// The stream is cut (the server restarts) and comes back with the
		// list's first page: the page opened with "more" is read again.
		// The list went back to its first page, and the user had to press
		// "more" again for what was shown before.
		const streaming = `document.querySelector("#runs").previousElementSibling.textContent.includes("follows each change")`
		p.stop()
		b.waitJS("the list polled", "!"+streaming)
		p.start()
		b.waitJS("the stream back", streaming)
		// A run that changes now comes over that stream, after its list.
		r3, err := c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: demoJob(t, bin, p.state, 100000, 10, "20ms")}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Cancel(ctx, r3.ID); err != nil {
			t.Fatal(err)
		}
		want = append(want, r3.ID)
		slices.Sort(want)
		b.waitJS("the run listed after the reconnect", fmt.Sprintf(`[...document.querySelectorAll("#runs-table a")].some(a => a.textContent === %q)`, r3.ID))
		b.waitJS("every run listed again", fmt.Sprintf(`document.querySelectorAll("#runs-table a").length === %d && document.querySelector("#runs-more").hidden`, len(want)))
		listed(true)
		b.forget(func(e string) bool { return strings.Contains(e, "ERR_CONNECTION_REFUSED") })

		// Polling (every stream the tenant may have is taken): the first
		// page, polled, and no other until "more" is pressed; then both.
		b.run("leave the list", chromedp.Navigate("about:blank"))
		sctx, release := context.WithCancel(ctx)
		defer release()
		for i := range api.DefaultStreams.PerTenant {
			// The page's own stream is let go once the server sees its
			// connection closed.
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
				req, _ := http.NewRequestWithContext(sctx, "GET", base+"/v1/runs?follow=1&pages=1", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err == nil && resp.StatusCode == http.StatusOK {
					defer resp.Body.Close()
					break
				}
				if err == nil {
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != http.StatusTooManyRequests || time.Now().After(deadline) {
					t.Fatalf("stream %d: %v %v", i, err, resp)
				}
			}
		}
		b.run("open the list again", chromedp.Navigate(base+"/console/#/runs"))
		b.run("keep every request's timing", chromedp.Evaluate[chromedp.Void](`performance.setResourceTimingBufferSize(100000)`))
		b.waitJS("the first page polled", firstReads+` >= 3 && document.querySelectorAll("#runs-table a").length === 1000 && !document.querySelector("#runs-more").hidden`)
		listed(false)
		if n := evalJS[int](b, "later pages read", laterReads); n != 0 {
			t.Errorf("the polled list read %d pages after its first before more was pressed", n)
		}
		b.run("more", chromedp.Click(chromedp.ID("runs-more")))
		b.waitJS("every run listed", fmt.Sprintf(`document.querySelectorAll("#runs-table a").length === %d && document.querySelector("#runs-more").hidden`, len(want)))
		listed(true)
		from := evalJS[int](b, "first page reads", firstReads)
		b.waitJS("the pages shown polled", firstReads+fmt.Sprintf(" >= %d", from+2))
		first, later := evalJS[int](b, "first page reads", firstReads), evalJS[int](b, "later pages read", laterReads)
		if later < 2 || later > first-from+1 {
			t.Errorf("%d polls since more read the second page %d times, want it once a poll", first-from, later)
		}
		release()
		// Off the page before the server stops, which it would poll.
		b.run("leave the list", chromedp.Navigate("about:blank"))
		// The refused streams were the browser's "failed to load" errors.
		b.forget(func(e string) bool { return strings.Contains(e, "status of 429") })
	})

	t.Run("rules-revisions-pages", func(t *testing.T) {
		// More rules revisions than one answer holds, as a server whose law
		// changed often has: the rules page lists them a page at a time,
		// the next one each time "more" is pressed, and says so when a page
		// cannot be read, keeping those it shows. The page asked for them
		// all at once, which such a server refuses (400 naming limit).
		b.t = t
		p := newServeProc(t)
		base, token := consoleServer(t, p)
		p.stop()
		const n = 2*api.MaxRevisionPage + 5
		db := openStateDB(t, state{Dir: statedir.Dir{Path: p.state}})
		for i := 1; i <= n; i++ {
			files := map[string]string{"small.yaml": strings.Replace(smallPack, "test-small", fmt.Sprintf("test-small-%d", i), 1)}
			rec, err := audit.NewRecord(rules.KindRevision, "", map[string]any{"revision": i, "sha256": rules.Hash(files)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.PutRuleRevision(ctx, &store.RuleRevision{Hash: rules.Hash(files), Files: files, Who: "ops", Reason: fmt.Sprintf("r%d", i)}, int64(i-1), rec); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
		p.start()

		b.login(base, token, "rules")
		b.waitJS("the first page of revisions", `!!document.querySelector("#rules-revisions table, #rules-revisions .error")`)
		errShown := `(document.querySelector("#rules-revisions .error") || {}).textContent || ""`
		if msg := evalJS[string](b, "an error", errShown); msg != "" {
			t.Fatalf("the rules page of a server with %d revisions shows the error %q", n, msg)
		}
		rows := `document.querySelectorAll("#rules-revisions tbody tr").length`
		shown := func(want int) {
			t.Helper()
			var got []int
			b.eval("the revisions listed", `[...document.querySelectorAll("#rules-revisions tbody tr td:first-child")].map(td => Number(td.textContent))`, &got)
			ok := len(got) == want
			for i := 0; ok && i < want; i++ {
				ok = got[i] == i+1
			}
			if !ok {
				t.Fatalf("the page lists %d revisions, want revisions 1 to %d in order", len(got), want)
			}
		}
		more := `(() => { const m = document.querySelector("#rules-revisions-more"); return !!m && !m.hidden && !m.disabled; })()`
		caption := func() string {
			return evalJS[string](b, "the caption", `document.querySelector("#rules-revisions caption").textContent`)
		}
		shown(api.MaxRevisionPage)
		if !evalJS[bool](b, "more offered", more) || !strings.Contains(caption(), "more follow") {
			t.Errorf("the first page of %d revisions offers no more (caption %q)", n, caption())
		}

		// The server goes away: the next page fails, the page says so, keeps
		// the revisions it shows and offers to try again.
		p.stop()
		b.run("more, with the server down", chromedp.Click(chromedp.ID("rules-revisions-more")))
		b.waitJS("the error shown", `!!document.querySelector("#rules-revisions-status .error") && `+more)
		shown(api.MaxRevisionPage)
		p.start()
		b.run("more", chromedp.Click(chromedp.ID("rules-revisions-more")))
		b.waitJS("the second page", fmt.Sprintf("%s === %d && %s", rows, 2*api.MaxRevisionPage, more))
		if msg := evalJS[string](b, "an error", errShown); msg != "" {
			t.Errorf("after the second page the page still shows the error %q", msg)
		}
		b.run("more", chromedp.Click(chromedp.ID("rules-revisions-more")))
		b.waitJS("the last page", fmt.Sprintf("%s === %d", rows, n))
		shown(n)
		if evalJS[bool](b, "more offered", more) || caption() != fmt.Sprintf("%d revisions", n) {
			t.Errorf("after the last page: more offered %v, caption %q", evalJS[bool](b, "more offered", more), caption())
		}
		// Every read was a page; none asked for them all.
		var asked []string
		b.eval("the revisions read", `performance.getEntriesByType("resource").filter(e => new URL(e.name).pathname === "/v1/rules/revisions" && e.responseStatus === 200).map(e => new URL(e.name).search)`, &asked)
		if len(asked) != 3 || slices.ContainsFunc(asked, func(q string) bool { return !strings.Contains(q, fmt.Sprintf("limit=%d", api.MaxRevisionPage)) }) {
			t.Errorf("the page read the revisions with %q, want 3 pages of %d", asked, api.MaxRevisionPage)
		}
		// A revision of a later page has its diff.
		b.run("the last revision's diff", chromedp.Click(chromedp.CSS("#rules-revisions tbody tr:last-child button")))
		b.waitJS("the diff", fmt.Sprintf(`document.querySelector("#rules-diff").textContent.includes(%q)`, fmt.Sprintf("test-small-%d", n)))
		b.shot("rules-revisions")
		b.forget(func(e string) bool { return strings.Contains(e, "ERR_CONNECTION_REFUSED") })
		b.run("leave the rules", chromedp.Navigate("about:blank"))
	})

	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("the pages logged %d errors:\n%s", len(errs), strings.Join(errs, "\n"))
	}
}

// writeLocatedSynthWorld is writeSynthWorld's catalog with each synthetic
// site given a point on land-or-sea at random (a synthetic site has no
// place; the map needs one).
func writeLocatedSynthWorld(t *testing.T, n int) (catalogDir, jobFile string) {
	t.Helper()
	w, err := catalog.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	sites := synth.Sites(w, n, 4, 1)
	r := rand.New(rand.NewSource(2))
	for _, s := range sites {
		s.Spec.Location = catalog.LatLon{Lat: -55 + 125*r.Float64(), Lon: -180 + 360*r.Float64()}
	}
	dir := t.TempDir()
	catalogDir = filepath.Join(dir, "sites")
	if err := os.Mkdir(catalogDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for path, set := range map[string]*catalog.Set{
		filepath.Join(catalogDir, "sites.yaml"): {Sites: sites},
		filepath.Join(dir, "job.yaml"):          synth.JobNamed(synth.Jobs[0]),
	} {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := synth.WriteYAML(f, set); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return catalogDir, filepath.Join(dir, "job.yaml")
}

// copyRuns writes n copies of the stopped server's run id into its state
// directory's database and returns their ids.
func copyRuns(t *testing.T, stateDir, id string, n int) []string {
	t.Helper()
	ctx := context.Background()
	db := openStateDB(t, state{Dir: statedir.Dir{Path: stateDir}})
	defer db.Close()
	orig, err := db.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 16 {
				cp := *orig
				cp.ID = fmt.Sprintf("run-%012x", i)
				ids[i] = cp.ID
				if _, _, err := db.CreateRun(ctx, &cp, "", store.Change{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	return ids
}
