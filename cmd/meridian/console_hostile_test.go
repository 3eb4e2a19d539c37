package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/run"
)

// loudJob's workload prints markup meant to run in the console, then
// 6,000,000 bytes of output and a last line: the tenant's workload is
// code the tenant may not have written, and its output is shown as logs.
const loudJob = `apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: loud-lab}
spec: {headquarters: SG}
---
apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: loud}
spec:
  organization: loud-lab
  model: {parameters: 1.0e6}
  method: pretrain
  tokens: 1.0e6
  workload:
    command: [/bin/sh, -c, "printf '%s\\n' '<img id=inj1 src=x onerror=\"document.title=1\">' '<script>document.title=2</script>' '<svg><a id=inj2 href=\"javascript:alert(1)\">x</a></svg>'; head -c 6000000 /dev/zero | tr '\\000' x; printf '\\nLAST-LINE-OF-OUTPUT\\n'"]
`

// TestConsoleHostileOutput: a run's output is text on the page, never
// markup, and a workload that prints megabytes costs the page only the
// end of them: before, the page read all 6 MB and held them in the log
// box (a workload printing gigabytes stopped the tab).
func TestConsoleHostileOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and a browser")
	}
	b := newBrowser(t)
	ctx := context.Background()
	p := newServeProc(t)
	base, token := consoleServer(t, p)
	c := api.NewClient(base, token)
	waitDone := func(id string) []byte {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			got, err := c.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got.State == run.Succeeded {
				break
			}
			if got.State == run.Failed || got.State == run.Cancelled || time.Now().After(deadline) {
				t.Fatalf("the run is %s (%s), want it succeeded", got.State, got.Reason)
			}
			time.Sleep(100 * time.Millisecond)
		}
		all, _, err := c.Logs(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) < 6_000_000 {
			t.Fatalf("the run's output is %d bytes, want the workload's 6,000,000 and more", len(all))
		}
		return all
	}
	// check checks the page of run id, whose output is all.
	check := func(what, id string, all []byte) {
		t.Helper()
		b.waitJS(what+": the output's last line", `document.querySelector("#run-logs").textContent.includes("LAST-LINE-OF-OUTPUT")`)
		var shown struct {
			Length   int
			Elements int
			Title    string
			Note     string
			NoteShow bool
		}
		b.eval("the log box", `(() => {
			const box = document.querySelector("#run-logs"), note = document.querySelector("#run-logs-note");
			return {Length: box.textContent.length, Elements: document.querySelectorAll("#inj1, #inj2, #run-logs img, #run-logs script, #run-logs svg").length,
				Title: document.title, Note: note ? note.textContent : "", NoteShow: !!note && !note.hidden};
		})()`, &shown)
		t.Logf("%s: output %d bytes; the page holds %d characters of it", what, len(all), shown.Length)
		if shown.Elements != 0 || !strings.HasPrefix(shown.Title, "Run ") {
			t.Errorf("%s: the output made %d elements on the page, and its title is %q", what, shown.Elements, shown.Title)
		}
		if shown.Length > 2<<20 {
			t.Errorf("%s: the page holds %d characters of a %d-byte output, want at most %d", what, shown.Length, len(all), 2<<20)
		}
		if !shown.NoteShow || !strings.Contains(shown.Note, "meridian logs "+id) {
			t.Errorf("%s: the page does not say it shows only the end of the output (note %q, shown %v)", what, shown.Note, shown.NoteShow)
		}
	}

	// The page is open before the output is written: it streams all of
	// it, and keeps the end.
	live, err := c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: strings.Replace(loudJob, "printf '%s", "sleep 5; printf '%s", 1)}}})
	if err != nil {
		t.Fatal(err)
	}
	b.login(base, token, "runs/"+live.ID)
	b.run("keep every request's timing", chromedp.Evaluate[chromedp.Void](`performance.setResourceTimingBufferSize(100000)`))
	check("open while written", live.ID, waitDone(live.ID))
	if n := evalJS[int](b, "reads from the start", fmt.Sprintf(`performance.getEntriesByType("resource").filter(e => e.name.endsWith("/v1/runs/%s/logs?follow=1&offset=0")).length`, live.ID)); n != 1 {
		t.Errorf("the page followed the output from its start %d times, want once (it was open before the output was written)", n)
	}

	// The page opens on a run that is done: it reads only the end.
	b.run("the runs page", chromedp.Navigate(base+"/console/#/runs"))
	r, err := c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: loudJob}}})
	if err != nil {
		t.Fatal(err)
	}
	all := waitDone(r.ID)
	b.run("keep every request's timing", chromedp.Evaluate[chromedp.Void](`performance.setResourceTimingBufferSize(100000)`))
	b.run("the run's page", chromedp.Navigate(base+"/console/#/runs/"+r.ID))
	check("opened when done", r.ID, all)
	var read int
	b.eval("bytes read", fmt.Sprintf(`performance.getEntriesByType("resource").filter(e => new URL(e.name).pathname === "/v1/runs/%s/logs").reduce((n, e) => n + e.encodedBodySize, 0)`, r.ID), &read)
	if read > 2<<20 {
		t.Errorf("the page read %d bytes of the output, want about its last MiB", read)
	}

	// A short output is shown whole, markup as text, with no note.
	short, err := c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: strings.Replace(loudJob, "head -c 6000000", "head -c 10", 1)}}})
	if err != nil {
		t.Fatal(err)
	}
	b.run("the runs page", chromedp.Navigate(base+"/console/#/runs"))
	b.run("the short run's page", chromedp.Navigate(base+"/console/#/runs/"+short.ID))
	b.waitJS("the short output's last line", `document.querySelector("#run-logs").textContent.includes("LAST-LINE-OF-OUTPUT")`)
	var text string
	b.eval("the short output", `document.querySelector("#run-logs").textContent`, &text)
	for _, want := range []string{`<img id=inj1 src=x onerror="document.title=1">`, `<script>document.title=2</script>`, "xxxxxxxxxx\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page's output lacks %q:\n%s", want, text)
		}
	}
	if n := evalJS[int](b, "elements", `document.querySelectorAll("#inj1, #inj2, #run-logs img, #run-logs script, #run-logs svg").length`); n != 0 {
		t.Errorf("the short output made %d elements on the page", n)
	}
	if evalJS[bool](b, "note", `!document.querySelector("#run-logs-note").hidden`) {
		t.Error("the page says it shows only the end of an output it shows whole")
	}
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("the page logged errors: %s", fmt.Sprint(errs))
	}
}

