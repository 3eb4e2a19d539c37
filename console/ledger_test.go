package console

import (
	"fmt"
	"testing"
)

// dataPageHarness opens the data page and tells how many times the page
// read a catalog site's spec (each site a stand-in that counts), the
// ledger table's rows, and the transfers drawn on the map.
const dataPageHarness = pagePrelude + `
import { dataPage } from "./data";
let reads = 0;
const parse = JSON.parse;
(JSON as any).parse = (s: string, r?: any) => {
  const v = parse(s, r);
  if (v && Array.isArray(v.sites)) {
    v.sites = v.sites.map((x: any) => {
      const spec = x.spec;
      return Object.defineProperty({ metadata: x.metadata }, "spec", { get: () => (reads++, spec), enumerable: true });
    });
  }
  return v;
};
async function main() {
  const page = new El("main");
  dataPage(page as any);
  await settle();
  const t = find(page, (e) => e.attrs.id === "ledger-table")[0];
  const body = t ? t.tBodies[0] : null;
  process.stdout.write(JSON.stringify({
    reads,
    rows: body ? body.children.length : -1,
    arcs: find(page, (e) => (e.attrs.class || "").startsWith("arc ")).length,
    errors: find(page, (e) => e.attrs.class === "error").map(text),
    markup,
  }));
}
main();
`

// dataRoutes is a stand-in server whose catalog has nSites sites (in
// countries C0..C9) and whose ledger's first page has nRecords records,
// each from a country of the catalog to one of its sites.
func dataRoutes(nSites, nRecords int) map[string]any {
	var sites, entries []any
	for i := range nSites {
		sites = append(sites, map[string]any{"metadata": map[string]any{"name": fmt.Sprint("s", i)},
			"spec": map[string]any{"country": fmt.Sprint("C", i%10), "location": map[string]any{"lat": float64(i%90) - 45, "lon": float64(i%180) - 90}, "operator": map[string]any{"name": "o", "headquarters": "C0"}}})
	}
	for i := range nRecords {
		entries = append(entries, map[string]any{"seq": i + 1, "time": "2026-01-02T03:04:05Z", "dataset": fmt.Sprint("d", i), "site": fmt.Sprint("s", i%nSites),
			"from": fmt.Sprint("C", (i+1)%10), "to": fmt.Sprint("C", i%10), "basis": "adequacy", "rules": []string{"r1"}, "asOf": "2026-01-02", "bytes": 10, "bytesSent": 10, "complete": true})
	}
	return map[string]any{
		"/v1/ledger":            map[string]any{"json": map[string]any{"entries": entries, "totals": []any{}}},
		"/v1/catalog/sites":     map[string]any{"json": map[string]any{"sites": sites}},
		"/v1/catalog/countries": map[string]any{"json": map[string]any{"countries": []any{}}},
		"/v1/datasets":          map[string]any{"json": map[string]any{"datasets": []any{}}},
	}
}

// TestLedgerReadsSitesOnce: the data page goes through the catalog's
// sites once for a page of ledger records, not once per record. Before,
// each record's origin country was looked for among every site: a page
// of 500 records against a catalog of 2,000 sites read a site 2 million
// times.
func TestLedgerReadsSitesOnce(t *testing.T) {
	const nSites, nRecords = 2000, 500
	var out struct {
		Reads  int
		Rows   int
		Arcs   int
		Errors []string
	}
	runHarness(t, dataPageHarness, map[string]any{"routes": dataRoutes(nSites, nRecords)}, &out)
	if out.Rows != nRecords || out.Arcs != nRecords || len(out.Errors) > 0 {
		t.Fatalf("the page shows %d records and %d transfers (errors %q), want %d of each", out.Rows, out.Arcs, out.Errors, nRecords)
	}
	if limit := 10 * (nSites + nRecords); out.Reads > limit {
		t.Errorf("the page read a site's spec %d times for %d records and %d sites, want at most %d", out.Reads, nRecords, nSites, limit)
	}
}
