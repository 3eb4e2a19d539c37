package transfer

import (
	"context"
	"slices"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// LedgerExports reads the transfer ledger for the policy engine's volume
// thresholds that count a window of exports (policy.Exports): which
// datasets an organisation and its group sent out of a country, and how
// many people each covers. Each dataset counts once, however often it was
// staged. It is small on purpose: it reads entries from Entries and keeps
// nothing, so the audit log, a FileLedger or a database can feed it.
type LedgerExports struct {
	// Entries returns the transfer ledger's entries (KindTransfer
	// payloads). It must be safe for concurrent use.
	Entries func(ctx context.Context) ([]Entry, error)
}

// FileLedgerExports is LedgerExports over a FileLedger's file.
func FileLedgerExports(path string) LedgerExports {
	return LedgerExports{Entries: func(ctx context.Context) ([]Entry, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		recs, err := readFileLedger(path)
		if err != nil {
			return nil, err
		}
		return ExportEntries(recs)
	}}
}

// ExportEntries picks from a ledger's records what the volume thresholds
// count: every confirmation (KindTransfer), and every intent (KindIntent)
// that no abandonment closed. An open intent is a staging that failed or
// was killed after it wrote the intent and before it confirmed: any of its
// objects may be at the site, so it counts until a reconciliation says
// which arrived (a confirmation, counted) and which did not (the
// abandonment). Otherwise a staging made to fail after its first chunks
// would move data past a threshold without ever being counted.
func ExportEntries(recs []Record) ([]Entry, error) {
	abandoned := map[string]bool{}
	for _, r := range recs {
		if r.Kind != KindAbandoned {
			continue
		}
		var a Abandoned
		if err := r.decode(&a); err != nil {
			return nil, err
		}
		abandoned[a.Intent] = true
	}
	var out []Entry
	for _, r := range recs {
		switch r.Kind {
		case KindTransfer:
			var e Entry
			if err := r.decode(&e); err != nil {
				return nil, err
			}
			out = append(out, e)
		case KindIntent:
			// Not its object list, which the volumes do not count: an
			// intent of a large dataset names thousands of chunks.
			var in struct {
				ID string `json:"id"`
				Entry
			}
			if err := r.decode(&in); err != nil {
				return nil, err
			}
			if !abandoned[in.ID] {
				out = append(out, in.Entry)
			}
		}
	}
	return out, nil
}

// ExportsOf is LedgerExports over a Ledger's records (ExportEntries) of
// the given tenants: a group's organisations may be registered by
// different tenants, and the caller decides whose records may be counted.
func ExportsOf(l Ledger, tenants ...string) LedgerExports {
	return LedgerExports{Entries: func(ctx context.Context) ([]Entry, error) {
		var out []Entry
		for _, t := range tenants {
			recs, err := l.Records(ctx, t, KindTransfer, KindIntent, KindAbandoned)
			if err != nil {
				return nil, err
			}
			ents, err := ExportEntries(recs)
			if err != nil {
				return nil, err
			}
			out = append(out, ents...)
		}
		return out, nil
	}}
}

// Exported implements policy.Exports. A confirmation counts when it moved
// a dataset (not a checkpoint), names one of orgs as the exporter, its
// dataset's origin is origin, it took the data out of origin, and its
// as-of date is from since to until; the several confirmations of one copy
// count once, as does the same dataset staged again. Entries without an
// organisation or origin (written before those fields existed) are not
// counted: they cannot be attributed. An entry whose date does not parse
// is an error, so the rules that asked fail closed.
func (l LedgerExports) Exported(ctx context.Context, orgs []string, origin string, since, until catalog.Date) ([]policy.Export, error) {
	ents, err := l.Entries(ctx)
	if err != nil {
		return nil, err
	}
	type key struct{ org, dataset string }
	byKey := map[key]policy.Export{}
	var order []key
	for _, e := range ents {
		if orDataset(e.Kind) != KindDataset || e.Organization == "" || e.Origin != origin || e.To == origin || !slices.Contains(orgs, e.Organization) {
			continue
		}
		d, err := catalog.ParseDate(e.AsOf)
		if err != nil {
			return nil, err
		}
		if d.Before(since) || d.After(until) {
			continue
		}
		k := key{e.Organization, e.Dataset}
		prev, seen := byKey[k]
		if !seen {
			order = append(order, k)
		}
		if !seen || e.Subjects > prev.Subjects {
			byKey[k] = policy.Export{Org: e.Organization, Dataset: e.Dataset, Class: e.Classification, Subjects: e.Subjects}
		}
	}
	out := make([]policy.Export, 0, len(order))
	for _, k := range order {
		out = append(out, byKey[k])
	}
	return out, nil
}

var _ policy.Exports = LedgerExports{}

// orgName is the exporting organisation's name, "" when the query has none.
func orgName(o *catalog.Organization) string {
	if o == nil {
		return ""
	}
	return o.Metadata.Name
}
