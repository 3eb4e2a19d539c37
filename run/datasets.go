package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// A tenant's datasets through the server: what is registered, staging to a
// site (law-gated, ledgered in the audit log, as the controller stages for
// runs), the ledger of what crossed which border, and verifying a staged
// copy. The server holds the tenant's keys (PutKey); the tenant's machine
// needs none of the server's state.

// DatasetInfo is a registered dataset as the API lists it.
type DatasetInfo struct {
	Name    string              `json:"name"`
	Version int64               `json:"version"`
	SHA256  string              `json:"sha256"`
	Spec    catalog.DatasetSpec `json:"spec"`
	// KeyHeld says whether the server holds the dataset's key (PutKey):
	// without it nothing can be staged or verified.
	KeyHeld   bool   `json:"keyHeld"`
	UpdatedAt string `json:"updatedAt,omitempty"`
	// ChangedOutsideMeridian, when set, says why the dataset's row is not
	// what Meridian registered (resourceWitness), or that it is gone:
	// staging and runs over it are refused until it is registered again.
	ChangedOutsideMeridian string `json:"changedOutsideMeridian,omitempty"`
}

// Datasets lists the tenant's registered datasets as the registry read
// confirms them (the registry cache: no list or hash while no register
// record of the tenant came); when that read refuses one of the tenant's
// resources, each dataset is listed confirmed or marked changed outside
// Meridian, as Resources lists them.
func (c *Controller) Datasets(ctx context.Context, tenant string) ([]DatasetInfo, error) {
	keys := c.keyrings()
	info := func(r *store.Resource, spec catalog.DatasetSpec, changed string) DatasetInfo {
		_, kerr := keys.Get(tenant, r.Name)
		d := DatasetInfo{Name: r.Name, Version: r.Version, SHA256: r.Hash, Spec: spec, KeyHeld: kerr == nil, ChangedOutsideMeridian: changed}
		if !r.UpdatedAt.IsZero() {
			d.UpdatedAt = r.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z")
		}
		return d
	}
	reg, err := c.registry(ctx, tenant)
	var changed *changedError
	switch {
	case err == nil:
		names := sortedKeys(reg.datasets)
		out := make([]DatasetInfo, 0, len(names))
		for _, n := range names {
			r := reg.rows[catalog.KindDataset+"/"+n]
			if r == nil {
				return nil, fmt.Errorf("registered dataset %s: no row in the registry read", n)
			}
			out = append(out, info(r, reg.datasets[n].Spec, ""))
		}
		return out, nil
	case !errors.As(err, &changed):
		return nil, err
	}
	rows, err := c.markedRows(ctx, tenant, catalog.KindDataset)
	if err != nil {
		return nil, err
	}
	out := make([]DatasetInfo, 0, len(rows))
	for _, r := range rows {
		var d catalog.Dataset
		if r.Doc != nil {
			if err := json.Unmarshal(r.Doc, &d); err != nil {
				if r.changed == "" {
					return nil, fmt.Errorf("registered dataset %s: %w", r.Name, err)
				}
				d = catalog.Dataset{}
			}
		}
		out = append(out, info(r.Resource, d.Spec, r.changed))
	}
	return out, nil
}

// StageRequest asks the server to stage a dataset to a site.
type StageRequest struct {
	Site string `json:"site"`
	// Organization names the tenant's registered organisation that moves the
	// data, for rules that depend on it.
	Organization string `json:"organization,omitempty"`
	// DryRun asks the law only, as of AsOf, or without it as the staging
	// would now (StagingDecision: every date it is somewhere on Earth),
	// and moves nothing. A real staging happens today; AsOf is refused
	// with it.
	DryRun bool   `json:"dryRun,omitempty"`
	AsOf   string `json:"asOf,omitempty"`
}

// StageResult is what a staging did, or, for a dry run, what the law says.
type StageResult struct {
	Dataset string          `json:"dataset"`
	Site    string          `json:"site"`
	AsOf    string          `json:"asOf"`
	Allowed bool            `json:"allowed"`
	DryRun  bool            `json:"dryRun,omitempty"`
	Entry   *transfer.Entry `json:"entry,omitempty"`
	// Skipped, Damaged and Reconciled count chunks already at the site,
	// found damaged there and sent again, and confirmed after an
	// interrupted staging.
	Skipped    int             `json:"skipped"`
	Damaged    int             `json:"damaged"`
	Reconciled int             `json:"reconciled"`
	Decision   policy.Decision `json:"decision"`
}

