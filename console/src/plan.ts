// The plan page: a job's plan on a world map as of a date the user drags
// through time, the Pareto chart of cost against time, and a table of
// everything the map shows.

import { call, callSized, Plan, Placement, Rejection, Site, Run, RuleEntry, Finding, ApiError, FieldError, Explanation, listAt, textAt, numAt, objAt, pathPart } from "./api";
import { h, s, clear, errorBox, fmtUSD, fmtHours, table, textOf, textOr, Problems } from "./dom";
import { WorldMap, OUTCOMES, outcomeOf, shapePath, legend, catalogSites } from "./map";
import { nameShown, shown } from "./terminal";

const JOB_KEY = "meridian.job";
const FIRST = "2024-01-01";
const LAST = "2027-12-31";
const DAY = 86400000;
// TABLE_OPEN is the most rows the table shows unfolded.
const TABLE_OPEN = 400;
// RUN_PICK_PAGE is how many runs a page of the run picker reads.
const RUN_PICK_PAGE = 100;
// PLAN_KEEP is how many plans the page keeps, those of the dates last
// shown, and STORY_KEEP how many sites' stories; PLAN_BYTES and
// STORY_BYTES bound the sizes of their answers (in characters of their
// text) in all: a plan of many placements is tens of MiB, and a page
// that kept one for every date its slider went through would grow until
// the tab ran out of memory. Counted in plans alone, the page still kept
// 8 answers of up to 32 MiB each (API_MAX_ANSWER).
const PLAN_KEEP = 8;
const PLAN_BYTES = 32 << 20;
const STORY_KEEP = 32;
const STORY_BYTES = 16 << 20;

// Kept holds the values last put in it, each with its size, letting the
// oldest go once there are more than n or their sizes add up to more
// than max; a value larger than max alone is not kept.
class Kept<V> {
  private m = new Map<string, { v: V; size: number }>();
  private total = 0;
  constructor(
    private n: number,
    private max: number,
  ) {}

  // get is the value at k, which becomes the newest, if it is kept.
  get(k: string): V | undefined {
    const e = this.m.get(k);
    if (!e) return undefined;
    this.m.delete(k);
    this.m.set(k, e);
    return e.v;
  }

  // put keeps v at k, as the newest, size long.
  put(k: string, v: V, size: number): void {
    this.drop(k);
    if (!(size >= 0 && size <= this.max)) return;
    this.m.set(k, { v, size });
    this.total += size;
    for (const old of this.m.keys()) {
      if (this.m.size <= this.n && this.total <= this.max) break;
      this.drop(old);
    }
  }

  clear(): void {
    this.m.clear();
    this.total = 0;
  }

  private drop(k: string): void {
    const e = this.m.get(k);
    if (!e) return;
    this.total -= e.size;
    this.m.delete(k);
  }
}

function dayIndex(d: string): number {
  return Math.round((Date.parse(d + "T00:00:00Z") - Date.parse(FIRST + "T00:00:00Z")) / DAY);
}

function dayOf(i: number): string {
  return new Date(Date.parse(FIRST + "T00:00:00Z") + i * DAY).toISOString().slice(0, 10);
}

function today(): string {
  return new Date().toISOString().slice(0, 10);
}

interface SiteView {
  site: string;
  country: string;
  outcome: string;
  placements: Placement[];
  rejections: Rejection[];
}

// siteViews groups a plan by site: a site is a placement when any of its
// accelerators is, else rejected for law when any is, else for the first
// reason given.
function siteViews(plan: Plan): Map<string, SiteView> {
  const out = new Map<string, SiteView>();
  const get = (site: string, country: string) => {
    let v = out.get(site);
    if (!v) {
      v = { site, country, outcome: "none", placements: [], rejections: [] };
      out.set(site, v);
    }
    return v;
  };
  for (const p of plan.placements || []) get(p.site, p.country).placements.push(p);
  for (const r of plan.rejected || []) get(r.site, r.country).rejections.push(r);
  for (const v of out.values()) {
    if (v.placements.length) v.outcome = "placement";
    else if (v.rejections.some((r) => r.kind === "law")) v.outcome = "law";
    else if (v.rejections.length) v.outcome = outcomeOf(v.rejections[0].kind);
  }
  return out;
}

function ruleIds(v: SiteView): string[] {
  const ids = new Set<string>();
  for (const r of v.rejections) for (const f of r.reasons || []) if (f.rule) ids.add(f.rule);
  return [...ids];
}

// optText is v if it is text, "" if it is missing, else a FieldError
// naming field.
function optText(v: unknown, field: string): string {
  return v === undefined || v === null ? "" : textAt(v, field);
}

// optNum is v if it is a number, undefined if it is missing, else a
// FieldError naming field.
function optNum(v: unknown, field: string): number | undefined {
  return v === undefined || v === null ? undefined : numAt(v, field);
}

// findingItem shows a rule's finding; a brief plan's findings carry no
// text (the site's story, asked for on a click, has it). A finding that
// is not an object is shown as it came; one whose fields are not text is
// a FieldError naming the field (field: the finding's own name).
export function findingItem(f: Finding, field = "finding"): HTMLElement {
  if (!f || typeof f !== "object") return h("li", { class: "finding", text: "(a finding the server gave as " + JSON.stringify(f) + ")" });
  const rule = textAt(f.rule, field + ".rule");
  const effect = optText(f.effect, field + ".effect");
  const confidence = optText(f.confidence, field + ".confidence");
  const message = optText(f.message, field + ".message");
  const source = optText(f.source, field + ".source");
  return h(
    "li",
    { class: "finding" },
    h("strong", { class: "rule-id", text: rule }),
    effect ? " (" + effect + (confidence ? ", " + confidence : "") + ")" : "",
    message ? h("p", { class: "message", text: message }) : null,
    source ? h("p", { class: "source" }, h("span", { class: "k", text: "Source: " }), source) : null,
  );
}

