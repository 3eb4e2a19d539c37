package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/seal"
)

// KeySource returns a dataset's key; dataset.Keyring is one.
type KeySource interface {
	Get(name string) (seal.Key, error)
}

// Progress is told how many sealed bytes a staging will send and as they go.
// Implementations must be safe for concurrent Add calls.
type Progress interface {
	Start(label string, total int64)
	Add(n int64)
	Done()
}

// Stager moves sealed datasets to sites. The zero value is not usable: Law,
// Ledger and Keys are required.
type Stager struct {
	Law    Law
	Ledger Ledger
	Keys   KeySource
	// Open opens a store URL; dataset.OpenStore when nil.
	Open func(ctx context.Context, url string) (*dataset.Store, error)
	// Workers is how many chunks are copied at once; 4 when zero.
	Workers  int
	Progress Progress // optional
	// VerifyArrival reads each chunk back from the site after writing it and
	// checks it is byte-for-byte what was authenticated before sending.
	VerifyArrival bool
}

// Request is one dataset to one site.
type Request struct {
	Dataset *catalog.Dataset
	Site    *catalog.Site
	// Query carries the as-of date and whatever else the law needs; its
	// AsOf must be set.
	Query policy.Query
	RunID string
}

// Result is what a staging did; Entry is what went into the ledger.
type Result struct {
	Entry
	Skipped  int // chunks already at the site
	Decision policy.Decision
}

// Stage asks the law, then copies the dataset's missing chunks and its
// manifest to the site's store and appends a ledger entry. A denial returns
// *DeniedError and touches no store. Each chunk is authenticated with the
// dataset key before it is written, and written atomically; the manifest goes
// last, so a site never holds a manifest whose chunks are not all there.
// Stage is idempotent: running it again on a staged dataset sends nothing.
func (s *Stager) Stage(ctx context.Context, req Request) (*Result, error) {
	ds, site := req.Dataset, req.Site
	if ds == nil || site == nil {
		return nil, errors.New("stage: dataset and site are required")
	}
	name := ds.Metadata.Name
	if req.Query.AsOf.IsZero() {
		return nil, fmt.Errorf("stage %s: as-of date not set", name)
	}
	if ds.Spec.Store == "" {
		return nil, fmt.Errorf("stage %s: dataset has no spec.store (add it with `meridian dataset add`)", name)
	}
	if site.Spec.Store == "" {
		return nil, fmt.Errorf("stage %s: site %s has no spec.store to receive data", name, site.Metadata.Name)
	}
	if s.Law == nil || s.Ledger == nil || s.Keys == nil {
		return nil, errors.New("stage: Stager needs Law, Ledger and Keys")
	}
	q := req.Query
	if len(q.Datasets) == 0 {
		q.Datasets = []*catalog.Dataset{ds}
	}
	dec := s.Law.EvaluateTransfer(q, ds, site.Spec.Country)
	if !dec.Allowed {
		return nil, &DeniedError{Dataset: name, From: ds.Spec.Origin, To: site.Spec.Country, AsOf: q.AsOf, Denials: dec.Denials}
	}
	key, err := s.Keys.Get(name)
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", name, err)
	}
	sealer, err := seal.New(key, name)
	if err != nil {
		return nil, err
	}
	open := s.Open
	if open == nil {
		open = dataset.OpenStore
	}
	src, err := open(ctx, ds.Spec.Store)
	if err != nil {
		return nil, fmt.Errorf("stage %s: home store: %w", name, err)
	}
	defer src.Close()
	dst, err := open(ctx, site.Spec.Store)
	if err != nil {
		return nil, fmt.Errorf("stage %s: site %s store: %w", name, site.Metadata.Name, err)
	}
	defer dst.Close()

	rawManifest, err := dataset.ReadObject(ctx, src, dataset.ManifestKey(name), dataset.MaxManifestBytes)
	if err != nil {
		return nil, fmt.Errorf("stage %s: read manifest from home store: %w", name, err)
	}
	m, err := dataset.ParseManifest(rawManifest, sealer)
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", name, err)
	}
	if m.Dataset != name {
		return nil, fmt.Errorf("stage %s: manifest names dataset %q", name, m.Dataset)
	}
	// Temporary files of a staging killed more than an hour ago are garbage.
	if _, err := dataset.RemoveStaleTemps(ctx, dst, name, time.Hour); err != nil {
		return nil, fmt.Errorf("stage %s: site %s: %w", name, site.Metadata.Name, err)
	}
	have, err := dataset.ListChunks(ctx, dst, name)
	if err != nil {
		return nil, fmt.Errorf("stage %s: site %s: %w", name, site.Metadata.Name, err)
	}
	chunks := m.UniqueChunks()
	var missing []dataset.ChunkRef
	var total int64
	for _, c := range chunks {
		if size, ok := have[c.ID]; ok && size == int64(seal.SealedSize(int(c.Size))) {
			continue
		}
		missing = append(missing, c)
		total += int64(seal.SealedSize(int(c.Size)))
	}
	if s.Progress != nil {
		s.Progress.Start(fmt.Sprintf("%s → %s", name, site.Metadata.Name), total)
		defer s.Progress.Done()
	}
	sentBytes, err := s.copyChunks(ctx, src, dst, sealer, name, missing)
	if err != nil {
		return nil, fmt.Errorf("stage %s to %s: %w", name, site.Metadata.Name, err)
	}
	if err := dst.Flush(); err != nil {
		return nil, fmt.Errorf("stage %s to %s: %w", name, site.Metadata.Name, err)
	}
	if err := dataset.Put(ctx, dst, dataset.ManifestKey(name), rawManifest); err != nil {
		return nil, fmt.Errorf("stage %s to %s: %w", name, site.Metadata.Name, err)
	}
	if err := dst.Flush(); err != nil {
		return nil, fmt.Errorf("stage %s to %s: %w", name, site.Metadata.Name, err)
	}
	res := &Result{
		Entry: Entry{
			Dataset: name, Site: site.Metadata.Name, From: fromCountry(dec, ds), To: site.Spec.Country,
			Basis: basisFor(dec, name), Rules: ruleIDs(dec), Evaluated: evaluatedRules(s.Law, q.AsOf), AsOf: q.AsOf.String(), RunID: req.RunID,
			Chunks: len(chunks), ChunksSent: len(missing), Bytes: m.TotalBytes(), BytesSent: sentBytes,
			Organization: orgName(q.Org), Origin: ds.Spec.Origin, Classification: ds.Spec.Classification, Subjects: ds.Spec.Subjects,
		},
		Skipped:  len(chunks) - len(missing),
		Decision: dec,
	}
	if err := s.Ledger.Append(ctx, KindTransfer, req.RunID, res.Entry); err != nil {
		return nil, fmt.Errorf("stage %s: data is at %s but the ledger entry failed: %w", name, site.Metadata.Name, err)
	}
	return res, nil
}