// ErrDenied wraps a staging the law refused; the result says why.
var ErrDenied = errors.New("the law does not allow this transfer")

// DeniedError is a staging the law refused, with the decision.
type DeniedError struct{ Result *StageResult }

func (e *DeniedError) Error() string {
	msg := fmt.Sprintf("dataset %s may not go to %s as of %s", e.Result.Dataset, e.Result.Site, e.Result.AsOf)
	for _, f := range e.Result.Decision.Denials {
		msg += fmt.Sprintf("; rule %s: %s", f.Rule, f.Message)
	}
	return msg
}

func (e *DeniedError) Unwrap() error { return ErrDenied }

// datasetWorld is the tenant's registered world and one of its datasets
// and a catalog site.
func (c *Controller) datasetWorld(ctx context.Context, tenant, name, siteName string) (*catalog.World, *catalog.Dataset, *catalog.Site, error) {
	w, _, err := c.requestWorld(ctx, tenant, &request{})
	if err != nil {
		return nil, nil, nil, err
	}
	ds := w.Datasets[name]
	if ds == nil {
		return nil, nil, nil, fmt.Errorf("dataset %q is not registered to this tenant: %w", name, store.ErrNotFound)
	}
	if siteName == "" {
		return nil, nil, nil, &InputError{"site", errors.New("required: a site name")}
	}
	site := w.Site(siteName)
	if site == nil {
		return nil, nil, nil, &InputError{"site", fmt.Errorf("%q: no such site (%d sites in the catalog)", siteName, len(w.Sites))}
	}
	return w, ds, site, nil
}

// StageDataset stages a tenant's registered dataset to a site, or, with
// DryRun, asks the law about it. A refusal is a *DeniedError.
func (c *Controller) StageDataset(ctx context.Context, tenant, name string, req StageRequest) (*StageResult, error) {
	if c.cfg.Stager == nil {
		return nil, errors.New("this server has no stager")
	}
	if req.AsOf != "" && !req.DryRun {
		return nil, &InputError{"asOf", errors.New("a transfer happens today; ask the law about another date with dryRun")}
	}
	w, ds, site, err := c.datasetWorld(ctx, tenant, name, req.Site)
	if err != nil {
		return nil, err
	}
	var org *catalog.Organization
	if req.Organization != "" {
		if org = w.Organizations[req.Organization]; org == nil {
			return nil, &InputError{"organization", fmt.Errorf("%q is not registered to this tenant", req.Organization)}
		}
	}
	// now is the instant a dry run for today is judged at, as a staging
	// is; zero for one asked about another date (AsOf).
	now := c.cfg.Now()
	asOf := transfer.Today(now)
	if req.AsOf != "" {
		if asOf, err = catalog.ParseDate(req.AsOf); err != nil {
			return nil, &InputError{"asOf", err}
		}
		now = time.Time{}
	}
	q := transfer.Query(w, asOf, org, ds)
	if q.Registrations, err = c.datasetRegistrations(ctx, tenant, true, ds); err != nil {
		return nil, err
	}
	// Volume thresholds count what the organisation exported before: the
	// ledger. Without it, each staging was judged alone, so datasets of
	// 999,999 people each went out of China one after another, none
	// reaching the 1,000,000 that calls for an assessment.
	probe := c.exportsProbe()
	q.Exports = probe.exports()
	// The staging's own checks, before a dry run too: else it answers
	// "would be allowed" of a staging refused here.
	if ds.Spec.Store == "" {
		return nil, &InputError{"dataset", fmt.Errorf("dataset %s has no spec.store: nothing to stage", name)}
	}
	if err := c.checkDatasetStore(ds); err != nil {
		return nil, err
	}
	out := &StageResult{Dataset: name, Site: site.Metadata.Name, AsOf: asOf.String(), DryRun: req.DryRun}
	if req.DryRun {
		// Judged as the staging would be: the dataset placed by its
		// store, toward the site's store as the staging writes it.
		dst := *site
		dst.Spec.Store = c.SiteStore(site)
		dec, day, err := StagingDecision(c.cfg.Stager.Law, q, ds, &dst, now)
		if err != nil {
			return nil, &InputError{"dataset", err}
		}
		if err := probe.failed(); err != nil {
			return nil, fmt.Errorf("transfer ledger: %w", err)
		}
		out.Decision, out.AsOf = dec, day.String()
		out.Allowed = out.Decision.Allowed
		return out, nil
	}
	dst := *site
	dst.Spec.Store = c.SiteStore(site)
	sctx, unlock, err := c.lockStaging(ctx, dst.Spec.Store+"|"+tenant)
	if err != nil {
		return nil, err
	}
	defer unlock()
	res, err := c.cfg.Stager.Stage(sctx, transfer.Request{Dataset: ds, Site: &dst, Tenant: tenant, SitePrefix: dataPrefix(tenant), Query: q})
	if perr := probe.failed(); perr != nil {
		// The volumes could not be read: the move was not judged, and a
		// denial it caused is none.
		return nil, fmt.Errorf("transfer ledger: %w", perr)
	}
	var denied *transfer.DeniedError
	if errors.As(err, &denied) {
		out.Decision = policy.Decision{Allowed: false, Denials: denied.Denials}
		return nil, &DeniedError{Result: out}
	}
	if errors.Is(err, dataset.ErrNoKey) {
		return nil, &InputError{"dataset", fmt.Errorf("the server holds no key for dataset %s: send it with `meridian dataset send-key %s`", name, name)}
	}
	if err != nil {
		return nil, keyRefused(err)
	}
	c.cfg.Observer.Staged(res.From, res.To, res.BytesSent)
	entry := res.Entry
	out.Entry, out.Allowed, out.Decision = &entry, true, res.Decision
	out.Skipped, out.Damaged, out.Reconciled = res.Skipped, res.Damaged, res.Reconciled
	return out, nil
}