// findingList is the list of a finding list's items (field names it in
// the server's answer) that can be shown; the others, and a list that is
// not a list, are added to problems, as what names them.
function findingList(v: unknown, field: string, what: string, problems: Problems): HTMLElement | null {
  let fs: Finding[];
  try {
    fs = listAt<Finding>(v, field);
  } catch (err) {
    problems.add(what.charAt(0).toUpperCase() + what.slice(1), err);
    return null;
  }
  const items = problems.each(fs, (_f, i) => `Finding ${i + 1} of ${what}`, (f, i) => findingItem(f, `${field}[${i}]`));
  return items.length ? h("ul", {}, ...items) : null;
}

// stepItem is a check of a site's story (field: where it is in the
// server's answer), or a FieldError.
function stepItem(v: unknown, field: string, problems: Problems, what: string): HTMLElement {
  const st = objAt(v, field);
  if (typeof st.passed !== "boolean") throw new FieldError(field + ".passed", "true or false", st.passed);
  const acc = textAt(st.accelerator, field + ".accelerator");
  const pool = numAt(st.pool, field + ".pool");
  const count = optNum(st.count, field + ".count");
  const check = textAt(st.check, field + ".check");
  const detail = optText(st.detail, field + ".detail");
  return h(
    "li",
    { class: st.passed ? "passed" : "failed" },
    h("span", { class: st.passed ? "good" : "bad", text: st.passed ? "✔ " : "✘ " }),
    `${acc} (pool ${pool}${count ? ", " + count + " of them" : ""}): ${check} ${st.passed ? "passed" : "failed"}`,
    detail ? ": " + detail : "",
    findingList(st.findings, field + ".findings", "the findings of " + what, problems),
  );
}

// horizonLine is a warning of a site's story that a pool is lawful only
// until a day, or a FieldError.
function horizonLine(v: unknown, field: string): HTMLElement {
  const z = objAt(v, field);
  const count = numAt(z.count, field + ".count");
  const acc = textAt(z.accelerator, field + ".accelerator");
  const pool = numAt(z.pool, field + ".pool");
  const until = textAt(z.lawfulUntil, field + ".lawfulUntil");
  const rule = textAt(z.rule, field + ".rule");
  return h("p", { class: "warn", text: `${count} × ${acc} (pool ${pool}) lawful only until ${until} (rule ${rule})` });
}

// storyOf shows a site's whole story (the plan's explain): every check
// on every pool and count, with each rule's message and source. A check,
// finding or warning it cannot show is added to problems, and the rest
// is shown; a story that is not one is a FieldError. Before, one such
// field threw, and the story showed the script's own error.
export function storyOf(v: unknown, problems: Problems): HTMLElement {
  const e = objAt(v, "explain");
  const site = textAt(e.site, "explain.site");
  let facts = "";
  try {
    const operator = textAt(e.operator, "explain.operator");
    const hq = textAt(e.operatorHeadquarters, "explain.operatorHeadquarters");
    const country = textAt(e.country, "explain.country");
    const source = textAt(e.source, "explain.source");
    facts = `${operator} (${hq}) in ${country}; catalog entry ${source}${e.excluded ? "; excluded from this plan" : ""}`;
  } catch (err) {
    problems.add(`The facts of ${site}`, err);
  }
  let steps: HTMLElement[] = [];
  try {
    steps = problems.each(listAt<unknown>(e.steps, "explain.steps"), (_st, i) => `Check ${i + 1} at ${site}`, (st, i) => stepItem(st, `explain.steps[${i}]`, problems, `check ${i + 1} at ${site}`));
  } catch (err) {
    problems.add(`The checks at ${site}`, err);
  }
  let horizons: HTMLElement[] = [];
  try {
    horizons = problems.each(listAt<unknown>(e.horizons, "explain.horizons"), (_z, i) => `Warning ${i + 1} at ${site}`, (z, i) => horizonLine(z, `explain.horizons[${i}]`));
  } catch (err) {
    problems.add(`The warnings at ${site}`, err);
  }
  return h(
    "section",
    // The site's name is the plan's: the heading and the label show it
    // bounded and marked, as a heading shows a name (nameShown).
    { class: "explain", "data-site": site, "aria-label": "Every check at " + nameShown(site) },
    h("h4", { text: `Every check at ${nameShown(site)}` }),
    facts ? h("p", { class: "source", text: facts }) : null,
    h("ol", { class: "steps" }, ...steps),
    ...horizons,
  );
}

// whereOf is a site's place and operator as its detail shows them: from
// the catalog's entry when it has one the page can read (else the
// country, and the entry is added to problems).
function whereOf(v: SiteView, site: Site | undefined, problems: Problems): string {
  if (!site) return v.country;
  try {
    const spec = site.spec as unknown as Record<string, unknown>;
    const city = optText(spec.city, "spec.city");
    const op = objAt(spec.operator, "spec.operator");
    const name = textAt(op.name, "spec.operator.name");
    const hq = textAt(op.headquarters, "spec.operator.headquarters");
    return [city, v.country].filter(Boolean).join(", ") + " · operator " + name + " (" + hq + ")";
  } catch (err) {
    problems.add(`The catalog's entry for ${v.site}`, err);
    return v.country;
  }
}

