package transfer

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// scanExportIndex is ExportIndex as it was before its facts were kept by
// tenant, origin and organisation: every query scanned every tenant's
// facts. The tests hold the index to its answers, errors included.
type scanExportIndex struct {
	read func(ctx context.Context, after int64) ([]Record, error)

	mu    sync.Mutex
	seq   int64
	facts map[scanFact]int64
	open  map[string]scanOpenFact
}

type scanFact struct {
	tenant, org, origin, dataset, asOf, class, registration string
	subjects                                                int64
	within                                                  bool
	group                                                   string
}

type scanOpenFact struct {
	fact scanFact
	seq  int64
}

func newScanExportIndex(read func(ctx context.Context, after int64) ([]Record, error)) *scanExportIndex {
	return &scanExportIndex{read: read, facts: map[scanFact]int64{}, open: map[string]scanOpenFact{}}
}

func scanFactOf(tenant string, e Entry) (scanFact, bool) {
	if orDataset(e.Kind) != KindDataset || e.Organization == "" {
		return scanFact{}, false
	}
	return scanFact{catalog.TenantOr(tenant), e.Organization, e.Origin, e.Dataset, e.AsOf, e.Classification, e.Registration, e.Subjects, e.To == e.Origin,
		strings.Join(groupOf(e.Group), ",")}, true
}

func (x *scanExportIndex) apply(r Record) error {
	switch r.Kind {
	case KindTransfer:
		var e Entry
		if err := r.decode(&e); err != nil {
			return err
		}
		seq := r.Seq
		if o, ok := x.open[openKey(r.Tenant, e.Intent)]; ok {
			seq = min(seq, o.seq)
			delete(x.open, openKey(r.Tenant, e.Intent))
		}
		if f, ok := scanFactOf(r.Tenant, e); ok {
			if first, seen := x.facts[f]; !seen || seq < first {
				x.facts[f] = seq
			}
		}
	case KindIntent:
		var in struct {
			ID string `json:"id"`
			Entry
		}
		if err := r.decode(&in); err != nil {
			return err
		}
		if f, ok := scanFactOf(r.Tenant, in.Entry); ok {
			x.open[openKey(r.Tenant, in.ID)] = scanOpenFact{f, r.Seq}
		}
	case KindAbandoned:
		var a Abandoned
		if err := r.decode(&a); err != nil {
			return err
		}
		if o, ok := x.open[openKey(r.Tenant, a.Intent)]; ok {
			delete(x.open, openKey(r.Tenant, a.Intent))
			if first, seen := x.facts[o.fact]; !seen || o.seq < first {
				x.facts[o.fact] = o.seq
			}
		}
	}
	x.seq = max(x.seq, r.Seq)
	return nil
}

func (x *scanExportIndex) Exported(ctx context.Context, tenant string, orgs []string, origin string, since, until catalog.Date) ([]policy.Export, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	recs, err := x.read(ctx, x.seq)
	if err != nil {
		return nil, err
	}
	if err := catchUp(recs, x.seq, x.apply); err != nil {
		return nil, err
	}
	type counted struct {
		f   scanFact
		seq int64
	}
	var cands []counted
	consider := func(f scanFact, seq int64) {
		named := slices.ContainsFunc(strings.Split(f.group, ","), func(m string) bool { return m != "" && slices.Contains(orgs, m) })
		if f.tenant == catalog.TenantOr(tenant) && f.origin == origin && (slices.Contains(orgs, f.org) || named) {
			cands = append(cands, counted{f, seq})
		}
	}
	for f, seq := range x.facts {
		consider(f, seq)
	}
	for _, o := range x.open {
		consider(o.fact, o.seq)
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].seq < cands[j].seq })
	type key struct {
		org, dataset, registration string
		within                     bool
	}
	byKey := map[key]policy.Export{}
	groups := map[key][]string{}
	for _, c := range cands {
		d, err := catalog.ParseDate(c.f.asOf)
		if err != nil {
			return nil, fmt.Errorf("ledger: export of %s by %s on %q: %w", c.f.dataset, c.f.org, c.f.asOf, err)
		}
		if d.Before(since) || d.After(until) {
			continue
		}
		k := key{c.f.org, c.f.dataset, c.f.registration, c.f.within}
		if prev, seen := byKey[k]; !seen || c.f.subjects > prev.Subjects {
			byKey[k] = policy.Export{Org: c.f.org, Dataset: c.f.dataset, Class: c.f.class, Subjects: c.f.subjects, Within: c.f.within, Registration: c.f.registration}
		}
		if c.f.group != "" {
			groups[k] = append(groups[k], strings.Split(c.f.group, ",")...)
		}
	}
	out := make([]policy.Export, 0, len(byKey))
	for k, e := range byKey {
		e.Group = strings.Join(groupOf(groups[k]), ",")
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return exportLess(out[i], out[j]) })
	return out, nil
}