// StagingDecision asks law whether ds may be staged to site, as a staging
// (transfer.Stager.Stage) asks it, for a dry run to answer what the
// staging would: the dataset placed where its store puts it among q's
// sites and site (catalog.Located; a location its store contradicts is an
// error), and, with now set, on each day the instant now falls on
// somewhere on Earth (transfer.Days), not on the UTC day alone. It returns
// the first refusing day's decision (its denials noting that day), else
// the decision of now's UTC day, and the day it is of. With now zero (a
// dry run asked about another date), q.AsOf alone is judged. The judging
// is the staging's own (transfer.Judged), the law pinned to one revision
// for every day as the staging pins it, not a copy of it.
func StagingDecision(law transfer.Law, q policy.Query, ds *catalog.Dataset, site *catalog.Site, now time.Time) (policy.Decision, catalog.Date, error) {
	q, dec, err := transfer.Judged(law, q, ds, site, now)
	var denied *transfer.DeniedError
	if errors.As(err, &denied) {
		// A decision that both allows and denies is a refusal, as for a
		// staging; its denials note the day that refused.
		dec.Allowed, dec.Denials = false, denied.Denials
		return dec, denied.AsOf, nil
	}
	if err != nil {
		return policy.Decision{}, q.AsOf, err
	}
	return dec, q.AsOf, nil
}

// LedgerRow is one transfer record of the ledger.
type LedgerRow struct {
	Seq  int64  `json:"seq"`
	Time string `json:"time"`
	transfer.Entry
}

// Ledger is a page of a tenant's transfer ledger: its records after the
// page's after, and the confirmed totals per dataset and site of the whole
// ledger. Next, when set, is the after of the next page.
type Ledger struct {
	Entries []LedgerRow        `json:"entries"`
	Totals  []transfer.Summary `json:"totals"`
	Next    int64              `json:"next,omitempty"`
}

// LedgerPage says which of the ledger's records a DatasetLedger answers:
// those after seq After, at most Limit of them (at least 1), and no more
// once their payloads reach MaxBytes (when above 0).
type LedgerPage struct {
	After    int64
	Limit    int
	MaxBytes int64
}