// siteDetail shows what the plan says of a site: its placements, with
// their obligations and advisories, and its rejected groups, with their
// reasons. A finding it cannot show is added to problems.
export function siteDetail(v: SiteView, site: Site | undefined, problems: Problems): HTMLElement {
  const o = OUTCOMES[v.outcome];
  const where = whereOf(v, site, problems);
  const box = h("section", { class: "site-detail", "data-site": v.site, "aria-label": "Site " + nameShown(v.site) }, h("h3", { text: nameShown(v.site) }), h("p", { text: where }), h("p", { class: "outcome" }, h("span", { class: "swatch-" + v.outcome, text: "■ " }), o.label));
  v.placements.forEach((p, i) => {
    const what = `placement ${i + 1} at ${v.site}`;
    const obligations = findingList(p.obligations, "obligations", "the obligations of " + what, problems);
    const advisories = findingList(p.advisories, "advisories", "the advisories of " + what, problems);
    box.append(
      h(
        "div",
        { class: "placement" },
        // The accelerator is named by the site's catalog entry: the
        // heading shows it bounded and marked (nameShown).
        h("h4", { text: `Rank ${p.rank}: ${p.count} × ${nameShown(p.accelerator)}` }),
        h("p", { text: `${fmtUSD(p.costUSD)} · ${fmtHours(p.hours)}${p.pareto ? " · on the Pareto front" : ""}${p.runnable ? "" : " · not runnable here (no backend)"}` }),
        p.lawfulUntil ? h("p", { class: "warn", text: `Lawful only until ${p.lawfulUntil} (rule ${p.lawfulUntilRule || "?"})` }) : null,
        obligations ? h("div", {}, h("h5", { text: "Obligations" }), obligations) : null,
        advisories ? h("div", {}, h("h5", { text: "Advisories" }), advisories) : null,
      ),
    );
  });
  v.rejections.forEach((r, i) => {
    box.append(
      h(
        "div",
        { class: "rejection", "data-kind": r.kind },
        h("h4", { text: `${nameShown(r.accelerator)}: rejected for ${r.kind}${r.resolution ? " (" + r.resolution + ")" : ""}` }),
        findingList(r.reasons, "reasons", `the reasons of rejected group ${i + 1} at ${v.site}`, problems) || h("ul"),
      ),
    );
  });
  if (!v.placements.length && !v.rejections.length) box.append(h("p", { text: "The plan does not consider this site." }));
  return box;
}

// unplacedNote names the sites of a plan that the map cannot place. The
// names are the catalog's, shown as text: appended as a string of its
// own, a name's bidirectional controls were obeyed, not shown.
export function unplacedNote(names: string[]): HTMLElement {
  return h("span", { class: "unplaced", text: `Not on the map (the catalog gives no place): ${names.join(", ")}; the table lists them.` });
}

// paretoChart draws each placement's cost against its time (exported for
// its test).
export function paretoChart(placements: Placement[]): SVGElement {
  const w = 420,
    hgt = 300,
    m = { l: 70, r: 12, t: 12, b: 40 };
  const svg = s("svg", { class: "pareto", viewBox: `0 0 ${w} ${hgt}`, role: "img", "aria-label": `Cost against time of ${placements.length} placements; the Pareto front is drawn as a line` });
  if (!placements.length) {
    svg.append(s("text", { x: w / 2, y: hgt / 2, "text-anchor": "middle", text: "No placement" }));
    return svg;
  }
  const xs = placements.map((p) => Math.max(p.hours, 1e-3));
  const ys = placements.map((p) => Math.max(p.costUSD, 1e-3));
  const scale = (vals: number[], a: number, b: number) => {
    // A loop, not Math.min(...vals): a plan's every placement as
    // arguments overflows the stack past a hundred thousand or so.
    let lo = Infinity,
      hi = -Infinity;
    for (const v of vals) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const log = hi / lo > 20;
    const f = (v: number) => (log ? Math.log(v) : v);
    const l = f(lo),
      u = f(hi) === l ? l + 1 : f(hi);
    return { fn: (v: number) => a + ((f(v) - l) / (u - l)) * (b - a), lo, hi, log };
  };
  const sx = scale(xs, m.l, w - m.r);
  const sy = scale(ys, hgt - m.b, m.t);
  svg.append(
    s("line", { x1: m.l, y1: hgt - m.b, x2: w - m.r, y2: hgt - m.b, class: "axis" }),
    s("line", { x1: m.l, y1: m.t, x2: m.l, y2: hgt - m.b, class: "axis" }),
    s("text", { x: (w + m.l) / 2, y: hgt - 6, "text-anchor": "middle", text: "time" + (sx.log ? " (log)" : "") + ": " + fmtHours(sx.lo) + " – " + fmtHours(sx.hi) }),
    s("text", { x: 14, y: (hgt - m.b) / 2, transform: `rotate(-90 14 ${(hgt - m.b) / 2})`, "text-anchor": "middle", text: "cost" + (sy.log ? " (log)" : "") + ": " + fmtUSD(sy.lo) + " – " + fmtUSD(sy.hi) }),
  );
  const front = placements.filter((p) => p.pareto).sort((a, b) => a.hours - b.hours);
  if (front.length > 1) {
    svg.append(s("polyline", { class: "front", points: front.map((p) => `${sx.fn(Math.max(p.hours, 1e-3))},${sy.fn(Math.max(p.costUSD, 1e-3))}`).join(" ") }));
  }
  for (const p of placements) {
    svg.append(
      s(
        "path",
        { class: p.pareto ? "pt pareto-pt" : "pt", transform: `translate(${sx.fn(Math.max(p.hours, 1e-3))},${sy.fn(Math.max(p.costUSD, 1e-3))})`, d: shapePath(p.pareto ? "diamond" : "circle", p.pareto ? 4 : 2.5) },
        s("title", { text: `#${p.rank} ${nameShown(p.site)} ${p.count}× ${nameShown(p.accelerator)}: ${fmtUSD(p.costUSD)}, ${fmtHours(p.hours)}` }),
      ),
    );
  }
  return svg;
}

