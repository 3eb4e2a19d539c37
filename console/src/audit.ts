// Audit: the tenant's entries of the hash-chained log, a page at a time,
// with filters, and the result of verifying the whole chain against its
// anchor.

import { call, ApiError, AuditEntry, AuditResult, listAt, textAt, numAt, objAt } from "./api";
import { h, clear, errorBox, table, textOf, textOr, Problems } from "./dom";
import { NAME_SHOWN, nameShown } from "./terminal";

// AUDIT_PAGE is how many entries a page reads (the server's default page
// is larger; its byte bound may end a page sooner).
const AUDIT_PAGE = 500;

// ANCHOR_KINDS are the kinds of problem the anchor check finds (a log's
// tail cut, its anchored entry rewritten, its anchor removed or
// replaced), as the problem of a chain that verifies or beside a break.
const ANCHOR_KINDS = ["truncated", "diverged", "anchor-missing", "anchor-replaced"];

// chainResult is what the page says of a verification of the whole
// chain: verified only when the server says ok and nothing it could not
// show (unproven, unkeyed), as meridian audit verify does; the breaks the
// operator accepted are said too. Before, a chain that verified but named
// no anchor key (one cut back to before it was first anchored reads so),
// or whose entries' contents were not checked, read "The chain verifies"
// with a tick, and an accepted break was not mentioned.
//
// cut says what the anchor check found beside a break (anchorProblem),
// and how the server's operator accepts both (cutSeq); anchor, what the
// anchor checked says. Before, a cut beside a break was not shown at all,
// and a broken chain read "Checked against the anchor …" of an anchor
// that did not hold, or that was planted in the anchor directory.
export function chainResult(r: AuditResult): { ok: boolean; lines: string[]; cut: string[]; anchor: string } {
  const lines: string[] = [];
  const accepted = Array.isArray(r.accepted) ? r.accepted : [];
  for (const a of accepted) {
    const p = (a && a.problem) || ({} as { seq?: number; kind?: string; detail?: string });
    lines.push(`Broken at entry ${textOr(p.seq, "?")} (${textOr(p.kind, "?")}: ${textOr(p.detail, "no detail")}), accepted at entry ${textOr(a && a.at, "?")}; checked on past it.`);
  }
  const more = (typeof r.acceptedCount === "number" ? r.acceptedCount : 0) - accepted.length;
  if (more > 0) lines.push(`Broken at ${more} more entries, each accepted by a later entry; checked on past them.`);
  const head = typeof r.head === "string" ? r.head.slice(0, 16) : "";
  const cutProblem = isObject(r.anchorProblem) ? r.anchorProblem : undefined;
  let ok = false;
  let verdict: string;
  if (r.ok !== true) verdict = `✘ The chain does not verify: ${r.problem ? JSON.stringify(r.problem) : "unknown problem"}`;
  else if (cutProblem) verdict = "✘ The chain does not verify: the answer says it does, yet names a cut from its anchor";
  else if (r.unkeyed || r.unproven) verdict = `✘ NOT PROVEN: ${textOr(r.entries, "?")} entries in order and linked, head ${head}…, but ${textOr(r.unproven || null, "their contents were not checked (no audit key)")}`;
  else {
    ok = true;
    verdict = `✔ The chain verifies: ${textOr(r.entries, "?")} entries, head ${head}…`;
  }
  return { ok, lines: [verdict, ...lines], cut: cutLines(r, cutProblem), anchor: anchorLine(r, r.ok === true && !cutProblem, cutProblem) };
}

// chainView is chainResult as the page shows it: each line a paragraph
// of its own, written as text (the server's words in it with their
// bidirectional and control characters shown, not obeyed).
export function chainView(r: AuditResult): HTMLElement[] {
  const v = chainResult(r);
  return [
    h("p", { class: v.ok ? "good" : "bad", "data-ok": String(v.ok), text: v.lines[0] }),
    ...v.cut.map((l) => h("p", { class: "bad", text: l })),
    ...v.lines.slice(1).map((l) => h("p", { class: "warn", text: l })),
    h("p", { text: v.anchor }),
  ];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// cutLines are what the page says of a cut beside a break: where and
// what, then how the server's operator accepts both, as meridian audit
// verify says it. The number a start takes is the server's cutSeq, or,
// from a server that does not send it, worked out as the server does
// (audit.Result.CutSeq); shown only when it is a whole number above 0, so
// that no text of the answer's becomes part of the command. An anchor
// replaced is accepted so too, the acceptance giving the anchor directory
// a fresh key (the server keeps no key the log does not name); the page
// said no start accepts it and had the operator move the directory aside,
// which left a genuine anchor, read replaced after rows were deleted past
// a break, unchecked.
function cutLines(r: AuditResult, p: AuditResult["anchorProblem"]): string[] {
  if (!p) return [];
  const kind = textOr(p.kind, "?");
  const lines = [`Also cut from its anchor at entry ${textOr(p.seq, "?")} (${kind}: ${textOr(p.detail, "no detail")}).`];
  let n: unknown = r.cutSeq;
  if (n === undefined || n === null) {
    if (p.kind === "truncated" || p.kind === "diverged") n = isObject(r.anchored) ? r.anchored.seq : undefined;
    else if (p.kind === "anchor-missing" || p.kind === "anchor-replaced") n = p.seq;
  }
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n <= 0) {
    lines.push("For the operator: the answer names no entry that accepts this cut (cutSeq), so no start of the server accepts it; check the log and the anchor directory with meridian audit verify.");
  } else if (p.kind === "anchor-replaced") {
    lines.push(`For the operator: a start accepts the break only with the cut: meridian serve --accept-broken-audit --accept-audit-cut ${n}; the anchor directory's key, not the log's, is then kept aside there and replaced by a fresh one`);
  } else {
    lines.push(`For the operator: a start accepts the break only with the cut: meridian serve --accept-broken-audit --accept-audit-cut ${n}`);
  }
  return lines;
}