// DatasetLedger returns a page of the tenant's ledger, of one dataset when
// name is set, and its totals. It reads; it reconciles nothing. A page
// holds the tenant's records within its bounds, then those of the dataset
// named: one of another dataset's records can be a page with fewer
// entries, or none, and a Next.
func (c *Controller) DatasetLedger(ctx context.Context, tenant, name string, page LedgerPage) (*Ledger, error) {
	if c.cfg.Stager == nil || c.cfg.Stager.Ledger == nil {
		return nil, errors.New("this server keeps no ledger")
	}
	if page.Limit < 1 || page.After < 0 {
		return nil, fmt.Errorf("transfer ledger: after %d, limit %d: want an after of 0 or more and a limit of 1 or more", page.After, page.Limit)
	}
	q := store.AuditQuery{Kinds: []string{transfer.KindTransfer}, Tenant: tenant, After: page.After, Limit: page.Limit, MaxBytes: page.MaxBytes}
	if tenant == dataset.DefaultTenant {
		// Records written before records named their tenant are the
		// default tenant's, as its totals below (the ledger's Records)
		// count them: listed without them, the totals counted bytes that
		// no listed record confirmed.
		q.Untenanted = store.AllUntenanted
	}
	es, err := c.cfg.Store.AuditSelect(ctx, q)
	if err != nil {
		return nil, err
	}
	out := &Ledger{Entries: []LedgerRow{}, Totals: []transfer.Summary{}, Next: q.Next(es)}
	for _, e := range es {
		var ent transfer.Entry
		if err := json.Unmarshal(e.Payload, &ent); err != nil {
			return nil, fmt.Errorf("audit entry %d: transfer payload: %w", e.Seq, err)
		}
		if name != "" && ent.Dataset != name {
			continue
		}
		out.Entries = append(out.Entries, LedgerRow{Seq: e.Seq, Time: e.Time, Entry: ent})
	}
	sums, err := transfer.Summarize(ctx, c.cfg.Stager.Ledger, tenant)
	if err != nil {
		return nil, err
	}
	for _, s := range sums { // by dataset, site and kind
		if name == "" || s.Dataset == name {
			out.Totals = append(out.Totals, s)
		}
	}
	return out, nil
}

// VerifyDataset re-reads and authenticates every chunk of the tenant's
// dataset staged at a site, with the key the server holds.
func (c *Controller) VerifyDataset(ctx context.Context, tenant, name, siteName string) (*dataset.VerifyReport, error) {
	_, _, site, err := c.datasetWorld(ctx, tenant, name, siteName)
	if err != nil {
		return nil, err
	}
	key, err := c.keyrings().Get(tenant, name)
	if errors.Is(err, dataset.ErrNoKey) {
		return nil, &InputError{"dataset", fmt.Errorf("the server holds no key for dataset %s", name)}
	}
	if err != nil {
		return nil, keyRefused(err)
	}
	sealer, err := seal.New(key, name)
	if err != nil {
		return nil, err
	}
	b, err := dataset.OpenStore(ctx, c.SiteStore(site))
	if err != nil {
		return nil, fmt.Errorf("store of %s: %w", site.Metadata.Name, err)
	}
	sub := b.Sub(dataPrefix(tenant))
	defer sub.Close()
	// The site must hold the version the ledger says the last staging
	// put there: a host that put back an older genuine manifest (and its
	// chunks) would otherwise pass.
	pin := ""
	sums, err := transfer.Summarize(ctx, c.copyLedger().Ledger, tenant)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: the ledger: %w", name, err)
	}
	for _, s := range sums {
		if s.Kind == transfer.KindDataset && s.Dataset == name && s.Site == site.Metadata.Name {
			pin = s.ManifestSHA256
		}
	}
	rep, err := dataset.Verify(ctx, sub, sealer, name, pin, 4)
	if err != nil {
		return nil, fmt.Errorf("dataset %s at %s: %w", name, site.Metadata.Name, err)
	}
	return rep, nil
}