// ruleDays are the days, in the slider's range and in order, that a rule
// starts, ends or changes its enforcement: each a tick the slider labels
// with the day as it came. Only days (YYYY-MM-DD) are taken: a rule's
// other fields are the rules page's to check, and a day followed by
// controls ("2025-01-01\u202e…") is inside the range too, so it was shown
// as a tick's label, unmarked.
export function ruleDays(rules: unknown[]): string[] {
  const ds = new Set<string>();
  const day = (d: unknown) => {
    if (typeof d === "string" && /^\d{4}-\d{2}-\d{2}$/.test(d) && d >= FIRST && d <= LAST) ds.add(d);
  };
  for (const x of rules) {
    if (!x || typeof x !== "object") continue;
    const r = x as RuleEntry;
    day(r.effectiveFrom);
    day(r.effectiveUntil);
    for (const e of Array.isArray(r.enforcement) ? r.enforcement : []) {
      if (!e || typeof e !== "object") continue;
      day(e.from);
      day(e.until);
    }
  }
  return [...ds].sort();
}

// planAt is the plan as the page draws it: its placements and rejected
// groups whose fields it computes with are there (a site, a country, the
// numbers it places and sorts by); each other is added to problems.
export function planAt(v: unknown, problems: Problems): Plan {
  const p = objAt(v, "the plan") as unknown as Plan;
  textAt(p.asOf, "asOf");
  optText(p.job, "job");
  // A summary the page cannot show is named, and the plan drawn without
  // it.
  let summary: Record<string, unknown> = {};
  try {
    summary = summaryAt(p.summary);
  } catch (err) {
    problems.add("The plan's summary", err);
  }
  const placements = problems.each(
    listAt<Placement>(p.placements, "placements"),
    (_x, i) => `Placement ${i + 1} of the plan`,
    (x, i) => {
      const o = objAt(x, `placements[${i}]`);
      textAt(o.site, `placements[${i}].site`);
      textAt(o.country, `placements[${i}].country`);
      textAt(o.accelerator, `placements[${i}].accelerator`);
      for (const k of ["lawfulUntil", "lawfulUntilRule"]) optText(o[k], `placements[${i}].${k}`);
      for (const k of ["rank", "count", "hours", "costUSD"]) numAt(o[k], `placements[${i}].${k}`);
      for (const k of ["obligations", "advisories"]) listAt(o[k], `placements[${i}].${k}`);
      return x;
    },
  );
  const rejected = problems.each(
    listAt<Rejection>(p.rejected, "rejected"),
    (_x, i) => `Rejected group ${i + 1} of the plan`,
    (x, i) => {
      const o = objAt(x, `rejected[${i}]`);
      textAt(o.site, `rejected[${i}].site`);
      textAt(o.country, `rejected[${i}].country`);
      textAt(o.kind, `rejected[${i}].kind`);
      textAt(o.accelerator, `rejected[${i}].accelerator`);
      optText(o.resolution, `rejected[${i}].resolution`);
      // The rules of the reasons are the site's on the map and in the
      // table.
      listAt<unknown>(o.reasons, `rejected[${i}].reasons`).forEach((f, j) => textAt(objAt(f, `rejected[${i}].reasons[${j}]`).rule, `rejected[${i}].reasons[${j}].rule`));
      return x;
    },
  );
  return { ...p, summary: summary as Plan["summary"], placements, rejected, assumptions: listAt<unknown>(p.assumptions, "assumptions").map((a, i) => textAt(a, `assumptions[${i}]`)) };
}

// summaryAt is a plan's summary, its fields the page shows checked (a
// missing summary is an empty one); else a FieldError. The cost of
// sovereignty is a copy: the plan the page holds is not changed.
function summaryAt(v: unknown): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  const sum = { ...objAt(v, "summary") };
  for (const k of ["placements", "candidates"]) optNum(sum[k], "summary." + k);
  for (const k of ["rejectedByKind", "rejectedByRule"]) {
    if (sum[k] === undefined || sum[k] === null) continue;
    Object.values(objAt(sum[k], "summary." + k)).forEach((n, i) => numAt(n, `summary.${k}'s count ${i + 1}`));
  }
  if (sum.costOfSovereignty !== undefined && sum.costOfSovereignty !== null) {
    const cos = { ...objAt(sum.costOfSovereignty, "summary.costOfSovereignty") };
    cos.constraints = listAt<unknown>(cos.constraints, "summary.costOfSovereignty.constraints").map((c, i) => textAt(c, `summary.costOfSovereignty.constraints[${i}]`));
    for (const k of ["extraCostUSD", "extraHours"]) optNum(cos[k], "summary.costOfSovereignty." + k);
    sum.costOfSovereignty = cos;
  }
  return sum;
}

// MARKED_LINES is how many lines of the job's documents markFields tells
// about.
const MARKED_LINES = 3;

// markedAt is "" when text shows as itself, else the part of it around
// the first character shown() marks, marked and bounded as nameShown
// bounds a name.
function markedAt(text: string): string {
  const out = shown(text);
  if (out === text) return "";
  let i = 0;
  while (i < text.length && text.charCodeAt(i) === out.charCodeAt(i)) i++;
  const from = Math.max(0, i - 40);
  return (from > 0 ? "…" : "") + nameShown(text.slice(from), 80);
}

