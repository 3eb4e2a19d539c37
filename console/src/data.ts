// Data: the transfer ledger, a page at a time, as arcs from each dataset's
// origin country to the site it was staged at, with basis, bytes and date;
// the datasets and a verification of any staged copy.

import { call, ApiError, LedgerRow, Site, DatasetInfo, listAt, textAt, numAt, objAt, pathPart } from "./api";
import { h, clear, errorBox, fmtBytes, table, textOf, textOr, Problems } from "./dom";
import { WorldMap, countryCentroid, catalogSites } from "./map";
import { nameShown, shown } from "./terminal";

// VerifyReport is POST /v1/datasets/NAME/verify's answer.
export interface VerifyReport {
  chunks: number;
  ok: number;
  missing: unknown[] | null;
  altered: unknown[] | null;
  // manifestReplaced says why the copy's manifest is not the version
  // staged (another was put in its place): its chunks were not read.
  manifestReplaced?: string;
}

// verifyResult is what the page says of a copy's verification: verified
// only when every chunk was read and authenticated, nothing missing or
// altered, and the manifest is the one staged. Before, a copy whose
// manifest was replaced (the server reads no chunk of it, and answers 0
// of 0) read "verified: 0 of 0 chunks", in green.
export function verifyResult(r: VerifyReport): { good: boolean; text: string } {
  const count = (v: unknown) => (typeof v === "number" && isFinite(v) ? v : NaN);
  const missing = Array.isArray(r.missing) ? r.missing.length : 0;
  const altered = Array.isArray(r.altered) ? r.altered.length : 0;
  const chunks = count(r.chunks),
    ok = count(r.ok);
  if (r.manifestReplaced) return { good: false, text: `FAILED: the manifest is not the one staged (${textOf(r.manifestReplaced)}); no chunk was read` };
  if (missing || altered) return { good: false, text: `FAILED: ${missing} missing, ${altered} altered of ${textOr(r.chunks, "?")} chunks` };
  if (!(ok === chunks)) return { good: false, text: `FAILED: ${textOr(r.ok, "?")} of ${textOr(r.chunks, "?")} chunks authenticated` };
  return { good: true, text: `verified: ${ok} of ${chunks} chunks` };
}

// countryPoints answers a country's point on the map: the mean of its
// catalog sites, else the centroid of its shape in the bundled topology
// (names maps a country's code to that shape's name). The sites are
// gone through once, and each country's point is worked out once: before,
// each ledger record went through every site, so a page of records cost
// records × sites.
export function countryPoints(sites: Site[], names: Map<string, string>): (iso: string) => [number, number] | null {
  const sums = new Map<string, { lon: number; lat: number; n: number }>();
  for (const x of sites) {
    const c = sums.get(x.spec.country) || { lon: 0, lat: 0, n: 0 };
    c.lon += x.spec.location.lon;
    c.lat += x.spec.location.lat;
    c.n++;
    sums.set(x.spec.country, c);
  }
  const points = new Map<string, [number, number] | null>();
  return (iso: string) => {
    let p = points.get(iso);
    if (p !== undefined) return p;
    const c = sums.get(iso);
    if (c) p = [c.lon / c.n, c.lat / c.n];
    else {
      const n = names.get(iso);
      p = n ? countryCentroid(n) : null;
    }
    points.set(iso, p);
    return p;
  };
}

