// Audit: the tenant's entries of the hash-chained log with filters, and
// the result of verifying the whole chain against its anchor.

import { call, AuditEntry, AuditResult } from "./api";
import { h, clear, errorBox, table } from "./dom";

export function auditPage(main: HTMLElement, params: URLSearchParams): () => void {
  let alive = true;
  let entries: AuditEntry[] = [];
  const runIn = h("input", { id: "audit-run", type: "text", value: params.get("run") || "" }) as HTMLInputElement;
  const kindSel = h("select", { id: "audit-kind" }, h("option", { value: "", text: "all kinds" })) as HTMLSelectElement;
  const fromIn = h("input", { id: "audit-from", type: "date" }) as HTMLInputElement;
  const toIn = h("input", { id: "audit-to", type: "date" }) as HTMLInputElement;
  const textIn = h("input", { id: "audit-text", type: "search" }) as HTMLInputElement;
  const verifyBtn = h("button", { type: "button", id: "audit-verify", text: "Verify the chain" });
  const verifyOut = h("div", { id: "audit-verify-result", role: "status", "aria-live": "polite" });
  const list = h("div", { id: "audit-list" });
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
  main.append(h("h2", { text: "Audit" }), h("p", {}, verifyBtn), verifyOut, form, list);

  verifyBtn.addEventListener("click", async () => {
    clear(verifyOut);
    verifyOut.append("Verifying…");
    try {
      const r = await call<AuditResult>("GET", "/v1/audit/verify");
      clear(verifyOut);
      verifyOut.append(
        h("p", { class: r.ok ? "good" : "bad", "data-ok": String(r.ok), text: r.ok ? `✔ The chain verifies: ${r.entries} entries, head ${r.head.slice(0, 16)}…` : `✘ The chain does not verify: ${r.problem ? JSON.stringify(r.problem) : "unknown problem"}` }),
        r.anchored ? h("p", { text: "Checked against the anchor " + JSON.stringify(r.anchored) }) : h("p", { text: "No anchor was checked." }),
      );
    } catch (err) {
      clear(verifyOut);
      verifyOut.append(errorBox(err));
    }
  });

  function render(): void {
    const kind = kindSel.value,
      from = fromIn.value,
      to = toIn.value,
      text = textIn.value.toLowerCase();
    const shown = entries.filter((e) => {
      if (kind && e.kind !== kind) return false;
      const d = (e.time || "").slice(0, 10);
      if (from && d < from) return false;
      if (to && d > to) return false;
      if (text && !JSON.stringify(e).toLowerCase().includes(text)) return false;
      return true;
    });
    clear(list);
    list.append(
      table(
        `${shown.length} of ${entries.length} entries`,
        ["#", "Time", "Kind", "Run", "Details", "Hash"],
        shown.map((e) => [
          String(e.seq),
          e.time,
          e.redacted ? "(another tenant's)" : e.kind,
          e.runId ? h("a", { href: "#/runs/" + encodeURIComponent(e.runId), text: e.runId }) : "",
          e.payload ? h("details", {}, h("summary", { text: "payload" }), h("pre", { text: JSON.stringify(e.payload, null, 2) })) : "",
          h("code", { title: e.hash, text: e.hash.slice(0, 12) }),
        ]),
        { class: "data", id: "audit-table" },
      ),
    );
  }

  async function load(): Promise<void> {
    clear(list);
    list.append("Loading…");
    try {
      // The server answers a page at a time; next is the after= of the
      // following page, absent on the last.
      const run = runIn.value.trim() ? "&run=" + encodeURIComponent(runIn.value.trim()) : "";
      const got: AuditEntry[] = [];
      let after = 0;
      for (;;) {
        const r = await call<{ entries: AuditEntry[]; next?: number }>("GET", "/v1/audit?after=" + after + run);
        if (!alive) return;
        got.push(...(r.entries || []));
        if (!r.next || r.next <= after) break;
        after = r.next;
        clear(list);
        list.append("Loading… " + got.length + " entries so far");
      }
      entries = got;
      const kinds = [...new Set(entries.map((e) => e.kind).filter(Boolean))].sort();
      const keep = kindSel.value;
      clear(kindSel);
      kindSel.append(h("option", { value: "", text: "all kinds" }), ...kinds.map((k) => h("option", { value: k, text: k })));
      kindSel.value = kinds.includes(keep) ? keep : "";
      render();
    } catch (err) {
      clear(list);
      list.append(errorBox(err));
    }
  }
  let lastRun = runIn.value;
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (runIn.value !== lastRun) {
      lastRun = runIn.value;
      load();
    } else render();
  });
  for (const el of [kindSel, fromIn, toIn]) el.addEventListener("change", render);
  load();
  return () => {
    alive = false;
  };
}