// anchorLine says what the anchor checked tells: on a chain the server
// says verifies (proven or not: an unkeyed check checks the anchor too),
// that it was checked against it; on one that does not, that
// the anchor the directory holds vouches for nothing (it did not hold,
// or the chain broke before it).
function anchorLine(r: AuditResult, held: boolean, cut: AuditResult["anchorProblem"]): string {
  const a = r.anchored;
  if (!isObject(a)) return "No anchor was checked.";
  const key = typeof a.key === "string" ? a.key.slice(0, 16) : textOr(a.key, "?");
  const which = `the anchor of entry ${textOr(a.seq, "?")} (${textOr(a.time, "no time")}, key ${key}…)`;
  if (held) return `Checked against ${which}.`;
  const p = r.problem;
  if (cut || (isObject(p) && typeof p.kind === "string" && ANCHOR_KINDS.includes(p.kind))) {
    return `The anchor directory holds ${which}, which does not hold for this log: it vouches for none of it.`;
  }
  return `The anchor directory holds ${which}; nothing was found cut from it, but it vouches for nothing while the chain does not verify.`;
}

// linkRun is what a link's run (#/audit?run=ID) puts in the run filter:
// the run, when the field shows it as it is; else nothing, and the error
// that says why. A field draws its value as it is: one holding a
// bidirectional override, a joiner between letters or a newline read as
// another run than the one whose entries the page then listed (none), so
// that a crafted link made a run's entries look absent.
function linkRun(run: string): { run: string; err?: ApiError } {
  if (!run) return { run };
  const why = ": the run filter is left empty";
  const n = [...run].length;
  if (n > NAME_SHOWN) return { run: "", err: new ApiError(0, `the link's run is ${n} characters long, more than the ${NAME_SHOWN} a run filter shows${why}`, "run") };
  const seen = nameShown(run);
  if (seen !== run) return { run: "", err: new ApiError(0, `the link's run "${seen}" holds a character that does not show as itself (marked here)${why}`, "run") };
  return { run };
}

