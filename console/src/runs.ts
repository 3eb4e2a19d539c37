// Runs: the tenant's list, and a run's page: its state and progress, its
// sites on the map with each migration as an arc, its timeline, its logs
// streamed as they are written, and cancel. The list, a page at a time,
// follows the tenant's runs stream (GET /v1/runs?follow=1) and the run's
// page the run's event stream (GET …/events?follow=1), both server-sent
// events; while a stream cannot be had the page polls (the list every 5
// seconds, the pages it shows; the run every 2) and tries the stream again.

import { call, readOnce, followOrPoll, readRunPage, logSize, stream, Run, RunEvent, Site, RUN_PAGE, SSE_MAX_EVENT, ApiError, FieldError, StreamFailed, listAt, textAt, numAt, objAt, pathPart } from "./api";
import { h, clear, errorBox, fmtBytes, table, tableRow, classWord, textOf, textOr, Problems } from "./dom";
import { WorldMap, catalogSites } from "./map";
import { LogText, nameShown, shown } from "./terminal";

function fmtTime(t: string): string {
  return t ? t.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC") : "";
}

// runName is how a problem names a run of the server's answer.
function runName(r: unknown, i: number): string {
  const id = r && typeof r === "object" ? (r as Run).id : undefined;
  return typeof id === "string" ? "Run " + id : `Run ${i + 1} of the list`;
}

// runKey is the key of a run of the server's answer in the list's map:
// its id, or one of its own for a run with none (its row says so).
let badRuns = 0;
function runKey(r: unknown): string {
  const id = r && typeof r === "object" ? (r as Run).id : undefined;
  return typeof id === "string" ? id : "\0" + badRuns++;
}

// runRow is a run's row in the runs list; a field it cannot show is a
// FieldError.
function runRow(r: Run): (Node | string)[] {
  objAt(r, "the run");
  const id = textAt(r.id, "id");
  return [
    h("a", { href: "#/runs/" + encodeURIComponent(id), text: id }),
    textOf(r.job),
    h("span", { class: "state state-" + classWord(r.state), text: textOf(r.state) }),
    textOf(r.site),
    textOf(r.attempt),
    fmtTime(textAt(r.createdAt, "createdAt")),
    fmtTime(textAt(r.updatedAt, "updatedAt")),
  ];
}

// Drawn is a run as the runs list shows it: the run, as JSON (a run read
// again the same is not drawn again), its place (created) and its row,
// or why it has none.
interface Drawn {
  run: Run;
  json: string;
  created: string;
  row: HTMLElement | null;
  err: unknown;
}

// before says whether the run of key a, created ca, goes before the run
// of key b in the runs list: newest first, then by key.
function before(ca: string, a: string, cb: string, b: string): boolean {
  return ca !== cb ? ca > cb : a > b;
}

// RUN_EVENTS_KEEP is how many runs the list's stream may add beyond the
// pages read (runs submitted, or changed on pages not opened, since the
// list was read). A list left open while a tenant submits runs without
// end would otherwise grow without end; past it, the list says how many
// it left out, and a reload lists them.
export const RUN_EVENTS_KEEP = RUN_PAGE;

// LIST_POLL is how often the list is read while its stream cannot be had.
const LIST_POLL = 5000;

// streamFailed is what a page says of its stream that ended on the
// server's error (what: whose stream; polls: how the page reads meanwhile):
// the server's message and code, and whether and when the stream is
// opened again.
export function streamFailed(what: string, err: StreamFailed, polls: string): Error {
  const then = err.again
    ? `the stream is opened again in ${Math.ceil(err.wait / 1000)} s`
    : "the stream is not opened again, as the same error would end it: reload the page to try it";
  return new Error(`${what} stream ended on an error from the server: ${err.message}${err.code ? ` (${err.code})` : ""}. ${polls}; ${then}.`);
}