// copyChunks copies chunks from src to dst with bounded concurrency,
// authenticating each before writing it. It stops at the first error.
func (s *Stager) copyChunks(ctx context.Context, src, dst *dataset.Store, sealer *seal.Sealer, name string, chunks []dataset.ChunkRef) (int64, error) {
	workers := s.Workers
	if workers <= 0 {
		workers = 4
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var sent atomic.Int64
	work := make(chan dataset.ChunkRef)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var plain []byte
			for c := range work {
				key := dataset.ChunkKey(name, c.ID)
				sealed, err := dataset.ReadObject(ctx, src, key, int64(seal.SealedSize(int(c.Size))))
				if err != nil {
					cancel(fmt.Errorf("home store: chunk %s: %w", c.ID, err))
					continue
				}
				if len(sealed) != seal.SealedSize(int(c.Size)) {
					cancel(fmt.Errorf("chunk %s at home store: %d bytes, want %d: %w", c.ID, len(sealed), seal.SealedSize(int(c.Size)), seal.ErrAuth))
					continue
				}
				if plain, err = sealer.Open(plain[:0], c.ID, sealed); err != nil {
					cancel(fmt.Errorf("home store: %w", err))
					continue
				}
				if err := dataset.Put(ctx, dst, key, sealed); err != nil {
					cancel(err)
					continue
				}
				if s.VerifyArrival {
					back, err := dataset.ReadObject(ctx, dst, key, int64(len(sealed)))
					if err != nil {
						cancel(fmt.Errorf("site: read back chunk %s: %w", c.ID, err))
						continue
					}
					if !bytes.Equal(back, sealed) {
						cancel(fmt.Errorf("site: chunk %s reads back different from what was sent: %w", c.ID, seal.ErrAuth))
						continue
					}
				}
				sent.Add(int64(len(sealed)))
				if s.Progress != nil {
					s.Progress.Add(int64(len(sealed)))
				}
			}
		}()
	}
feed:
	for _, c := range chunks {
		select {
		case work <- c:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return sent.Load(), err
	}
	return sent.Load(), nil
}

// fromCountry is where the law says the data leaves from (its current
// location), or its origin when the decision does not say.
func fromCountry(dec policy.Decision, ds *catalog.Dataset) string {
	for _, t := range dec.Transfers {
		if t.Dataset == ds.Metadata.Name && t.From != "" {
			return t.From
		}
	}
	return ds.Spec.Origin
}

func basisFor(dec policy.Decision, name string) string {
	for _, t := range dec.Transfers {
		if t.Dataset == name && t.Basis != "" {
			return t.Basis
		}
	}
	return ""
}

func ruleIDs(dec policy.Decision) []string {
	seen := map[string]bool{}
	ids := []string{}
	for _, l := range [][]policy.Finding{dec.Denials, dec.Obligations, dec.Advisories} {
		for _, f := range l {
			if !seen[f.Rule] {
				seen[f.Rule] = true
				ids = append(ids, f.Rule)
			}
		}
	}
	sort.Strings(ids)
	return ids
}

// StageJob stages every dataset a job names to the site it will run at,
// in the job's order, stopping at the first refusal or failure. The run
// controller calls it before submitting the job. datasets maps names to
// resources (catalog.World.Datasets).
func (s *Stager) StageJob(ctx context.Context, job *catalog.TrainingJob, datasets map[string]*catalog.Dataset, site *catalog.Site, q policy.Query, runID string) ([]*Result, error) {
	var out []*Result
	for _, name := range job.Spec.Datasets {
		ds, ok := datasets[name]
		if !ok {
			return out, fmt.Errorf("job %s: dataset %q is not known", job.Metadata.Name, name)
		}
		r, err := s.Stage(ctx, Request{Dataset: ds, Site: site, Query: q, RunID: runID})
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}