export function dataPage(main: HTMLElement): () => void {
  let alive = true;
  const wm = new WorldMap("Map of the tenant's data transfers");
  const status = h("p", { role: "status", "aria-live": "polite", text: "Loading the ledger…" });
  const dsBox = h("div", { id: "datasets" });
  const ledgerBox = h("div", { id: "ledger" });
  const verifyBox = h("div", { id: "verify-results", "aria-live": "polite" });
  // What of the server's answers the page could not show.
  const problems = new Problems("data-problems");
  main.append(h("h2", { text: "Data" }), status, problems.box, wm.svg, h("h3", { text: "Datasets" }), dsBox, h("h3", { text: "Transfer ledger" }), ledgerBox, verifyBox);

  // The ledger comes a page at a time, oldest first (GET /v1/ledger with
  // limit and after; next names the following page, and every page
  // carries the totals of the whole ledger). The page reads one page when
  // it opens and one more each time "more" is pressed, never the rest by
  // itself: a tenant's ledger grows with every staging. The staged copies
  // come from the totals, which cover the whole ledger.
  const LEDGER_PAGE = 500;
  let next = 0;
  let count = 0;
  let loading = false;
  let ledgerBody: HTMLTableSectionElement | null = null;
  let ledgerCaption: HTMLTableCaptionElement | null = null;
  const more = h("button", { type: "button", id: "ledger-more", hidden: true }) as HTMLButtonElement;
  const moreStatus = h("div", { id: "ledger-status", "aria-live": "polite" });
  const drawn = new Set<string>();
  let sites = new Map<string, Site>();
  let countryPoint: (iso: string) => [number, number] | null = () => null;

  async function ledgerPage(after: number): Promise<{ entries: LedgerRow[]; totals: Record<string, unknown>[]; next: number }> {
    const r = objAt(await call<unknown>("GET", `/v1/ledger?limit=${LEDGER_PAGE}&after=${after}`), "the answer");
    const page = listAt<LedgerRow>(r.entries, "entries");
    // Each page follows the one before: a server that answered a record
    // again, or a next that does not move on, would have the page list
    // records twice or offer "more" for ever.
    let prev = after;
    page.forEach((e, i) => {
      const seq = numAt(objAt(e, `entries[${i}]`).seq, `entries[${i}].seq`);
      if (!(seq > prev)) throw new ApiError(0, `the server listed ledger record #${seq} after #${prev}`);
      prev = seq;
    });
    const next = r.next === undefined || r.next === null ? 0 : numAt(r.next, "next");
    if (next && !(next > after)) throw new ApiError(0, `the server named a next page of the ledger after #${next}, which does not follow #${after}`);
    return { entries: page, totals: listAt<Record<string, unknown>>(r.totals, "totals"), next };
  }

  function row(e: LedgerRow): HTMLTableRowElement {
    return h(
      "tr",
      {},
      ...[
        textOf(e.seq),
        textAt(e.time, "time").slice(0, 10),
        e.kind || "dataset",
        e.dataset,
        e.fromSite ? `${textOr(e.from)} (${textOf(e.fromSite)})` : e.from,
        e.to,
        e.site,
        e.basis || "–",
        `${fmtBytes(e.bytes)} (${fmtBytes(e.bytesSent)})`,
        listAt(e.rules, "rules").map(textOf).join(", ") || "–",
        e.runId || "",
        e.complete ? "copy complete" : e.reconciled ? "reconciled" : `${textOr(e.chunksSent, "0")} of ${textOr(e.chunks, "0")} chunks`,
      ].map((c) => h("td", {}, c)),
    );
  }

  // show adds a page of records to the map and the table.
  function show(entries: LedgerRow[]): void {
    const rows = problems.each(
      entries,
      (e) => `Ledger record #${e.seq}`,
      (e) => {
        const tr = row(e);
        arc(e);
        return tr;
      },
    );
    count += entries.length;
    ledgerBody!.append(...rows);
    ledgerCaption!.textContent = next ? `The first ${count} transfer records, oldest first; more follow` : `Every transfer record, oldest first (${count})`;
    more.hidden = !next;
    more.textContent = `More records: up to ${LEDGER_PAGE} after #${next}`;
    clear(status);
    status.append(`${count} ledger records${next ? " read so far" : ""}; ${drawn.size} distinct transfers drawn.`);
  }

  // arc draws a record's transfer on the map, once for each dataset,
  // origin, site and basis.
  function arc(e: LedgerRow): void {
    {
      const to = sites.get(e.site);
      const fromSite = e.fromSite ? sites.get(e.fromSite) : undefined;
      const a: [number, number] | null = fromSite ? [fromSite.spec.location.lon, fromSite.spec.location.lat] : countryPoint(e.from);
      const b: [number, number] | null = to ? [to.spec.location.lon, to.spec.location.lat] : countryPoint(e.to);
      const k = JSON.stringify([e.dataset, e.from, e.site, e.basis || ""]);
      if (!a || !b || drawn.has(k)) return;
      drawn.add(k);
      // The record's names are the tenant's and the sites': the tooltip
      // shows each bounded and marked, as a heading shows a name.
      const n = (v: unknown) => nameShown(textOr(v));
      wm.arc(a, b, "transfer", `${n(e.dataset)}: ${n(e.from)} → ${n(e.site)} (${n(e.to)})${e.basis ? ", basis " + n(e.basis) : ""}, ${n(e.asOf)}`, { dataset: textOf(e.dataset), from: textOf(e.from), to: textOf(e.to) });
    }
  }

  more.addEventListener("click", async () => {
    if (loading) return;
    loading = true;
    more.disabled = true;
    clear(moreStatus);
    try {
      const p = await ledgerPage(next);
      if (!alive) return;
      next = p.next;
      show(p.entries);
    } catch (err) {
      if (!alive) return;
      moreStatus.append(errorBox(new Error(`The records after #${next} could not be read: ${(err as Error).message}`)));
      more.textContent = `Try again: the records after #${next}`;
    } finally {
      loading = false;
      more.disabled = false;
    }
  });

  (async () => {
    try {
      // The catalog and the datasets are read beside the ledger; one
      // that cannot be read is said, and the page shows the rest.
      const part = (what: string, path: string, field: string) =>
        call<unknown>("GET", path)
          .then((r) => listAt<unknown>(objAt(r, "the answer")[field], field))
          .catch((err) => {
            problems.add(what, err);
            return [] as unknown[];
          });
      const [ledger, sl, cl, dl] = await Promise.all([
        ledgerPage(0),
        part("The catalog's sites", "/v1/catalog/sites", "sites"),
        part("The catalog's countries", "/v1/catalog/countries", "countries"),
        part("The datasets", "/v1/datasets", "datasets"),
      ]);
      if (!alive) return;
      sites = catalogSites(sl, problems);
      const names = new Map<string, string>();
      problems.each(
        cl,
        (_c, i) => `Country ${i + 1} of the catalog`,
        (c, i) => {
          const o = objAt(c, `countries[${i}]`);
          names.set(textAt(o.iso, `countries[${i}].iso`), textAt(o.name, `countries[${i}].name`));
        },
      );
      countryPoint = countryPoints([...sites.values()], names);

      clear(dsBox);
      dsBox.append(
        table(
          `${dl.length} datasets`,
          ["Dataset", "Version", "Key held by the server", "Updated"],
          problems.each(
            dl,
            (_d, i) => `Dataset ${i + 1} of the list`,
            (x, i) => {
              const d = objAt(x, `datasets[${i}]`) as DatasetInfo;
              return [textAt(d.name, `datasets[${i}].name`), textOf(d.version ?? ""), d.keyHeld ? "yes" : "no", textOf(d.updatedAt ?? "")];
            },
          ),
          { class: "data", id: "datasets-table" },
        ),
      );

      // The staged copies: each dataset and site the whole ledger's totals
      // name for a dataset's copy.
      const copies = new Map<string, { dataset: string; site: string }>();
      for (const x of ledger.totals) {
        if (!x || typeof x !== "object") continue;
        const t = x as Record<string, unknown>;
        const dataset = textOf(t.dataset ?? ""),
          site = textOf(t.site ?? "");
        if (((t.kind as string) || "dataset") === "dataset" && dataset && site) copies.set(dataset + "|" + site, { dataset, site });
      }
      const lt = table("", ["#", "Date", "Kind", "Dataset", "From", "To country", "Site", "Basis", "Bytes (sent)", "Rules", "Run", "Record"], [], { class: "data", id: "ledger-table" });
      ledgerBody = lt.tBodies[0];
      ledgerCaption = lt.caption;
      clear(ledgerBox);
      ledgerBox.append(
        lt,
        more,
        moreStatus,
        h("h3", { text: "Staged copies" }),
        table(
          "Verify a staged copy: every chunk is authenticated at the site",
          ["Dataset", "Site", "Verification"],
          [...copies.values()].map((e) => {
            const out = h("span", { class: "verify", "data-dataset": e.dataset, "data-site": e.site, text: "not checked" });
            const btn = h("button", { type: "button", text: "Verify", "aria-label": `Verify ${nameShown(e.dataset)} at ${nameShown(e.site)}` });
            btn.addEventListener("click", async () => {
              out.textContent = "checking…";
              try {
                const v = verifyResult(await call<VerifyReport>("POST", "/v1/datasets/" + pathPart(e.dataset, "the dataset") + "/verify", { site: e.site }));
                out.textContent = shown(v.text);
                out.className = "verify " + (v.good ? "good" : "bad");
              } catch (err) {
                out.textContent = shown((err as Error).message);
                out.className = "verify bad";
              }
            });
            return [e.dataset, e.site, h("span", {}, btn, " ", out)];
          }),
          { class: "data", id: "copies-table" },
        ),
      );
      next = ledger.next;
      show(ledger.entries);
    } catch (err) {
      clear(status);
      status.append(errorBox(err));
    }
  })();
  return () => {
    alive = false;
  };
}