export function auditPage(main: HTMLElement, params: URLSearchParams): () => void {
  let alive = true;
  let entries: AuditEntry[] = [];
  const link = linkRun(params.get("run") || "");
  const runIn = h("input", { id: "audit-run", type: "text", value: link.run }) as HTMLInputElement;
  const kindSel = h("select", { id: "audit-kind" }, h("option", { value: "", text: "all kinds" })) as HTMLSelectElement;
  const fromIn = h("input", { id: "audit-from", type: "date" }) as HTMLInputElement;
  const toIn = h("input", { id: "audit-to", type: "date" }) as HTMLInputElement;
  const textIn = h("input", { id: "audit-text", type: "search" }) as HTMLInputElement;
  const verifyBtn = h("button", { type: "button", id: "audit-verify", text: "Verify the chain" });
  const verifyOut = h("div", { id: "audit-verify-result", role: "status", "aria-live": "polite" });
  const list = h("div", { id: "audit-list" });
  // What of the entries the page could not show.
  const problems = new Problems("audit-problems");
  const form = h(
    "form",
    { class: "filters" },
    h("label", { for: "audit-run", text: "Run" }),
    runIn,
    h("label", { for: "audit-kind", text: "Kind" }),
    kindSel,
    h("label", { for: "audit-from", text: "From" }),
    fromIn,
    h("label", { for: "audit-to", text: "To" }),
    toIn,
    h("label", { for: "audit-text", text: "Contains" }),
    textIn,
    h("button", { type: "submit", text: "Filter" }),
  );
  main.append(h("h2", { text: "Audit" }), h("p", {}, verifyBtn), verifyOut, form, ...(link.err ? [errorBox(link.err)] : []), problems.box, list);

  verifyBtn.addEventListener("click", async () => {
    clear(verifyOut);
    verifyOut.append("Verifying…");
    try {
      const r = objAt(await call<unknown>("GET", "/v1/audit/verify"), "the answer") as unknown as AuditResult;
      clear(verifyOut);
      verifyOut.append(...chainView(r));
    } catch (err) {
      clear(verifyOut);
      verifyOut.append(errorBox(err));
    }
  });

  // The entries come a page at a time, oldest first (GET /v1/audit with
  // limit and after; next names the following page and is absent on the
  // last). The page reads one page when it opens, or when the run asked
  // for changes, and one more each time "more" is pressed, never the rest
  // by itself: a tenant's log grows with every run. The kind, date and
  // text filters apply to the entries read so far, and say so.
  let next = 0;
  let loading = false;
  let gen = 0;
  const more = h("button", { type: "button", id: "audit-more", hidden: true }) as HTMLButtonElement;
  const status = h("div", { id: "audit-status", "aria-live": "polite" });
  main.append(more, status);
  more.addEventListener("click", () => void load(false));

  function render(): void {
    const kind = kindSel.value,
      from = fromIn.value,
      to = toIn.value,
      text = textIn.value.toLowerCase();
    const shown = entries.filter((e) => {
      if (kind && e.kind !== kind) return false;
      const d = typeof e.time === "string" ? e.time.slice(0, 10) : "";
      if (from && d < from) return false;
      if (to && d > to) return false;
      if (text && !JSON.stringify(e).toLowerCase().includes(text)) return false;
      return true;
    });
    clear(list);
    problems.reset();
    const rows = problems.each(
      shown,
      (e) => `Audit entry #${e.seq}`,
      (e) => {
        const hash = textAt(e.hash, "hash");
        return [
          textOf(e.seq),
          textAt(e.time, "time"),
          e.redacted ? "(another tenant's)" : textOf(e.kind),
          e.runId ? h("a", { href: "#/runs/" + encodeURIComponent(textOf(e.runId)), text: textOf(e.runId) }) : "",
          e.payload ? h("details", {}, h("summary", { text: "payload" }), h("pre", { text: JSON.stringify(e.payload, null, 2) })) : "",
          h("code", { title: hash, text: hash.slice(0, 12) }),
        ];
      },
    );
    list.append(
      table(
        next ? `${shown.length} of the first ${entries.length} entries, oldest first; more follow` : `${shown.length} of ${entries.length} entries`,
        ["#", "Time", "Kind", "Run", "Details", "Hash"],
        rows,
        { class: "data", id: "audit-table" },
      ),
    );
  }

  // load reads the first page (fresh: the run filter changed, or the page
  // opened) or the one after those shown.
  async function load(fresh: boolean): Promise<void> {
    if (loading && !fresh) return;
    const mine = ++gen;
    loading = true;
    more.disabled = true;
    const after = fresh ? 0 : next;
    clear(status);
    if (fresh) {
      entries = [];
      next = 0;
      more.hidden = true;
      clear(list);
      list.append("Loading…");
    } else status.append(`Loading the entries after #${after}…`);
    try {
      const run = runIn.value.trim() ? "&run=" + encodeURIComponent(runIn.value.trim()) : "";
      const r = objAt(await call<unknown>("GET", `/v1/audit?limit=${AUDIT_PAGE}&after=${after}` + run), "the answer");
      if (!alive || mine !== gen) return;
      const page = listAt<AuditEntry>(r.entries, "entries");
      // Each page follows the one before: a server that answered an
      // entry again, or a next that does not move on, would have the page
      // list entries twice or offer "more" for ever.
      let prev = after;
      page.forEach((e, i) => {
        const seq = numAt(objAt(e, `entries[${i}]`).seq, `entries[${i}].seq`);
        if (!(seq > prev)) throw new ApiError(0, `the server listed entry #${seq} after #${prev}`);
        prev = seq;
      });
      const rnext = r.next === undefined || r.next === null ? 0 : numAt(r.next, "next");
      if (rnext && !(rnext > after)) throw new ApiError(0, `the server named a next page after #${rnext}, which does not follow #${after}`);
      clear(status);
      entries = entries.concat(page);
      next = rnext;
      more.hidden = !next;
      more.textContent = `More entries: up to ${AUDIT_PAGE} after #${next}`;
      const kinds = [...new Set(entries.map((e) => e.kind).filter((k) => typeof k === "string" && k))].sort();
      const keep = kindSel.value;
      clear(kindSel);
      kindSel.append(h("option", { value: "", text: "all kinds" }), ...kinds.map((k) => h("option", { value: k, text: k })));
      kindSel.value = kinds.includes(keep) ? keep : "";
      render();
    } catch (err) {
      if (!alive || mine !== gen) return;
      clear(status);
      if (!entries.length) clear(list);
      status.append(errorBox(entries.length ? new Error(`The entries after #${after} could not be read: ${(err as Error).message}`) : err));
      more.hidden = false;
      more.textContent = entries.length ? `Try again: the entries after #${after}` : "Read the entries again";
      if (!entries.length) next = 0;
    } finally {
      if (mine === gen) {
        loading = false;
        more.disabled = false;
      }
    }
  }
  let lastRun = runIn.value;
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (runIn.value !== lastRun) {
      lastRun = runIn.value;
      load(true);
    } else render();
  });
  for (const el of [kindSel, fromIn, toIn]) el.addEventListener("change", render);
  load(true);
  return () => {
    alive = false;
  };
}