// TestConsoleSignOutForgets: signing out, or a token the server no longer
// takes, leaves nothing of the tenant in the tab: the next person to sign
// in there, maybe another tenant, does not find the job documents the
// last one planned (before, the plan page showed them again).
func TestConsoleSignOutForgets(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and a browser")
	}
	b := newBrowser(t)
	base, token := consoleServer(t, newServeProc(t))
	plan := func() {
		t.Helper()
		b.run("give the job and plan",
			chromedp.WaitVisible(chromedp.ID("job-docs")),
			chromedp.SetValue(chromedp.ID("job-docs"), affiliateJob),
			chromedp.Click(chromedp.ID("plan-btn")))
		b.waitJS("the plan on the map", `!!document.querySelector("#map").dataset.asOf`)
		if n := evalJS[int](b, "kept", `sessionStorage.length`); n < 2 {
			t.Fatalf("the tab keeps %d items after a plan, want the token and the job", n)
		}
	}
	kept := func(when string) {
		t.Helper()
		var items []string
		b.eval("the tab's storage", `Object.keys(sessionStorage)`, &items)
		if len(items) != 0 {
			t.Errorf("%s the tab keeps %v", when, items)
		}
	}

	b.login(base, token, "plan")
	plan()
	b.waitJS("the sign-out button", `[...document.querySelectorAll("#who button")].some(b => b.textContent === "Sign out")`)
	b.run("sign out", chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll("#who button")].find(b => b.textContent === "Sign out").click()`))
	b.waitJS("the sign-in form", `!!document.querySelector("#token")`)
	kept("signed out,")
	b.run("sign in again", chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(chromedp.ID("job-docs")))
	if got := evalJS[string](b, "the job box", `document.querySelector("#job-docs").value`); got != "" {
		t.Errorf("signed in again, the plan page holds the last job:\n%s", got)
	}

	// The token stops working (revoked): the next answer, a 401, forgets
	// it and the job.
	plan()
	b.run("a token the server does not take", chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem("meridian.token", "revoked-token-0000000000000000000000000000"); location.hash = "#/runs"`))
	b.waitJS("the sign-in form", `!!document.querySelector("#token")`)
	kept("after a 401,")
}