export function planPage(main: HTMLElement, params: URLSearchParams): () => void {
  let alive = true;
  let sites = new Map<string, Site>();
  const cache = new Kept<Plan>(PLAN_KEEP, PLAN_BYTES);
  const stories = new Kept<Explanation>(STORY_KEEP, STORY_BYTES);
  let ctl: AbortController | null = null;
  let timer = 0;
  let ruleDates: string[] = [];

  const docs = h("textarea", { id: "job-docs", rows: 10, spellcheck: "false", placeholder: "apiVersion: meridian.dev/v1alpha1\nkind: TrainingJob\n…" }) as HTMLTextAreaElement;
  docs.value = sessionStorage.getItem(JOB_KEY) || "";
  const jobName = h("input", { id: "job-name", type: "text", placeholder: "(the only TrainingJob)" }) as HTMLInputElement;
  const file = h("input", { id: "job-file", type: "file", accept: ".yaml,.yml,.json", multiple: true }) as HTMLInputElement;
  const runSel = h("select", { id: "job-run" }, h("option", { value: "", text: "— choose a run —" })) as HTMLSelectElement;
  const slider = h("input", { id: "as-of", type: "range", min: 0, max: dayIndex(LAST), step: 1, list: "rule-dates", "aria-describedby": "as-of-help" }) as HTMLInputElement;
  const dateIn = h("input", { id: "as-of-date", type: "date", min: FIRST, max: LAST }) as HTMLInputElement;
  const ticks = h("datalist", { id: "rule-dates" });
  const status = h("p", { id: "plan-status", role: "status", "aria-live": "polite" });
  const marked = h("div", { id: "job-marked", class: "help", "aria-live": "polite" });
  // What of the server's answers the page could not show.
  const problems = new Problems("plan-problems");
  const planProblems = new Problems("plan-answer-problems");
  const mapBox = h("div", { id: "map", class: "map-box" });
  const detail = h("div", { id: "detail", class: "detail", "aria-live": "polite" }, h("p", { class: "help", text: "Choose a site on the map (or Tab to it and press Enter) to read why it is where it is." }));
  const side = h("div", { class: "side" });
  const tableBox = h("div", { id: "plan-table" });
  const start = params.get("asOf") || today();
  const clamp = (d: string) => (d < FIRST ? FIRST : d > LAST ? LAST : d);
  setDate(clamp(start));

  function setDate(d: string): void {
    slider.value = String(dayIndex(d));
    dateIn.value = d;
    slider.setAttribute("aria-valuetext", d);
  }

  const wm = new WorldMap("World map of the plan's sites");
  for (const [k, o] of Object.entries(OUTCOMES)) {
    wm.defs.append(
      s("path", { id: "mark-" + k, d: shapePath(o.shape, 5), fill: o.shape === "ring" ? "none" : o.colour, stroke: o.shape === "ring" ? o.colour : "#000", "stroke-width": o.shape === "ring" ? 2.5 : 0.7 }),
    );
  }
  let show: (name: string) => void = () => undefined;
  const siteOf = (ev: Event) => (ev.target as Element).closest("g.site")?.getAttribute("data-site");
  wm.sites.addEventListener("click", (ev) => {
    const name = siteOf(ev);
    if (name) show(name);
  });
  wm.sites.addEventListener("keydown", (ev) => {
    const name = siteOf(ev);
    if (name && (ev.key === "Enter" || ev.key === " ")) {
      ev.preventDefault();
      show(name);
    }
  });
  mapBox.append(wm.svg);

  const prev = h("button", { type: "button", id: "prev-date", text: "◀ Previous rule date" });
  const next = h("button", { type: "button", id: "next-date", text: "Next rule date ▶" });
  prev.addEventListener("click", () => jump(-1));
  next.addEventListener("click", () => jump(1));

  function jump(dir: number): void {
    const cur = dateIn.value;
    const cands = dir > 0 ? ruleDates.filter((d) => d > cur) : ruleDates.filter((d) => d < cur).reverse();
    if (cands.length) {
      setDate(clamp(cands[0]));
      schedule(0);
    }
  }

  main.append(
    h("h2", { text: "Plan" }),
    problems.box,
    planProblems.box,
    h(
      "form",
      { class: "job", id: "job-form" },
      h(
        "fieldset",
        {},
        h("legend", { text: "Job" }),
        h("label", { for: "job-docs", text: "Job documents (YAML: the TrainingJob and its Organization, Datasets…)" }),
        docs,
        h("div", { class: "row" }, h("label", { for: "job-file", text: "…or load from files" }), file, h("label", { for: "job-run", text: "…or from a stored run" }), runSel),
        h("div", { class: "row" }, h("label", { for: "job-name", text: "Job name (when the documents hold several)" }), jobName),
        marked,
        h("button", { type: "submit", id: "plan-btn", text: "Plan" }),
      ),
      h(
        "fieldset",
        { class: "when" },
        h("legend", { text: "As of" }),
        h("label", { for: "as-of", text: "Date the law is read on" }),
        slider,
        ticks,
        h("label", { for: "as-of-date", class: "visually-hidden", text: "As-of date" }),
        dateIn,
        prev,
        next,
        h("p", { id: "as-of-help", class: "help", text: "Drag, or use the arrow keys (a day), Page Up/Down (a month); the buttons jump to the days rules start, lapse or resume." }),
      ),
    ),
    status,
    h("div", { class: "plan-grid" }, h("div", {}, mapBox, legend(Object.keys(OUTCOMES))), h("div", {}, detail, side)),
    h("h3", { id: "table-title", text: "Table" }),
    tableBox,
  );

  slider.addEventListener("keydown", (ev) => {
    if (ev.key === "PageUp" || ev.key === "PageDown") {
      ev.preventDefault();
      const d = new Date(dateIn.value + "T00:00:00Z");
      d.setUTCMonth(d.getUTCMonth() + (ev.key === "PageUp" ? 1 : -1));
      setDate(clamp(d.toISOString().slice(0, 10)));
      schedule(0);
    }
  });
  slider.addEventListener("input", () => {
    setDate(dayOf(Number(slider.value)));
    schedule(200);
  });
  slider.addEventListener("change", () => schedule(0));
  dateIn.addEventListener("change", () => {
    if (/^\d{4}-\d{2}-\d{2}$/.test(dateIn.value)) {
      setDate(clamp(dateIn.value));
      schedule(0);
    }
  });
  file.addEventListener("change", async () => {
    const texts: string[] = [];
    for (const f of Array.from(file.files || [])) texts.push((await f.text()).trim());
    docs.value = texts.join("\n---\n");
    markFields();
  });
  docs.addEventListener("change", markFields);
  jobName.addEventListener("change", markFields);
  // markFields says, under the form, where the job's name or documents
  // hold characters that do not show as themselves (invisible ones,
  // direction controls): a form field shows its value raw, and marking
  // it there would change what is sent, so a stored run's name that
  // reads as another name is told here, marked, as the rest of the page
  // shows a tenant's text.
  function markFields(): void {
    clear(marked);
    const name = markedAt(jobName.value);
    if (name) marked.append(h("p", { text: `The job name holds characters that do not show as themselves (invisible or direction-changing); it is sent as written: ${name}` }));
    const lines = docs.value.split("\n");
    let found = 0;
    for (let i = 0; i < lines.length && found <= MARKED_LINES; i++) {
      const at = markedAt(lines[i]);
      if (!at) continue;
      found++;
      if (found > MARKED_LINES) {
        marked.append(h("p", { text: "…and more lines: the documents are sent as written." }));
        break;
      }
      marked.append(h("p", { text: `Line ${i + 1} of the documents holds characters that do not show as themselves: ${at}` }));
    }
  }
  // The picker lists the tenant's runs a page at a time, oldest first
  // (GET /v1/runs with limit and after; next names the following page):
  // one page when the page opens, and the next when "more runs" is
  // chosen, never every run the tenant has made.
  const moreRuns = h("option", { value: "+more", text: "More runs…" }) as HTMLOptionElement;
  let runsNext = "";
  let runsLoading = false;
  const picked = new Set<string>();
  function runOption(r: Pick<Run, "id"> & Partial<Run>): void {
    if (picked.has(r.id)) return;
    picked.add(r.id);
    // The id may be the link's (#/plan?run=ID), and the job is the
    // tenant's: each is shown bounded and marked, as a heading shows a
    // name (nameShown); the option's value keeps the id whole.
    const id = nameShown(r.id);
    runSel.insertBefore(h("option", { value: r.id, text: r.job ? `${id} · ${nameShown(textOf(r.job))} · ${nameShown(textOr(r.state))}` : id }), moreRuns.parentNode ? moreRuns : null);
  }
  async function pickerPage(): Promise<void> {
    if (runsLoading) return;
    runsLoading = true;
    try {
      const after = runsNext;
      const r = objAt(await call<unknown>("GET", `/v1/runs?limit=${RUN_PICK_PAGE}` + (after ? "&after=" + encodeURIComponent(after) : "")), "the answer");
      if (!alive) return;
      const rnext = r.next === undefined || r.next === null ? "" : textAt(r.next, "next");
      // A next that names the page it follows would offer "more" for ever.
      if (rnext && rnext === after) throw new ApiError(0, "the server named the same page of runs again");
      problems.each(
        listAt<Run>(r.runs, "runs"),
        (_x, i) => `Run ${i + 1} of the runs to start from`,
        (x, i) => {
          textAt(objAt(x, `runs[${i}]`).id, `runs[${i}].id`);
          runOption(x);
        },
      );
      runsNext = rnext;
      if (runsNext && !moreRuns.parentNode) runSel.append(moreRuns);
      if (!runsNext) moreRuns.remove();
    } finally {
      runsLoading = false;
    }
  }
  runSel.addEventListener("change", async () => {
    if (runSel.selectedOptions[0] === moreRuns) {
      runSel.value = "";
      try {
        await pickerPage();
      } catch (err) {
        clear(status);
        status.append(errorBox(err));
      }
      return;
    }
    if (!runSel.value) return;
    try {
      const r = await call<Run>("GET", "/v1/runs/" + pathPart(runSel.value, "the run"));
      const run = objAt(r, "the run");
      docs.value = listAt(run.documents, "documents")
        .map((d, i) => textAt(objAt(d, `documents[${i}]`).content, `documents[${i}].content`).trim())
        .join("\n---\n");
      jobName.value = typeof run.job === "string" ? run.job : "";
      markFields();
      schedule(0);
    } catch (err) {
      clear(status);
      status.append(errorBox(err));
    }
  });
  main.querySelector("#job-form")!.addEventListener("submit", (ev) => {
    ev.preventDefault();
    cache.clear();
    schedule(0);
  });

  function schedule(ms: number): void {
    window.clearTimeout(timer);
    timer = window.setTimeout(load, ms);
  }

  async function load(): Promise<void> {
    const text = docs.value.trim();
    if (!text) {
      clear(status);
      status.append("Give the job's documents, then Plan.");
      return;
    }
    sessionStorage.setItem(JOB_KEY, text);
    const asOf = dateIn.value;
    const key = asOf + "\0" + jobName.value + "\0" + text;
    const began = performance.now();
    let plan = cache.get(key);
    if (!plan) {
      if (ctl) ctl.abort();
      ctl = new AbortController();
      clear(status);
      status.append("Planning as of " + asOf + "…");
      mapBox.setAttribute("aria-busy", "true");
      let a: { value: Plan; size: number };
      try {
        a = await callSized<Plan>("POST", "/v1/plans?top=0&brief=1", { documents: [{ name: "job.yaml", content: text }], job: jobName.value || undefined, asOf }, ctl.signal);
      } catch (err) {
        if ((err as Error).name === "AbortError" || !alive) return;
        mapBox.removeAttribute("aria-busy");
        clear(status);
        status.append(errorBox(err));
        return;
      }
      plan = a.value;
      // The answer's text, and the key, which holds the job's documents.
      cache.put(key, plan, a.size + key.length);
    }
    mapBox.setAttribute("data-fetch-ms", (performance.now() - began).toFixed(0));
    mapBox.setAttribute("data-fetched-at-ms", performance.now().toFixed(0));
    if (!alive || dateIn.value !== asOf) return;
    planProblems.reset();
    try {
      render(planAt(plan, planProblems));
    } catch (err) {
      mapBox.removeAttribute("aria-busy");
      clear(status);
      status.append(errorBox(err));
      return;
    }
    // Painted: the frame after the one that lays the new map out.
    requestAnimationFrame(() =>
      setTimeout(() => {
        mapBox.setAttribute("data-load-ms", (performance.now() - began).toFixed(0));
        mapBox.setAttribute("data-painted-at-ms", performance.now().toFixed(0));
      }, 0),
    );
  }

  function render(plan: Plan): void {
    const t0 = performance.now();
    const views = siteViews(plan);
    clear(wm.sites);
    const pts = new Map<string, [number, number]>();
    const names = new Set<string>([...sites.keys(), ...views.keys()]);
    const rows: string[][] = [];
    for (const name of [...names].sort()) {
      const site = sites.get(name);
      const v = views.get(name) || { site: name, country: site ? site.spec.country : "", outcome: "none", placements: [], rejections: [] };
      const o = OUTCOMES[v.outcome];
      const rules = ruleIds(v);
      if (site) {
        const p = wm.point(site.spec.location.lon, site.spec.location.lat);
        if (p) {
          pts.set(name, p);
          // The site's name is the plan's or the catalog's: the label and
          // the tooltip show it bounded and marked (nameShown).
          const label = `${nameShown(name)} (${nameShown(v.country)}): ${o.label}${rules.length ? "; rules " + rules.join(", ") : ""}`;
          // One shape per outcome (<use> of the map's symbols); clicks
          // and keys are handled once, on the group of all sites.
          const g = s(
            "g",
            { class: "site", transform: `translate(${p[0].toFixed(1)},${p[1].toFixed(1)})`, tabindex: 0, role: "button", "aria-label": label, "data-site": name, "data-outcome": v.outcome, "data-rules": rules.join(" ") },
            s("title", { text: label }),
            s("use", { href: "#mark-" + v.outcome }),
          );
          wm.sites.append(g);
        }
      }
      const entries: { acc: string; out: string; rules: string; rank: string; cost: string; time: string; until: string }[] = [];
      for (const p of v.placements) entries.push({ acc: p.accelerator, out: "placement", rules: "", rank: String(p.rank), cost: fmtUSD(p.costUSD), time: fmtHours(p.hours), until: p.lawfulUntil ? p.lawfulUntil + " (" + (p.lawfulUntilRule || "") + ")" : "" });
      for (const r of v.rejections) entries.push({ acc: r.accelerator, out: outcomeOf(r.kind), rules: (r.reasons || []).map((f) => f.rule).join(", "), rank: "", cost: "", time: "", until: "" });
      if (!entries.length) entries.push({ acc: "", out: "none", rules: "", rank: "", cost: "", time: "", until: "" });
      for (const e of entries) rows.push([name, v.country, e.acc, OUTCOMES[e.out].label, e.rules, e.rank, e.cost, e.time, e.until]);
    }

    show = (name: string): void => {
      const here = pts.get(name);
      clear(detail);
      // What of the site's detail and story the page cannot show.
      const told = new Problems("detail-problems");
      detail.append(told.box);
      const v = views.get(name) || { site: name, country: sites.get(name)?.spec.country || "", outcome: "none", placements: [], rejections: [] };
      detail.append(siteDetail(v, sites.get(name), told));
      // The whole story, with each rule's text and source, is asked for
      // when the site is chosen (the map's plan is brief).
      const story = h("div", { class: "story", "aria-live": "polite", text: "Reading every check at " + nameShown(name) + "…" });
      detail.append(story);
      const skey = plan.asOf + "\0" + name + "\0" + jobName.value + "\0" + docs.value.trim();
      const cached = stories.get(skey);
      const asked = cached
        ? Promise.resolve(cached)
        : callSized<unknown>("POST", "/v1/plans?top=1&brief=1", { documents: [{ name: "job.yaml", content: docs.value.trim() }], job: jobName.value || undefined, asOf: plan.asOf, explain: name }).then((a) => {
            const e = objAt(a.value, "the answer").explain;
            if (e === undefined || e === null) throw new Error("the server gave no story for " + name);
            stories.put(skey, e as Explanation, a.size + skey.length);
            return e;
          });
      asked
        .then((e) => {
          clear(story);
          story.append(storyOf(e, told));
        })
        .catch((err) => {
          clear(story);
          if (err instanceof FieldError) told.add("The story of " + name, err);
          else story.append(errorBox(err));
        });
      if (here) {
        const near = [...pts.entries()].filter(([n, p]) => n !== name && Math.hypot(p[0] - here[0], p[1] - here[1]) < 8).map(([n]) => n);
        if (near.length) {
          detail.append(h("h4", { text: "Also at this spot on the map" }));
          for (const n of near) {
            const nv = views.get(n) || { site: n, country: sites.get(n)?.spec.country || "", outcome: "none", placements: [], rejections: [] };
            detail.append(h("details", {}, h("summary", { text: `${nameShown(n)}: ${OUTCOMES[nv.outcome].label}` }), siteDetail(nv, sites.get(n), told)));
          }
        }
      }
    };

    // Side: the Pareto chart, the counts and the cost of sovereignty.
    clear(side);
    const placements = plan.placements || [];
    side.append(h("h3", { text: "Cost against time" }), paretoChart(placements));
    const sum = plan.summary;
    const kinds = Object.entries(sum.rejectedByKind || {}).map(([k, n]) => `${n} for ${k}`);
    const count = (n: unknown) => (typeof n === "number" ? String(n) : "–");
    side.append(h("p", { id: "plan-summary", text: `${count(sum.placements)} placements of ${count(sum.candidates)} candidates; rejected: ${kinds.join(", ") || "none"}.` }));
    const byRule = Object.entries(sum.rejectedByRule || {});
    if (byRule.length) side.append(h("p", { text: "Denied by rule: " + byRule.map(([r, n]) => `${r} (${n})`).join(", ") }));
    const cos = sum.costOfSovereignty;
    if (cos) {
      const extra = fmtUSD(cos.extraCostUSD as number);
      const extraH = fmtHours(cos.extraHours as number);
      side.append(h("h3", { text: "Cost of sovereignty" }), h("p", { id: "sovereignty", text: `Keeping to ${cos.constraints.join(", ")} costs ${extra} more and takes ${extraH} longer than the best placement without them.` }));
    }

    // A long table stays folded until asked for: laying out thousands of
    // rows would cost more than drawing the map.
    // The rows are built when the table is unfolded.
    const wasOpen = tableBox.querySelector("details")?.open;
    clear(tableBox);
    const fold = h("details", {}, h("summary", { text: `Table of everything the map shows (${rows.length} rows)` })) as HTMLDetailsElement;
    let built = false;
    const build = () => {
      if (built) return;
      built = true;
      fold.append(
        table(
          `Every site of the map as of ${plan.asOf}: one row per site and accelerator`,
          ["Site", "Country", "Accelerator", "Outcome", "Rules", "Rank", "Cost", "Time", "Lawful until"],
          rows.map((r) => {
            const btn = h("button", { type: "button", class: "link", "data-site": r[0], text: r[0] });
            btn.addEventListener("click", () => show(r[0]));
            return [btn, ...r.slice(1)];
          }),
          { class: "data", id: "sites-table" },
        ),
      );
    };
    fold.addEventListener("toggle", () => {
      if (fold.open) build();
    });
    if (rows.length <= TABLE_OPEN || wasOpen) {
      build();
      fold.open = true;
    }
    tableBox.append(fold);

    const unplaced = [...views.keys()].filter((n) => !pts.has(n));
    mapBox.removeAttribute("aria-busy");
    mapBox.removeAttribute("data-load-ms");
    mapBox.setAttribute("data-as-of", plan.asOf);
    mapBox.setAttribute("data-render-ms", (performance.now() - t0).toFixed(1));
    clear(status);
    status.append(shown(`Plan of ${plan.job || "the job"} as of ${plan.asOf}: ${placements.length} placements, ${(plan.rejected || []).length} rejected groups, ${wm.sites.childElementCount} sites on the map.`));
    if (unplaced.length) status.append(h("br"), unplacedNote(unplaced));
  }

  // Catalog, rule dates and runs load once; then the first plan.
  (async () => {
    try {
      const [list, rl] = await Promise.all([
        call<unknown>("GET", "/v1/catalog/sites"),
        call<{ rules: RuleEntry[] }>("GET", "/v1/rules").catch((err: ApiError) => {
          status.append(errorBox(err));
          return { rules: [] as RuleEntry[] };
        }),
        pickerPage(),
      ]);
      if (!alive) return;
      sites = catalogSites(listAt(objAt(list, "the answer").sites, "sites"), problems);
      ruleDates = ruleDays(rl && Array.isArray(rl.rules) ? rl.rules : []);
      for (const d of ruleDates) ticks.append(h("option", { value: dayIndex(d), label: d }));
      // The link's run (#/plan?run=ID) goes into the run's API path: one
      // that names no segment of it ("." or "..", which the browser takes
      // out of the path, so that /v1/runs/.. asked GET /v1/) is refused
      // here, with the reason, and nothing is asked for it.
      const fromRun = params.get("run");
      if (fromRun) {
        try {
          pathPart(fromRun, "the link's run");
        } catch (err) {
          status.append(errorBox(err));
          return;
        }
        runOption({ id: fromRun });
        runSel.value = fromRun;
        runSel.dispatchEvent(new Event("change"));
        return;
      }
      schedule(0);
    } catch (err) {
      status.append(errorBox(err));
    }
  })();

  return () => {
    alive = false;
    window.clearTimeout(timer);
    if (ctl) ctl.abort();
  };
}