// droppedNote is the page's note that its stream dropped events too long
// to hold; dropped counts them.
function droppedNote(id: string): { note: HTMLElement; dropped: () => void } {
  const note = h("p", { id, class: "help", role: "status", hidden: true });
  let n = 0;
  return {
    note,
    dropped() {
      n++;
      note.hidden = false;
      note.textContent = `The server's stream sent ${n === 1 ? "an event" : n + " events"} longer than the page holds (${fmtBytes(SSE_MAX_EVENT)}), dropped; the page read the server again instead.`;
    },
  };
}

export function runsPage(main: HTMLElement): () => void {
  let alive = true;
  const box = h("div", { id: "runs" });
  const help = h("p", { class: "help", text: "This tenant's runs, newest first; the list follows each change as the server records it." });
  // The list shows its first page, and one more each time "more" is
  // pressed: never the rest by itself, since a tenant's runs only grow.
  const more = h("button", { type: "button", id: "runs-more", hidden: true }) as HTMLButtonElement;
  const moreStatus = h("div", { id: "runs-more-status", "aria-live": "polite" });
  const drops = droppedNote("runs-dropped");
  // What of the server's answers the list could not show.
  const problems = new Problems("runs-problems");
  const streamProblems = new Problems("runs-stream-problems");
  // Why the list's stream ended, when the server said (its error event).
  const streamErr = h("div", { id: "runs-stream-error" });
  // What the stream brought past what the list holds.
  const unlistedNote = h("p", { id: "runs-unlisted", class: "help", role: "status", hidden: true });
  // The notes go after the list: the help line just above the list says
  // whether it streams or polls, and scripts find it there.
  main.append(h("h2", { text: "Runs" }), help, box, streamErr, more, moreStatus, unlistedNote, drops.note, problems.box, streamProblems.box);
  // The runs shown, by id: the stream's "runs" event replaces them all,
  // each "run" event one of them (or adds it). pages is how many pages of
  // the list are shown, next the after= of the page that follows them.
  let byId = new Map<string, Run>();
  let pages = 1;
  // opened is how many pages the user opened: a reconnect's list, its
  // first page, is followed by the others again.
  let opened = 1;
  let next = "";
  // added is the runs the stream added that no page read has brought
  // (runs submitted since the list was read, or on pages not opened),
  // at most RUN_EVENTS_KEEP of them; unlisted counts those it brought
  // past that, which a reload lists.
  let added = new Set<string>();
  let unlisted = 0;
  // The table is made once. Each run's row is made when the run is
  // first shown and again only when it changes (drawn: what each row
  // shows, order: the runs shown, newest first); dirty is the runs
  // changed since the list was last drawn, every run when all.
  const runsTable = table("0 runs", ["Run", "Job", "State", "Site", "Attempt", "Created", "Updated"], [], { class: "data", id: "runs-table" });
  const body = runsTable.tBodies[0];
  const caption = runsTable.caption as HTMLElement;
  const drawn = new Map<string, Drawn>();
  const order: string[] = [];
  let rowCount = 0;
  let bad = 0;
  let all = true;
  const dirty = new Set<string>();
  function changed(key: string): void {
    if (!all) dirty.add(key);
  }
  function changedAll(): void {
    all = true;
    dirty.clear();
  }
  // at is where in order a run of that place goes: after every run
  // drawn before it.
  function at(d: Drawn, key: string): number {
    let lo = 0,
      hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const o = drawn.get(order[mid]) as Drawn;
      if (before(o.created, order[mid], d.created, key)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  function undraw(key: string, d: Drawn): void {
    let i = at(d, key);
    while (i < order.length && order[i] !== key) i++;
    if (i < order.length) order.splice(i, 1);
    drawn.delete(key);
    if (d.row) {
      body.removeChild(d.row);
      rowCount--;
    } else bad--;
  }
  function draw(key: string, r: Run, json: string): void {
    const d: Drawn = { run: r, json, created: r && typeof r === "object" ? textOf(r.createdAt) : "", row: null, err: null };
    try {
      d.row = tableRow(runRow(r));
    } catch (err) {
      d.err = err;
    }
    const i = at(d, key);
    order.splice(i, 0, key);
    drawn.set(key, d);
    if (d.row) {
      let after: Node | null = null;
      for (let j = i + 1; j < order.length && !after; j++) after = (drawn.get(order[j]) as Drawn).row;
      body.insertBefore(d.row, after);
      rowCount++;
    } else bad++;
  }
  function show(): void {
    if (!box.firstChild || box.firstChild !== runsTable) {
      clear(box);
      box.append(runsTable);
    }
    const keys = all ? new Set([...drawn.keys(), ...byId.keys()]) : dirty;
    const hadBad = bad > 0;
    for (const key of keys) {
      const old = drawn.get(key);
      const r = byId.get(key);
      const json = r === undefined ? "" : JSON.stringify(r);
      if (old && r !== undefined && old.json === json) continue;
      if (old) undraw(key, old);
      if (r !== undefined) draw(key, r, json);
    }
    all = false;
    dirty.clear();
    // A run's problem names its place in the list when it has no id,
    // which the others drawn may have moved.
    if (hadBad || bad > 0) {
      problems.reset();
      order.forEach((key, i) => {
        const d = drawn.get(key) as Drawn;
        if (!d.row) problems.add(runName(d.run, i), d.err);
      });
    }
    caption.textContent = shown(next ? `The oldest ${rowCount} runs, newest of them first; more follow` : `${rowCount} runs`);
    unlistedNote.hidden = unlisted === 0;
    unlistedNote.textContent = unlisted === 0 ? "" : shown(`${unlisted.toLocaleString("en-US")} more ${unlisted === 1 ? "run" : "runs"} changed than the list holds (${RUN_EVENTS_KEEP.toLocaleString("en-US")} beyond the pages read): reload the page to list them.`);
    more.hidden = !next;
    more.textContent = `More runs: the next ${RUN_PAGE}`;
  }
  // The poll, while the list has no stream: the pages shown, and no more
  // (each poll as many reads as "more" was pressed, plus one). followOrPoll
  // runs one poll at a time. The poll's reads are asked once (a 429 is
  // shown, and the next tick asks again); those of "more", which the
  // tenant pressed, are asked again after a 429 (retry).
  // The stream, while it delivers, is the latest word on the list: a
  // poll that began before its list came (one under way as it opened
  // again) is dropped, pages, error and all, as the stream's list and
  // the pages read again after it (reopen) are newer; and a run the
  // stream brought after a poll began (one asked for beside the stream,
  // after it dropped an event) is kept as the stream brought it, not as
  // the poll read it. Before, the poll's pages replaced the list whole,
  // and each run stood as it was read until it next changed.
  async function load(retry = false): Promise<void> {
    const n = list,
      began = streamed,
      unlistedBefore = unlisted;
    try {
      const runs = new Map<string, Run>();
      let after = "";
      for (let i = 0; i < pages; i++) {
        const p = await readRunPage(after, retry);
        for (const r of p.runs) runs.set(runKey(r), r);
        after = p.next;
        if (!after) break;
      }
      if (!alive || n !== list) return;
      // The runs the stream brought since the poll began: kept, and
      // still newer than a page "more" reads later (takePage). Those
      // the stream brought before are no newer than the poll's pages.
      const kept = new Set<string>();
      const newer = new Map<string, number>();
      let over = unlisted - unlistedBefore;
      for (const [key, at] of fromEvents) {
        const r = byId.get(key);
        if (at <= began || r === undefined) continue;
        if (!runs.has(key)) {
          if (kept.size >= RUN_EVENTS_KEEP) {
            over++;
            continue;
          }
          kept.add(key);
        }
        runs.set(key, r);
        newer.set(key, at);
      }
      byId = runs;
      fromEvents = newer;
      next = after;
      added = kept;
      unlisted = over;
      changedAll();
      clear(moreStatus);
      show();
    } catch (err) {
      if (!alive || n !== list) return;
      clear(box);
      box.append(errorBox(err));
    }
  }
  // The stream: the list's first page, then each run as it changes. A
  // run an event brought is newer than the same run in a page read with
  // "more", which was read as of the stream's start or after: the page
  // does not replace it. Redrawn at most once for the events that arrive
  // together.
  let redraw = false;
  let list = 0; // which "runs" event the pages being read belong to
  // fromEvents is the runs the stream brought that are newer than the
  // pages read (since its list, or since the poll that last read them
  // began), each with the count of the stream's runs (streamed) as it
  // came.
  let streamed = 0;
  let fromEvents = new Map<string, number>();
  function later(): void {
    if (!redraw) {
      redraw = true;
      queueMicrotask(() => {
        redraw = false;
        if (alive) show();
      });
    }
  }
  // takePage takes in the runs of a page read with "more" (or read
  // again after a reconnect).
  function takePage(runs: Run[]): void {
    for (const r of runs) {
      const key = runKey(r);
      added.delete(key);
      if (fromEvents.has(key)) continue;
      byId.set(key, r);
      changed(key);
    }
  }
  let loading = false;
  // reopen reads again, after the stream's list n, the pages that were
  // shown before it came (a reconnect brings the first page only): up to
  // want pages in all, one at a time, as "more" reads them.
  async function reopen(n: number, want: number): Promise<void> {
    loading = true;
    more.disabled = true;
    try {
      while (alive && n === list && pages < want && next) {
        const from = next;
        const p = await readRunPage(from);
        if (!alive || n !== list || from !== next) return;
        takePage(p.runs);
        pages++;
        next = p.next;
        later();
      }
    } catch (err) {
      if (alive && n === list) moreStatus.append(errorBox(new Error(`The runs shown before the list was read again could not be read: ${(err as Error).message}`)));
    } finally {
      if (n === list) {
        loading = false;
        more.disabled = false;
      }
    }
  }
  more.addEventListener("click", async () => {
    if (loading || !next) return;
    clear(moreStatus);
    loading = true;
    more.disabled = true;
    if (f.polling()) {
      // The poll reads one page more from now on, starting at once, or
      // once the poll under way has ended (never beside it).
      pages++;
      opened = pages;
      await f.pollNow(() => load(true));
      loading = false;
      more.disabled = false;
      return;
    }
    const n = list,
      from = next;
    try {
      const p = await readRunPage(from);
      if (!alive || n !== list || from !== next) return;
      takePage(p.runs);
      pages++;
      opened = pages;
      next = p.next;
      later();
    } catch (err) {
      if (alive && n === list) moreStatus.append(errorBox(new Error(`The runs after ${from} could not be read: ${(err as Error).message}`)));
    } finally {
      loading = false;
      more.disabled = false;
    }
  });
  const f = followOrPoll({
    path: "/v1/runs?follow=1&pages=1",
    lastId: () => "",
    onEvent: (m) => {
      try {
        listEvent(m);
      } catch (err) {
        streamProblems.add(m.event === "runs" ? "The runs list the server sent" : "A change to a run", err);
      }
    },
    poll: load,
    onDropped: drops.dropped,
    onFailed: (err) => {
      clear(streamErr);
      streamErr.append(errorBox(streamFailed("The runs list's", err, "The list refreshes every 5 seconds")));
    },
    every: LIST_POLL,
    onMode: (streaming) => {
      if (streaming) clear(streamErr);
      help.textContent = streaming
        ? "This tenant's runs, newest first; the list follows each change as the server records it."
        : "This tenant's runs, newest first; the list refreshes every 5 seconds.";
    },
  });
  // listEvent takes in an event of the list's stream; a field it cannot
  // read is a FieldError, and the list stays as it was.
  function listEvent(m: { event: string; data: string }): void {
    if (m.event === "runs") {
      const l = objAt(JSON.parse(m.data), "the runs event");
      const runs = listAt<Run>(l.runs, "runs");
      const lnext = l.next === undefined || l.next === null ? "" : textAt(l.next, "next");
      byId = new Map(runs.map((r) => [runKey(r), r]));
      fromEvents = new Map<string, number>();
      added = new Set<string>();
      unlisted = 0;
      changedAll();
      list++;
      // A reconnect's list is the first page again: the pages opened
      // with "more" before it are read again, not dropped.
      pages = 1;
      next = lnext;
      loading = false;
      more.disabled = false;
      if (opened > 1 && next) reopen(list, opened);
    } else if (m.event === "run") {
      const r = objAt(JSON.parse(m.data), "the run event") as unknown as Run;
      const id = textAt(r.id, "id");
      if (!byId.has(id)) {
        // A run the list does not show: the stream adds a bounded
        // number of them, then counts them.
        if (added.size >= RUN_EVENTS_KEEP) {
          unlisted++;
          later();
          return;
        }
        added.add(id);
      }
      byId.set(id, r);
      fromEvents.set(id, ++streamed);
      changed(id);
    } else {
      return;
    }
    later();
  }
  return () => {
    alive = false;
    f.stop();
  };
}

// progressText is a run's progress as the page shows it. A field that is
// not a number (absent, null, text) is shown as "–": before, a progress
// without a loss threw, and the page stopped before it followed the
// output or set the cancel button.
export function progressText(p: Run["progress"] | null): string {
  if (!p || typeof p !== "object") return "No progress reported yet.";
  const num = (v: unknown, f: (n: number) => string) => (typeof v === "number" && isFinite(v) ? f(v) : "–");
  return `Step ${num(p.step, String)} · loss ${num(p.loss, (n) => n.toFixed(4))} · ${num(p.tokensPerS, (n) => Math.round(n).toLocaleString("en-US"))} tokens/s`;
}

const FINAL = new Set(["succeeded", "failed", "cancelled"]);

// TIMELINE_KEEP is how many of a run's events its page shows: the last
// ones. A long run's timeline (heartbeats, checkpoints) grows without end,
// and a page that held every event would slow, then stop answering; the
// API (meridian describe run) keeps all of them.
export const TIMELINE_KEEP = 5000;

// Timeline is a run's timeline on its page: each event is added once, as
// it comes, and the oldest are taken out past TIMELINE_KEEP. Before, the
// whole timeline was drawn again for each batch of events, so a run of n
// events cost the page about n²/2 elements over its life.
export class Timeline {
  private shown = 0;
  private cut = 0;
  constructor(
    private list: HTMLElement,
    private note: HTMLElement,
    private run: string,
    private keep = TIMELINE_KEEP,
  ) {}

  add(e: RunEvent): void {
    this.list.append(timelineItem(e));
    this.shown++;
    while (this.shown > this.keep && this.list.firstChild) {
      this.list.removeChild(this.list.firstChild);
      this.shown--;
      this.cut++;
    }
    if (this.cut) {
      this.note.hidden = false;
      this.note.textContent = shown(`Only the last ${this.keep.toLocaleString("en-US")} events are shown (${this.cut.toLocaleString("en-US")} before them are not): meridian describe run ${nameShown(this.run)} prints all of them.`);
    }
  }
}

// timelineItem is an event's line in the timeline.
function timelineItem(e: RunEvent): HTMLElement {
  return h(
    "li",
    { "data-kind": e.kind, "data-seq": e.seq },
    h("time", { datetime: e.time, text: fmtTime(e.time) }),
    " ",
    h("strong", { text: e.kind }),
    e.from || e.to ? ` ${textOr(e.from || null, "")} → ${textOr(e.to || null, "")}` : "",
    e.reason ? h("p", { text: e.reason }) : null,
  );
}

// LOG_KEEP is about how much of a run's output the page shows: its last
// MiB. A workload may print gigabytes, and a page that read and held them
// all would stop answering; the API (meridian logs) keeps all of it.
const LOG_KEEP = 1 << 20;

// POLL is how often the run's page reads the run when it has no stream.
const POLL = 2000;

export function runPage(main: HTMLElement, _params: URLSearchParams, id: string): () => void {
  let alive = true;
  const logs = new AbortController();
  const runPath = "/v1/runs/" + pathPart(id, "the run");
  let sites = new Map<string, Site>();
  const head = h("div", { id: "run-head" });
  const progress = h("div", { id: "run-progress", role: "status", "aria-live": "polite" });
  const wm = new WorldMap("Map of the run's sites and migrations");
  const moves = h("div", { id: "run-moves" });
  const timeline = h("ol", { id: "run-timeline", class: "timeline" });
  const timelineNote = h("p", { id: "run-timeline-note", class: "help", hidden: true });
  const logBox = h("pre", { id: "run-logs", class: "logs", tabindex: 0, "aria-label": "Run output" });
  // The output's finished lines, and the line being written (a progress
  // bar's, say), which changes in place.
  const logText = document.createTextNode("");
  const logLine = document.createTextNode("");
  logBox.append(logText, logLine);
  const logNote = h("p", { id: "run-logs-note", class: "help", hidden: true });
  const cancelBtn = h("button", { type: "button", id: "cancel", text: "Cancel run…" }) as HTMLButtonElement;
  const cancelMsg = h("span", { "aria-live": "polite" });
  let confirming = false;
  cancelBtn.addEventListener("click", async () => {
    if (!confirming) {
      confirming = true;
      // The id is the link's: bounded and marked as the heading shows it.
      cancelBtn.textContent = "Confirm: cancel run " + nameShown(id);
      return;
    }
    cancelBtn.disabled = true;
    try {
      await call<Run>("POST", runPath + "/cancel");
      cancelMsg.textContent = "Cancel requested.";
      if (f.polling()) f.pollNow(); // else the stream brings the change
    } catch (err) {
      cancelMsg.append(errorBox(err));
    }
  });

  const drops = droppedNote("run-dropped");
  // What of the server's answers the page could not show.
  const problems = new Problems("run-problems");
  // Why the run's stream ended, when the server said (its error event).
  const streamErr = h("div", { id: "run-stream-error" });
  main.append(
    h("p", {}, h("a", { href: "#/runs", text: "← Runs" })),
    // The id is the link's (#/runs/ID): the heading shows it apart from
    // its own words, bounded and marked (nameShown).
    h("h2", {}, "Run ", h("code", { text: nameShown(id) })),
    drops.note,
    problems.box,
    streamErr,
    head,
    progress,
    h("p", {}, cancelBtn, " ", cancelMsg),
    h("h3", { text: "Sites and migrations" }),
    wm.svg,
    moves,
    h("h3", { text: "Timeline" }),
    timelineNote,
    timeline,
    h("h3", { text: "Logs" }),
    logNote,
    logBox,
  );

  let following = false;
  async function follow(): Promise<void> {
    if (following) return;
    following = true;
    // Only the output's last LOG_KEEP bytes are read, and the page keeps
    // at most twice that, cutting it back to LOG_KEEP.
    const shorten = () => {
      logNote.hidden = false;
      logNote.textContent = shown(`Only the end of the output is shown (about its last ${fmtBytes(LOG_KEEP)}): meridian logs ${nameShown(id)} prints all of it.`);
    };
    try {
      const size = await logSize(runPath, logs.signal);
      const from = Math.max(0, size - LOG_KEEP);
      if (from > 0) shorten();
      // The output as text: escape sequences dropped, controls shown,
      // carriage returns drawn over the line.
      const term = new LogText();
      await stream(runPath + "/logs?follow=1&offset=" + from, (s) => {
        logText.appendData(term.push(s));
        logLine.data = term.line();
        if (logText.length > 2 * LOG_KEEP) {
          logText.deleteData(0, logText.length - LOG_KEEP);
          shorten();
        }
        logBox.scrollTop = logBox.scrollHeight;
      }, logs.signal);
      logText.appendData(term.end());
      logLine.data = "";
    } catch (err) {
      if ((err as Error).name !== "AbortError" && alive) logBox.append(errorBox(err));
    }
  }

  // addEvent adds an event of the server's to the timeline, once: one
  // the page cannot read is said (what names it), and skipped.
  function addEvent(e: RunEvent, what: string): void {
    try {
      objAt(e, "the event");
      const seq = numAt(e.seq, "seq");
      if (seq <= lastSeq) return;
      textAt(e.time, "time");
      textAt(e.kind, "kind");
      tl.add(e);
      lastSeq = seq;
    } catch (err) {
      problems.add(what, err);
    }
  }

  // showMoves draws the run's sites and migrations, or says why not.
  function showMoves(r: Run): void {
    try {
      drawMoves(r);
    } catch (err) {
      problems.add("The run's sites and migrations", err);
    }
  }

  function drawMoves(r: Run): void {
    clear(wm.arcs);
    clear(wm.sites);
    clear(moves);
    const path: string[] = [];
    for (const a of listAt<{ site?: unknown }>(r.attempts, "attempts")) if (a && typeof a.site === "string" && a.site && path[path.length - 1] !== a.site) path.push(a.site);
    if (typeof r.site === "string" && r.site && path[path.length - 1] !== r.site) path.push(r.site);
    const rows: string[][] = [];
    for (let i = 1; i < path.length; i++) {
      const a = sites.get(path[i - 1]),
        b = sites.get(path[i]);
      rows.push([path[i - 1], path[i], a ? a.spec.country : "", b ? b.spec.country : ""]);
      if (a && b) {
        wm.arc([a.spec.location.lon, a.spec.location.lat], [b.spec.location.lon, b.spec.location.lat], "migration", `Migration ${i}: ${nameShown(path[i - 1])} → ${nameShown(path[i])}`, { from: path[i - 1], to: path[i] });
      }
    }
    path.forEach((name, i) => {
      const st = sites.get(name);
      if (!st) return;
      const p = wm.point(st.spec.location.lon, st.spec.location.lat);
      if (!p) return;
      const cur = i === path.length - 1;
      const g = document.createElementNS("http://www.w3.org/2000/svg", "g");
      g.setAttribute("class", "site" + (cur ? " current" : ""));
      g.setAttribute("data-site", name);
      g.setAttribute("transform", `translate(${p[0].toFixed(1)},${p[1].toFixed(1)})`);
      const c = document.createElementNS("http://www.w3.org/2000/svg", "circle");
      c.setAttribute("r", cur ? "6" : "4");
      const t = document.createElementNS("http://www.w3.org/2000/svg", "title");
      // The site's name is the run's: the tooltip shows it bounded and
      // marked, as a heading shows a name.
      t.textContent = nameShown(name) + (cur ? " (now)" : "");
      g.append(t, c);
      wm.sites.append(g);
    });
    moves.append(rows.length ? table(`${rows.length} migrations`, ["From site", "To site", "From country", "To country"], rows, { class: "data", id: "moves-table" }) : h("p", { text: "No migration: the run has stayed at " + (path[0] ? nameShown(path[0]) : "no site yet") + "." }));
  }

  // What the page shows: the run as last read and its timeline so far
  // (lastSeq: the last event shown).
  let cur: Run | null = null;
  const tl = new Timeline(timeline, timelineNote, id);
  let lastSeq = 0;

  function showRun(r: Run): void {
    objAt(r, "the run");
    cur = r;
    clear(head);
    head.append(
      h(
        "dl",
        { class: "facts" },
        h("dt", { text: "Job" }),
        h("dd", { text: r.job }),
        h("dt", { text: "State" }),
        h("dd", { id: "run-state", class: "state state-" + classWord(r.state), text: textOf(r.state) + (r.cancelRequested ? " (cancel requested)" : "") }),
        h("dt", { text: "Site" }),
        h("dd", { text: r.site || "–" }),
        h("dt", { text: "Attempt" }),
        h("dd", { text: textOf(r.attempt) }),
        r.reason ? h("dt", { text: "Reason" }) : null,
        r.reason ? h("dd", { text: r.reason }) : null,
        r.migration ? h("dt", { text: "Moving" }) : null,
        r.migration ? h("dd", { text: `from ${textOr(r.migration.from)}: ${textOr(r.migration.reason)}${r.migration.rule ? " (rule " + textOf(r.migration.rule) + ")" : ""}` }) : null,
      ),
    );
    clear(progress);
    progress.append(progressText(r.progress));
    showMoves(r);
    cancelBtn.disabled = FINAL.has(r.state) || !!r.cancelRequested;
    follow();
  }


  // streamed counts the runs the stream has shown. The stream, while it
  // delivers, is the latest word on the run: it brings each change in
  // the order the server records it. A poll that began before one of
  // them came (one under way as the stream opened again, or one asked
  // for beside the stream after it dropped an event) may have read the
  // run before that change: its run is not shown, nor its error, as
  // either would stand over the newer state until the run next changed.
  // Its timeline events are taken as ever (addEvent skips what is shown).
  let streamed = 0;

  // The poll: the run and the timeline's events after the last one shown
  // (a page at a time: next is the after= of the page that follows),
  // every POLL ms while the page has no stream, and never two at once
  // (followOrPoll). Its reads are asked once: a 429 is shown, and the
  // next tick asks again.
  async function refresh(): Promise<void> {
    const began = streamed;
    try {
      const r = await readOnce<Run>(runPath);
      for (;;) {
        const before = lastSeq;
        const ev = objAt(await readOnce<unknown>(runPath + "/events?after=" + lastSeq), "the answer");
        if (!alive) return;
        listAt<RunEvent>(ev.events, "events").forEach((e, i) => addEvent(e, `Event ${i + 1} of the timeline's page after ${before}`));
        const evNext = ev.next === undefined || ev.next === null ? 0 : numAt(ev.next, "next");
        // Another page only when this one moved on: a next with no
        // new events asked for the same page again, without end.
        if (!evNext || evNext < lastSeq || lastSeq === before) break;
      }
      if (streamed === began) showRun(r);
      if (FINAL.has(r.state)) f.stopPolling();
    } catch (err) {
      if (streamed !== began && !(err instanceof ApiError && err.status === 404)) return;
      clear(head);
      // A run the server does not have for this tenant (none of that
      // name, or another tenant's) will not come: the page says so and
      // stops asking. Before, it asked again every POLL ms, and for the
      // event stream, for as long as it stayed open.
      if (err instanceof ApiError && err.status === 404) {
        f.stop();
        logs.abort();
        head.append(errorBox(new ApiError(404, `The server has no run ${nameShown(id)} for this tenant (404: ${err.message}): the page stopped asking for it.`)));
        return;
      }
      head.append(errorBox(err));
    }
  }

  // The stream: each timeline event once (resumed after the last one
  // shown), and the run whenever it changes, until "end".
  let ended = false;
  const f = followOrPoll({
    path: runPath + "/events?follow=1",
    lastId: () => (lastSeq ? String(lastSeq) : ""),
    onEvent: (m) => {
      if (m.event === "event") {
        let e: RunEvent;
        try {
          e = JSON.parse(m.data);
        } catch (err) {
          problems.add(`The event after ${lastSeq} of the timeline`, err);
          return;
        }
        addEvent(e, `The event after ${lastSeq} of the timeline`);
      } else if (m.event === "run") {
        try {
          showRun(JSON.parse(m.data) as Run);
          streamed++;
        } catch (err) {
          problems.add("A change to the run", err);
        }
      } else if (m.event === "end") {
        ended = true;
      }
    },
    poll: refresh,
    onDropped: drops.dropped,
    onFailed: (err) => {
      clear(streamErr);
      streamErr.append(errorBox(streamFailed("The run's", err, "The page reads the run every 2 seconds")));
    },
    onMode: (streaming) => {
      if (streaming) clear(streamErr);
    },
    every: POLL,
    done: () => ended,
  });

  call<{ sites: unknown }>("GET", "/v1/catalog/sites")
    .then((l) => {
      sites = catalogSites(listAt(objAt(l, "the answer").sites, "sites"), problems);
      if (cur) showMoves(cur);
    })
    .catch((err) => {
      // The map is drawn without the sites; a server that could not be
      // read (a network error) is said by the rest of the page.
      if (err instanceof FieldError) problems.add("The map's sites", err);
    });
  return () => {
    alive = false;
    f.stop();
    logs.abort();
  };
}
