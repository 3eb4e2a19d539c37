// Data: the transfer ledger as arcs from each dataset's origin country to
// the site it was staged at, with basis, bytes and date; the datasets and
// a verification of any staged copy.

import { call, readLedger, LedgerRow, Site, Country, DatasetInfo } from "./api";
import { h, clear, errorBox, fmtBytes, table } from "./dom";
import { WorldMap, countryCentroid } from "./map";

export function dataPage(main: HTMLElement): () => void {
  let alive = true;
  const wm = new WorldMap("Map of the tenant's data transfers");
  const status = h("p", { role: "status", "aria-live": "polite", text: "Loading the ledger…" });
  const dsBox = h("div", { id: "datasets" });
  const ledgerBox = h("div", { id: "ledger" });
  const verifyBox = h("div", { id: "verify-results", "aria-live": "polite" });
  main.append(h("h2", { text: "Data" }), status, wm.svg, h("h3", { text: "Datasets" }), dsBox, h("h3", { text: "Transfer ledger" }), ledgerBox, verifyBox);

  (async () => {
    try {
      const [ledger, sl, cl, dl] = await Promise.all([
        readLedger(),
        call<{ sites: Site[] }>("GET", "/v1/catalog/sites"),
        call<{ countries: Country[] }>("GET", "/v1/catalog/countries"),
        call<{ datasets: DatasetInfo[] }>("GET", "/v1/datasets"),
      ]);
      if (!alive) return;
      const sites = new Map(sl.sites.map((x) => [x.metadata.name, x]));
      const names = new Map(cl.countries.map((c) => [c.iso, c.name]));
      // A country's point: the mean of its catalog sites, else the centroid
      // of its shape in the bundled topology.
      const countryPoint = (iso: string): [number, number] | null => {
        const in_ = sl.sites.filter((x) => x.spec.country === iso);
        if (in_.length) return [in_.reduce((a, x) => a + x.spec.location.lon, 0) / in_.length, in_.reduce((a, x) => a + x.spec.location.lat, 0) / in_.length];
        const n = names.get(iso);
        return n ? countryCentroid(n) : null;
      };
      const entries: LedgerRow[] = ledger.entries || [];
      const drawn = new Set<string>();
      for (const e of entries) {
        const to = sites.get(e.site);
        const fromSite = e.fromSite ? sites.get(e.fromSite) : undefined;
        const a: [number, number] | null = fromSite ? [fromSite.spec.location.lon, fromSite.spec.location.lat] : countryPoint(e.from);
        const b: [number, number] | null = to ? [to.spec.location.lon, to.spec.location.lat] : countryPoint(e.to);
        const k = `${e.dataset}|${e.from}|${e.site}|${e.basis || ""}`;
        if (!a || !b || drawn.has(k)) continue;
        drawn.add(k);
        wm.arc(a, b, "transfer", `${e.dataset}: ${e.from} → ${e.site} (${e.to})${e.basis ? ", basis " + e.basis : ""}, ${e.asOf}`, { dataset: e.dataset, from: e.from, to: e.to });
      }
      clear(status);
      status.append(`${entries.length} ledger records; ${drawn.size} distinct transfers drawn.`);

      clear(dsBox);
      dsBox.append(
        table(
          `${dl.datasets.length} datasets`,
          ["Dataset", "Version", "Key held by the server", "Updated"],
          dl.datasets.map((d) => [String(d.name), String(d.version ?? ""), d.keyHeld ? "yes" : "no", String(d.updatedAt ?? "")]),
          { class: "data", id: "datasets-table" },
        ),
      );

      const copies = new Map<string, LedgerRow>();
      for (const e of entries) if ((e.kind || "dataset") === "dataset" && e.site) copies.set(e.dataset + "|" + e.site, e);
      clear(ledgerBox);
      ledgerBox.append(
        table(
          "Every transfer record, oldest first",
          ["#", "Date", "Kind", "Dataset", "From", "To country", "Site", "Basis", "Bytes (sent)", "Rules", "Run", "Record"],
          entries.map((e) => [
            String(e.seq),
            e.time.slice(0, 10),
            e.kind || "dataset",
            e.dataset,
            e.fromSite ? `${e.from} (${e.fromSite})` : e.from,
            e.to,
            e.site,
            e.basis || "–",
            `${fmtBytes(e.bytes)} (${fmtBytes(e.bytesSent)})`,
            (e.rules || []).join(", ") || "–",
            e.runId || "",
            e.complete ? "copy complete" : e.reconciled ? "reconciled" : `${e.chunksSent ?? 0} of ${e.chunks ?? 0} chunks`,
          ]),
          { class: "data", id: "ledger-table" },
        ),
        h("h3", { text: "Staged copies" }),
        table(
          "Verify a staged copy: every chunk is authenticated at the site",
          ["Dataset", "Site", "Verification"],
          [...copies.values()].map((e) => {
            const out = h("span", { class: "verify", "data-dataset": e.dataset, "data-site": e.site, text: "not checked" });
            const btn = h("button", { type: "button", text: "Verify", "aria-label": `Verify ${e.dataset} at ${e.site}` });
            btn.addEventListener("click", async () => {
              out.textContent = "checking…";
              try {
                const r = await call<{ chunks: number; ok: number; missing: unknown[] | null; altered: unknown[] | null }>("POST", "/v1/datasets/" + encodeURIComponent(e.dataset) + "/verify", { site: e.site });
                const bad = (r.missing || []).length + (r.altered || []).length;
                out.textContent = bad ? `FAILED: ${(r.missing || []).length} missing, ${(r.altered || []).length} altered of ${r.chunks} chunks` : `verified: ${r.ok} of ${r.chunks} chunks`;
                out.className = "verify " + (bad ? "bad" : "good");
              } catch (err) {
                out.textContent = (err as Error).message;
                out.className = "verify bad";
              }
            });
            return [e.dataset, e.site, h("span", {}, btn, " ", out)];
          }),
          { class: "data", id: "copies-table" },
        ),
      );
    } catch (err) {
      clear(status);
      status.append(errorBox(err));
    }
  })();
  return () => {
    alive = false;
  };
}
