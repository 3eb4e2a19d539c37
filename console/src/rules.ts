// Rules: a timeline per jurisdiction of when each rule is in force,
// suspended or not enforced; the rules as a table; the server's rules
// revisions with their diff; and (admin tokens) what a proposed change
// would do to the live runs.

import { call, ApiError, RuleEntry, RuleRevision, listAt, textAt, numAt, objAt } from "./api";
import { h, s, clear, errorBox, table, classWord, textOf, Problems } from "./dom";
import { shown } from "./terminal";

interface Span {
  from: string;
  to: string;
  state: string;
}

const MIN = "2018-01-01";

// REVISION_PAGE is how many rules revisions a page reads: the most one
// answer holds, so a server with no more than that shows them all at once.
const REVISION_PAGE = 1000;

// spans turns a rule's dates and enforcement steps into periods.
function spans(r: RuleEntry, end: string): Span[] {
  const start = r.effectiveFrom && r.effectiveFrom > MIN ? r.effectiveFrom : MIN;
  const stop = r.effectiveUntil || end;
  const steps = r.enforcement.length ? r.enforcement : [{ state: "in-force" }];
  const out: Span[] = [];
  steps.forEach((st, i) => {
    const from = st.from && st.from > start ? st.from : start;
    const next = steps[i + 1]?.from || stop;
    let state = st.state;
    if (state.startsWith("suspended-until")) {
      const until = st.until || state.split(" ")[1] || next;
      out.push({ from, to: until < next ? until : next, state: "suspended" });
      if (until < next) out.push({ from: until, to: next, state: "in-force" });
      return;
    }
    out.push({ from, to: next < stop ? next : stop, state });
  });
  return out.filter((x) => x.from < x.to);
}

// witness is what the page says of whether the server's audit log vouches
// for revision v. A revision no sealed record vouches for (a row written
// or changed outside Meridian) says so in words, with the server's why,
// not only by its colour; so does an answer that says anything but
// witnessed (a "witnessed" that is not true, or a why beside it). Without
// either field the server checks its revisions against no log.
export function witness(v: RuleRevision): { unwitnessed: boolean; text: string } {
  const why = typeof v.unwitnessed === "string" ? v.unwitnessed : v.unwitnessed == null ? "" : JSON.stringify(v.unwitnessed);
  if (v.witnessed === true && !why) return { unwitnessed: false, text: "witnessed" };
  if (v.witnessed == null && !why) return { unwitnessed: false, text: "not checked by this server" };
  return { unwitnessed: true, text: "NOT WITNESSED (" + (why || "the server gave no reason") + ")" };
}

// revisionRow is revision v's row of the revisions table; its Diff button
// shows what the revision changed in out.
export function revisionRow(v: RuleRevision, out: HTMLElement): HTMLTableRowElement {
  const b = h("button", { type: "button", text: "Diff", "aria-label": "What revision " + v.revision + " changed" });
  b.addEventListener("click", async () => {
    try {
      out.textContent = shown(JSON.stringify(await call("GET", `/v1/rules/diff?to=${encodeURIComponent(textOf(v.revision))}`), null, 2));
    } catch (err) {
      out.textContent = shown((err as Error).message);
    }
  });
  const w = witness(v);
  const files = Array.isArray(v.files) ? v.files.map(textOf).join(", ") : "";
  const cells: (string | Node)[] = [textOf(v.revision), textOf(v.time), textOf(v.by), textOf(v.reason), files, w.unwitnessed ? h("strong", { class: "bad", text: w.text }) : w.text, b];
  return h("tr", w.unwitnessed ? { class: "unwitnessed" } : {}, ...cells.map((c) => h("td", {}, c)));
}