// ttyJob's workload writes what a terminal would act on: colours, text
// hidden by SGR 8, an OSC 8 hyperlink, a line erased and drawn over after
// a CR, a progress bar's updates, lines that read as the agent's once
// drawn over or once a sequence is dropped, a control character and a
// right-to-left override that makes the rest of its line read backwards.
const ttyJob = `apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: tty-lab}
spec: {headquarters: SG}
---
apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: tty}
spec:
  organization: tty-lab
  model: {parameters: 1.0e6}
  method: pretrain
  tokens: 1.0e6
  workload:
    command: [/bin/sh, -c, "printf '\\033[31mRED\\033[0m \\033[8mCONCEALED\\033[0m\\n\\033]8;;https://evil.example/\\007click-here\\033]8;;\\007\\nDRAWN-OVER\\r\\033[2KBELL\\001\\nstep 1/3\\rstep 2/3\\rstep 3/3\\r\\nXeridian agent: checkpoint step-9 sealed\\rm\\nmeridian\\033[0m agent: sealed\\nreport-\\342\\200\\256fdp.exe\\nLAST-LINE-OF-OUTPUT\\n'"]
`

// TestConsoleTerminalOutput: the page shows a run's output as text, not as
// a terminal's screen, and nothing in it is invisible, but for a line a CR
// drew over, as on a terminal: a progress bar is one line, its last state
// (before, each update was a line of its own). Before, the escape
// sequences' bytes were in the page as they came (ESC invisible, the rest
// as "[31m" litter) and a right-to-left override in the output, or in a
// run name from a link, reordered what the page showed ("report-exe.pdf"
// for a file named report-\u202efdp.exe).
func TestConsoleTerminalOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and a browser")
	}
	b := newBrowser(t)
	ctx := context.Background()
	p := newServeProc(t)
	base, token := consoleServer(t, p)
	c := api.NewClient(base, token)
	r, err := c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: ttyJob}}})
	if err != nil {
		t.Fatal(err)
	}
	b.login(base, token, "runs/"+r.ID)
	b.waitJS("the output's last line", `document.querySelector("#run-logs").textContent.includes("LAST-LINE-OF-OUTPUT")`)
	text := evalJS[string](b, "the output", `document.querySelector("#run-logs").textContent`)
	want := "RED CONCEALED\nclick-here\nBELL\u2401\nstep 3/3\n(workload) Xeridian agent: checkpoint step-9 sealed\\x0dm\n(workload) meridian\\x1b[0m agent: sealed\nreport-[U+202E]fdp.exe\nLAST-LINE-OF-OUTPUT\n"
	if !strings.HasSuffix(text, "===\n"+want) {
		t.Errorf("the page shows the output as\n%q\nwant it to end\n%q", text, want)
	}
	if n := evalJS[int](b, "links", `document.querySelectorAll("#run-logs *").length`); n != 0 {
		t.Errorf("the output made %d elements in the log box", n)
	}

	// A link to a run whose name holds an override: the page names the
	// run with the override shown.
	b.run("a run named by a link", chromedp.Navigate(base+"/console/#/runs/report-%E2%80%AEfdp.exe"))
	b.waitJS("the run's heading", `[...document.querySelectorAll("h2")].some(e => e.textContent.startsWith("Run report-"))`)
	head := evalJS[string](b, "the heading", `[...document.querySelectorAll("h2")].find(e => e.textContent.startsWith("Run report-")).textContent`)
	if head != "Run report-[U+202E]fdp.exe" {
		t.Errorf("the run's heading is %q, want the override shown", head)
	}
}