// datasetRegistrations names, for policy.Query.Registrations, the sealed
// register record of each of tenant's datasets ds as the registry read
// confirms them (policy.SealedRegistration): the ledger records a
// staging by it, and the volume thresholds count each registration's
// people, so that contents swapped under one name with the same head
// count, size and store count again. Without a witness (no audit key)
// there is none, and datasets are their digest. With strict, a dataset
// whose record cannot be named (registered again since it was read) is
// refused: the move would be recorded as a registration it may not be.
// Without (a run's staging, whose documents may be older than the
// registry), it is left to its digest, which counts as any one of the
// sealed registrations of that digest (never fewer people than the digest
// alone counted).
func (c *Controller) datasetRegistrations(ctx context.Context, tenant string, strict bool, ds ...*catalog.Dataset) (map[string]string, error) {
	if _, ok := c.resWitness.generation(tenant); !ok || len(ds) == 0 {
		return nil, nil
	}
	reg, err := c.registry(ctx, tenant)
	if err != nil {
		if !strict {
			return nil, nil
		}
		return nil, err
	}
	return c.registrationsIn(reg, tenant, strict, ds...)
}

// registrationsIn is datasetRegistrations from the registry reg, read
// already (a run's staging reads it once, for the head counts and the
// records alike, so that an update between two reads cannot part them).
func (c *Controller) registrationsIn(reg *registry, tenant string, strict bool, ds ...*catalog.Dataset) (map[string]string, error) {
	if _, ok := c.resWitness.generation(tenant); !ok || len(ds) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(ds))
	for _, d := range ds {
		if d == nil {
			continue
		}
		name := d.Metadata.Name
		r, read := reg.rows[catalog.KindDataset+"/"+name], reg.datasets[name]
		seq, ok := int64(0), false
		if r != nil && read != nil && policy.DatasetRegistration(read) == policy.DatasetRegistration(d) {
			seq, ok = c.resWitness.sealedSeq(tenant, catalog.KindDataset, name, r.Hash)
		}
		if !ok && !strict {
			continue
		}
		if !ok {
			return nil, fmt.Errorf("dataset %s: no sealed register record names it as read (registered again meanwhile?); try again: %w", name, ErrConflict)
		}
		out[name] = policy.SealedRegistration(d, seq)
	}
	return out, nil
}

// checkDatasetStore refuses a dataset whose spec.store is not among the
// home stores this server reads (Config.DatasetStores): the server opens
// that store with its own access, so a tenant must not choose where. A
// file store that is not an absolute directory is refused first: the
// place it opens, and its store key, would follow the server's working
// directory.
func (c *Controller) checkDatasetStore(d *catalog.Dataset) error {
	if dataset.NotAbsoluteFile(d.Spec.Store) {
		return &InputError{"spec.store", fmt.Errorf("dataset %s: %q is not an absolute directory: a server finds a relative one from the directory it was started in, not the one it was written in, and reads no host before the path; name the directory as file:///path", d.Metadata.Name, d.Spec.Store)}
	}
	if d.Spec.Store == "" || dataset.Within(d.Spec.Store, c.cfg.DatasetStores) {
		return nil
	}
	return &InputError{"spec.store", fmt.Errorf("dataset %s: %q is not among the home stores this server reads datasets from; put the dataset in one of them, or ask the operator to add its store (serve --dataset-stores)", d.Metadata.Name, d.Spec.Store)}
}

// keyRefused is err, a conflict naming the dataset when it is the refusal
// of a key the server's keyring holds but the audit log does not record
// (dataset.ErrKeyUnrecorded: written into the keyring outside Meridian, or
// stored before keys were recorded): the tenant's to resolve by sending the
// key again, not a fault of the server's.
func keyRefused(err error) error {
	if errors.Is(err, dataset.ErrKeyUnrecorded) {
		return &InputError{"dataset", &unrecordedKeyError{err}}
	}
	return err
}

type unrecordedKeyError struct{ err error }

func (e *unrecordedKeyError) Error() string        { return e.err.Error() }
func (e *unrecordedKeyError) Unwrap() error        { return e.err }
func (e *unrecordedKeyError) Is(target error) bool { return target == ErrConflict }