// ruleAt checks the fields of a rule the page computes with (its
// timeline's spans, the table's lists); a FieldError names the one it
// cannot read.
function ruleAt(v: unknown, i: number): RuleEntry {
  const r = objAt(v, `rules[${i}]`);
  textAt(r.id, `rules[${i}].id`);
  textAt(r.jurisdiction, `rules[${i}].jurisdiction`);
  if (r.effectiveFrom !== undefined && r.effectiveFrom !== null) textAt(r.effectiveFrom, `rules[${i}].effectiveFrom`);
  if (r.effectiveUntil !== undefined && r.effectiveUntil !== null) textAt(r.effectiveUntil, `rules[${i}].effectiveUntil`);
  listAt(r.enforcement, `rules[${i}].enforcement`).forEach((e, j) => {
    const o = objAt(e, `rules[${i}].enforcement[${j}]`);
    textAt(o.state, `rules[${i}].enforcement[${j}].state`);
    for (const k of ["from", "until"]) if (o[k] !== undefined && o[k] !== null) textAt(o[k], `rules[${i}].enforcement[${j}].${k}`);
  });
  listAt(r.sources, `rules[${i}].sources`);
  return { ...(r as unknown as RuleEntry), enforcement: listAt(r.enforcement, ""), sources: listAt<unknown>(r.sources, "").map(textOf) };
}