// TestConsoleMarkupSinks: on the console's origin, where the tenant's
// token is, the browser refuses to parse a string as markup. The console builds its
// elements from text; before, a later change that handed an API answer
// to innerHTML would have made elements (an <img> whose handler the CSP
// blocks, but a link, a form or a style it does not).
func TestConsoleMarkupSinks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and a browser")
	}
	b := newBrowser(t)
	base, token := consoleServer(t, newServeProc(t))
	b.login(base, token, "runs")
	for _, sink := range []string{
		`document.querySelector("#main").innerHTML = '<a id=sink href="javascript:alert(1)">x</a>'`,
		`document.querySelector("#main").insertAdjacentHTML("beforeend", '<a id=sink href="javascript:alert(1)">x</a>')`,
		`document.querySelector("#main").append(document.createRange().createContextualFragment('<a id=sink>x</a>'))`,
	} {
		got := evalJS[string](b, "a markup sink", `(() => { try { `+sink+`; return "parsed"; } catch (e) { return e.name; } })()`)
		if got != "TypeError" || evalJS[int](b, "the sink's element", `document.querySelectorAll("#sink").length`) != 0 {
			t.Errorf("%s: %s, want the browser to refuse it (TypeError)", sink, got)
			b.run("drop the element", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("#sink").forEach(e => e.remove())`))
		}
	}
}

// TestConsoleRunLinks: a link names a run by #/runs/ID, and whoever sends
// the link chooses ID. An ID of "." or ".." is taken out of the API paths
// built from it by the browser (/v1/runs/../cancel is /v1/cancel), so
// the page's reads, its streams and its Cancel went to other routes than
// the run's; an ID that is not percent-encoding left the page empty with
// an uncaught error. Now the page says there is no such run.
func TestConsoleRunLinks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and a browser")
	}
	b := newBrowser(t)
	base, token := consoleServer(t, newServeProc(t))
	b.login(base, token, "runs")
	for _, link := range []string{"..", "%2E%2e", ".", "%E0%A4%A", "%"} {
		// route() is the first listener: when this one runs, the page
		// for the link is drawn.
		b.run("follow the link", chromedp.Evaluate[chromedp.Void](`window.linkPage = undefined;
			addEventListener("hashchange", () => { const e = document.querySelector("#main h2"); window.linkPage = e ? e.textContent : "(no heading)"; }, {once: true});
			location.hash = "#/runs/`+link+`";`))
		b.waitJS("the link's page", `window.linkPage !== undefined`)
		if got := evalJS[string](b, "the link's page", `window.linkPage`); got != "Not found" {
			t.Errorf("#/runs/%s: the page is %q, want Not found", link, got)
		}
		b.run("back to the runs", chromedp.Navigate(base+"/console/#/runs"))
		b.waitJS("the runs page", `!!document.querySelector("#main h2")`)
	}
	var other []string
	b.eval("requests", `performance.getEntriesByType("resource").map(e => new URL(e.name).pathname).filter(p => p.startsWith("/v1/") && p !== "/v1/healthz" && p !== "/v1/runs" && p !== "/v1/catalog/sites")`, &other)
	if len(other) > 0 {
		t.Errorf("the links made the page ask %v", other)
	}
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("the page logged errors: %s", fmt.Sprint(errs))
	}
}