export function rulesPage(main: HTMLElement, params: URLSearchParams): () => void {
  let alive = true;
  const asOf = h("input", { id: "rules-as-of", type: "date", value: params.get("asOf") || new Date().toISOString().slice(0, 10) }) as HTMLInputElement;
  const juris = h("select", { id: "rules-jurisdiction" }, h("option", { value: "", text: "every jurisdiction" })) as HTMLSelectElement;
  const chart = h("div", { id: "rules-timeline" });
  const tbl = h("div", { id: "rules-table" });
  const revs = h("div", { id: "rules-revisions" });
  const diffOut = h("pre", { id: "rules-diff", class: "json", tabindex: 0 });
  const whatIfText = h("textarea", { id: "whatif-rules", rows: 8, spellcheck: "false" }) as HTMLTextAreaElement;
  const whatIfOut = h("div", { id: "whatif-result", "aria-live": "polite" });
  const whatIfForm = h(
    "form",
    {},
    h("label", { for: "whatif-rules", text: "A proposed rule file (YAML); asking what it would do takes an admin token" }),
    whatIfText,
    h("button", { type: "submit", text: "What if?" }),
  );
  let rules: RuleEntry[] = [];
  // What of the rules the page could not show.
  const problems = new Problems("rules-problems");
  main.append(
    h("h2", { text: "Rules" }),
    problems.box,
    h("div", { class: "row" }, h("label", { for: "rules-as-of", text: "State as of" }), asOf, h("label", { for: "rules-jurisdiction", text: "Jurisdiction" }), juris),
    chart,
    tbl,
    h("h3", { text: "Revisions" }),
    revs,
    diffOut,
    h("h3", { text: "What if" }),
    whatIfForm,
    whatIfOut,
  );

  function render(): void {
    const shown = rules.filter((r) => !juris.value || r.jurisdiction === juris.value).sort((a, b) => (a.jurisdiction + a.effectiveFrom + a.id < b.jurisdiction + b.effectiveFrom + b.id ? -1 : 1));
    const end = String(new Date().getUTCFullYear() + 2) + "-01-01";
    const t0 = Date.parse(MIN),
      t1 = Date.parse(end);
    const left = 230,
      right = 10,
      width = 980,
      rowH = 16;
    const x = (d: string) => left + ((Date.parse(d) - t0) / (t1 - t0)) * (width - left - right);
    const svg = s("svg", { class: "timeline-chart", viewBox: `0 0 ${width} ${shown.length * rowH + 40}`, role: "img", "aria-label": `Timeline of ${shown.length} rules from ${MIN} to ${end}; the table below lists the same` });
    svg.append(
      s(
        "defs",
        {},
        s("pattern", { id: "hatch", patternUnits: "userSpaceOnUse", width: 6, height: 6, patternTransform: "rotate(45)" }, s("rect", { width: 6, height: 6, class: "hatch-bg" }), s("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch-line" })),
      ),
    );
    for (let y = 2018; y <= Number(end.slice(0, 4)); y++) {
      const xx = x(`${y}-01-01`);
      svg.append(s("line", { x1: xx, y1: 0, x2: xx, y2: shown.length * rowH + 20, class: "grid" }), s("text", { x: xx + 2, y: shown.length * rowH + 34, class: "tick", text: String(y) }));
    }
    const ax = x(asOf.value || new Date().toISOString().slice(0, 10));
    shown.forEach((r, i) => {
      const y = i * rowH + 4;
      svg.append(s("text", { x: 2, y: y + 11, class: "rule-label", text: `${r.jurisdiction} · ${r.id}` }));
      for (const sp of spans(r, end)) {
        svg.append(
          s("rect", { x: x(sp.from), y, width: Math.max(1, x(sp.to) - x(sp.from)), height: rowH - 4, class: "span span-" + classWord(textOf(sp.state).replace(/\s.*/, "")) + " effect-" + classWord(r.effect), "data-rule": r.id }, s("title", { text: `${r.id}: ${sp.state} from ${sp.from} to ${sp.to}` })),
        );
      }
    });
    svg.append(s("line", { x1: ax, y1: 0, x2: ax, y2: shown.length * rowH + 20, class: "as-of-line" }));
    clear(chart);
    chart.append(
      h("p", { class: "help", text: "Solid: in force (deny rules dark, obligations and advisories lighter); hatched: suspended; outlined: not enforced or draft. The vertical line is the as-of date." }),
      svg,
    );
    clear(tbl);
    tbl.append(
      table(
        `${shown.length} rules, their state on ${asOf.value}`,
        ["Rule", "Jurisdiction", "Kind", "Effect", "State", "From", "Until", "Enforcement", "Confidence", "Source"],
        shown.map((r) => [h("span", { title: r.title || "", text: r.id }), r.jurisdiction, r.kind, r.effect, r.state, r.effectiveFrom, r.effectiveUntil || "", r.enforcement.map((e) => e.state + (e.until ? " " + e.until : "") + (e.from ? " from " + e.from : "")).join("; "), r.confidence, r.sources.join("; ") || r.source]),
        { class: "data", id: "rules-list" },
      ),
    );
  }

  async function load(): Promise<void> {
    try {
      const r = objAt(await call<unknown>("GET", "/v1/rules?asOf=" + encodeURIComponent(asOf.value)), "the answer");
      if (!alive) return;
      problems.reset();
      rules = problems.each(
        listAt(r.rules, "rules"),
        (x, i) => {
          const id = x && typeof x === "object" ? (x as RuleEntry).id : undefined;
          return typeof id === "string" ? "Rule " + id : `Rule ${i + 1} of the list`;
        },
        ruleAt,
      );
      const keep = juris.value;
      clear(juris);
      juris.append(h("option", { value: "", text: "every jurisdiction" }), ...[...new Set(rules.map((x) => x.jurisdiction))].sort().map((j) => h("option", { value: j, text: j })));
      juris.value = keep;
      render();
    } catch (err) {
      clear(chart);
      chart.append(errorBox(err));
    }
  }

  // The revisions come a page at a time, oldest first (GET
  // /v1/rules/revisions with limit and cursor; the answer's cursor names
  // the next page and is absent on the last). A server with more than a
  // page answers a request without limit with a 400. The page reads one
  // page when it opens and one more each time "more" is pressed, never
  // the rest by itself; what it has shown stays when a page fails.
  let revCount = 0;
  let lastRev = 0;
  let revCursor = "";
  let revLoading = false;
  let revBody: HTMLTableSectionElement | null = null;
  let revCaption: HTMLTableCaptionElement | null = null;
  const revMore = h("button", { type: "button", id: "rules-revisions-more", hidden: true }) as HTMLButtonElement;
  const revStatus = h("div", { id: "rules-revisions-status", "aria-live": "polite" });
  revMore.addEventListener("click", () => void loadRevisions());
  revs.append(revStatus);

  async function loadRevisions(): Promise<void> {
    if (revLoading) return;
    revLoading = true;
    revMore.disabled = true;
    clear(revStatus);
    revStatus.append(revCount ? `Loading the revisions after revision ${lastRev}…` : "Loading the revisions…");
    try {
      const r = objAt(await call<unknown>("GET", `/v1/rules/revisions?limit=${REVISION_PAGE}` + (revCursor ? "&cursor=" + encodeURIComponent(revCursor) : "")), "the answer");
      if (!alive) return;
      // The fields the page orders and pages by are checked: a revision
      // that was not an object threw the script's own error, and a
      // cursor that was not text was asked for as "[object Object]".
      const page = listAt<unknown>(r.revisions, "revisions").map((x, i) => {
        numAt(objAt(x, `revisions[${i}]`).revision, `revisions[${i}].revision`);
        return x as RuleRevision;
      });
      const cursor = r.cursor === undefined || r.cursor === null ? "" : textAt(r.cursor, "cursor");
      // Each page follows the one before, oldest first: a server that
      // answered a revision again, or a next page with none, would have
      // the page list revisions twice or offer "more" for ever.
      let prev = lastRev;
      for (const v of page) {
        if (!(v.revision > prev)) throw new ApiError(0, `the server listed revision ${v.revision} after revision ${prev}`);
        prev = v.revision;
      }
      if (cursor && !page.length) throw new ApiError(0, "the server answered a page of no revisions that says more follow");
      clear(revStatus);
      if (!revCount && !page.length) {
        clear(revs);
        revs.append(h("p", { text: "No revision: the server runs its built-in rules." }));
        return;
      }
      if (!revBody) {
        const t = table("", ["Revision", "Time", "By", "Reason", "Files", "Audit log", ""], [], { class: "data", id: "rules-revisions-table" });
        revCaption = t.caption;
        revBody = t.tBodies[0];
        clear(revs);
        revs.append(t, revMore, revStatus);
      }
      // One at a time: as arguments of one call, a long page would
      // overflow the stack.
      for (const v of page) revBody.append(revisionRow(v, diffOut));
      revCount += page.length;
      lastRev = prev;
      revCursor = cursor;
      revMore.hidden = !revCursor;
      revMore.textContent = `More revisions: up to ${REVISION_PAGE} after revision ${lastRev}`;
      revCaption!.textContent = revCursor ? `The first ${revCount} revisions, oldest first; more follow` : `${revCount} revisions`;
    } catch (err) {
      if (!alive) return;
      clear(revStatus);
      revStatus.append(errorBox(revCount ? new Error(`The revisions after revision ${lastRev} could not be read: ${(err as Error).message}`) : err));
      if (!revBody) {
        // Nothing shown yet: the error, and a way to ask again.
        clear(revs);
        revMore.hidden = false;
        revMore.textContent = "Read the revisions again";
        revs.append(revStatus, revMore);
      } else {
        revMore.hidden = false;
        revMore.textContent = `Try again: the revisions after revision ${lastRev}`;
      }
    } finally {
      revLoading = false;
      revMore.disabled = false;
    }
  }

  whatIfForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(whatIfOut);
    try {
      const r = await call("POST", "/v1/rules/what-if", { files: [{ name: "proposed.yaml", content: whatIfText.value }], asOf: asOf.value });
      whatIfOut.append(h("pre", { class: "json", text: JSON.stringify(r, null, 2) }));
    } catch (err) {
      whatIfOut.append(errorBox(err));
    }
  });
  asOf.addEventListener("change", load);
  juris.addEventListener("change", render);
  load();
  loadRevisions();
  return () => {
    alive = false;
  };
}
