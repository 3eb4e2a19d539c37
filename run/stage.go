package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// Environment a job gets for each dataset staged to its site. NAME is the
// dataset name upper-cased with every character other than A-Z and 0-9
// turned into "_" (EnvName). Only paths and URLs go into the environment,
// never a key: backends record Spec.Env on disk.
const (
	// EnvDatasets lists the staged datasets' names, space-separated.
	EnvDatasets = "MERIDIAN_DATASETS"
	// EnvDataDir is an empty directory of the attempt's scratch for the
	// job's prologue to unseal into; the controller removes it when the
	// attempt ends.
	EnvDataDir = "MERIDIAN_DATA_DIR"
	// EnvKeyFilePrefix + NAME is the path of a 0600 file holding the
	// dataset key, which `meridian dataset unseal --key-file` deletes after
	// reading and the controller deletes when the attempt ends.
	EnvKeyFilePrefix = "MERIDIAN_DATASET_KEY_FILE_"
	// EnvStorePrefix + NAME is the URL of the site's store that holds the
	// dataset's ciphertext.
	EnvStorePrefix = "MERIDIAN_DATASET_STORE_"
)

// EnvName turns a dataset name into the suffix of its environment variables.
func EnvName(dataset string) string {
	b := []byte(strings.ToUpper(dataset))
	for i, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// SiteStore is the store a site receives data in: its spec.store, or, when it
// names none, a file:// store in the "store" directory of the site's root
// (SiteRoot).
func (c *Controller) SiteStore(site *catalog.Site) string {
	if site.Spec.Store != "" {
		return site.Spec.Store
	}
	return "file://" + filepath.Join(c.SiteRoot(site), "store")
}

// scratch is the directory of attempt n at workDir: keys/ holds the key
// files, data/ is where the job unseals. It exists only while the attempt
// may run.
func scratch(workDir string, n int) string {
	return filepath.Join(workDir, "attempts", strconv.Itoa(n))
}

// storedDatasets splits the job's datasets into those with a store (to be
// staged) and those declared only; an unknown name is an error.
func storedDatasets(w *catalog.World, job *catalog.TrainingJob) (stored, declared []string, err error) {
	for _, name := range job.Spec.Datasets {
		ds := w.Datasets[name]
		if ds == nil {
			return nil, nil, fmt.Errorf("job %s: dataset %q is not in the run's documents", job.Metadata.Name, name)
		}
		if ds.Spec.Store == "" {
			declared = append(declared, name)
		} else {
			stored = append(stored, name)
		}
	}
	return stored, declared, nil
}

// stagingAsOf is the date the law is asked about: the migration's re-plan
// date after a site loss, the run's planning date otherwise.
func stagingAsOf(r *Run) (catalog.Date, error) {
	s := r.AsOf
	if r.Migration != nil && r.Migration.AsOf != "" {
		s = r.Migration.AsOf
	}
	return catalog.ParseDate(s)
}

// stageData stages the job's datasets to the attempt's site through the
// transfer stager, then records that the attempt's data is in place. It is
// safe to repeat after a crash: the stager sends only the chunks the site
// lacks (none the second time) and the record is written once.
func (c *Controller) stageData(ctx context.Context, r *Run) (bool, error) {
	w, job, err := c.worldJob(r)
	if err != nil {
		return c.fail(ctx, r, err.Error())
	}
	site := w.Site(r.Site)
	if site == nil {
		return c.fail(ctx, r, fmt.Sprintf("site %q is no longer in the catalog", r.Site))
	}
	stored, declared, err := storedDatasets(w, job)
	if err != nil {
		return c.fail(ctx, r, err.Error())
	}
	var events []store.Event
	for _, name := range declared {
		events = append(events, store.Event{Kind: "staging", Reason: fmt.Sprintf("dataset %s declared only (no spec.store); nothing moved to %s", name, r.Site)})
	}
	var results []*transfer.Result
	if len(stored) > 0 {
		if c.cfg.Stager == nil {
			return c.fail(ctx, r, fmt.Sprintf("datasets %v must be staged to %s but this controller has no stager", stored, r.Site))
		}
		asOf, err := stagingAsOf(r)
		if err != nil {
			return c.fail(ctx, r, fmt.Sprintf("staging as-of date: %v", err))
		}
		dst := *site
		dst.Spec.Store = c.SiteStore(site)
		sj := *job
		sj.Spec.Datasets = stored
		// Runs staging to one store take turns, so that the second finds
		// the first's chunks there instead of sending them again.
		unlock := c.lockStore(dst.Spec.Store)
		results, err = c.stager().StageJob(ctx, &sj, w.Datasets, &dst, transferQuery(w, job, asOf), r.ID)
		unlock()
		var denied *transfer.DeniedError
		switch {
		case errors.As(err, &denied):
			return c.refuse(ctx, r, denied)
		case err != nil && ctx.Err() != nil:
			// Cut short (shutdown or the step's time limit): the next
			// step resumes where this one stopped.
			return false, err
		case err != nil:
			return c.fail(ctx, r, fmt.Sprintf("staging attempt %d to %s: %v", r.Attempt, r.Site, err))
		}
	}
	var sent int64
	for _, res := range results {
		sent += res.BytesSent
		events = append(events, store.Event{Kind: "staging", Reason: fmt.Sprintf("dataset %s staged to %s (%s → %s, basis %s): %d of %d chunks sent, %d bytes; %d already there",
			res.Dataset, res.Site, res.From, res.To, orNone(res.Basis), res.ChunksSent, res.Chunks, res.BytesSent, res.Skipped)})
	}
	_, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State != Staging || r.Staged == r.Attempt {
			return store.ErrNoChange
		}
		r.Staged = r.Attempt
		if n := len(r.Attempts); n > 0 && r.Attempts[n-1].N == r.Attempt {
			r.Attempts[n-1].StagedBytes += sent
		}
		ch.Events = append(ch.Events, events...)
		return nil
	})
	return err == nil, err
}

// lockStore serialises stagings into one store within this controller.
func (c *Controller) lockStore(url string) func() {
	c.mu.Lock()
	l := c.storeLocks[url]
	if l == nil {
		l = &sync.Mutex{}
		c.storeLocks[url] = l
	}
	c.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// stager is the configured stager with the audit log as its ledger unless
// it names another.
func (c *Controller) stager() *transfer.Stager {
	s := *c.cfg.Stager
	if s.Ledger == nil {
		s.Ledger = audit.NewLog(c.cfg.Store)
	}
	return &s
}

// transferQuery is what the law needs to judge the job's datasets moving.
func transferQuery(w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date) policy.Query {
	q := policy.Query{AsOf: asOf, Job: job, Countries: w.Countries, Organizations: w.Organizations, Sites: map[string]*catalog.Site{}}
	for _, s := range w.Sites {
		q.Sites[s.Metadata.Name] = s
	}
	q.Org = w.Organizations[job.Spec.Organization]
	for _, name := range job.Spec.Datasets {
		if ds := w.Datasets[name]; ds != nil {
			q.Datasets = append(q.Datasets, ds)
		}
	}
	return q
}

// refuse fails the run because the law refused a dataset for the attempt's
// site: the placement is not used, and every denying rule is recorded.
func (c *Controller) refuse(ctx context.Context, r *Run, d *transfer.DeniedError) (bool, error) {
	c.cleanAttempts(r, false)
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State != Staging {
			return store.ErrNoChange
		}
		rules := make([]map[string]string, 0, len(d.Denials))
		for _, f := range d.Denials {
			rules = append(rules, map[string]string{"rule": f.Rule, "reason": f.Message, "source": f.Source})
		}
		rec, err := audit.NewRecord(audit.KindDecision, r.ID, map[string]any{
			"decision": "refuse-transfer", "dataset": d.Dataset, "site": r.Site, "from": d.From, "to": d.To,
			"asOf": d.AsOf.String(), "attempt": r.Attempt, "denials": rules,
		})
		if err != nil {
			return err
		}
		ch.Audit = append(ch.Audit, rec)
		ch.Events = append(ch.Events, store.Event{Kind: "staging-refused", Reason: d.Error()})
		return transition(ch, r, Failed, fmt.Sprintf("attempt %d at %s not started: %s", r.Attempt, r.Site, firstLine(d.Error())+denialSummary(d)))
	})
	return err == nil, err
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func denialSummary(d *transfer.DeniedError) string {
	var b strings.Builder
	for _, f := range d.Denials {
		fmt.Fprintf(&b, "; rule %s: %s", f.Rule, f.Message)
	}
	return b.String()
}

// deliverKeys writes each staged dataset's key to a 0600 file in the
// attempt's scratch and puts the file's path, the site store's URL and the
// data directory into env. The key itself never goes into env.
func (c *Controller) deliverKeys(r *Run, w *catalog.World, job *catalog.TrainingJob, env map[string]string) error {
	stored, _, err := storedDatasets(w, job)
	if err != nil || len(stored) == 0 {
		return err
	}
	if c.cfg.Stager == nil || c.cfg.Stager.Keys == nil {
		return fmt.Errorf("datasets %v need keys at %s but this controller has no key source", stored, r.Site)
	}
	site := w.Site(r.Site)
	if site == nil {
		return fmt.Errorf("site %q is no longer in the catalog", r.Site)
	}
	dir := scratch(r.WorkDir, r.Attempt)
	keys := filepath.Join(dir, "keys")
	data := filepath.Join(dir, "data")
	for _, d := range []string{dir, keys, data} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return err
		}
	}
	sort.Strings(stored)
	for _, name := range stored {
		key, err := c.cfg.Stager.Keys.Get(name)
		if err != nil {
			return fmt.Errorf("dataset %s: %w", name, err)
		}
		path := filepath.Join(keys, name+".key")
		if err := atomicfile.WriteFile(path, []byte(key.String()+"\n"), 0o600); err != nil {
			return err
		}
		env[EnvKeyFilePrefix+EnvName(name)] = path
		env[EnvStorePrefix+EnvName(name)] = c.SiteStore(site)
	}
	env[EnvDatasets] = strings.Join(stored, " ")
	env[EnvDataDir] = data
	return nil
}

// cleanAttempts removes the scratch (key files and unsealed data) of every
// attempt of r that has ended; with keepCurrent, the current attempt's is
// kept. Removal is best effort: a lost site may not be reachable, and a
// later call tries again.
func (c *Controller) cleanAttempts(r *Run, keepCurrent bool) {
	for _, a := range r.Attempts {
		if keepCurrent && a.N == r.Attempt {
			continue
		}
		wd, err := c.workDir(r, a.Site)
		if err != nil {
			continue
		}
		if err := os.RemoveAll(scratch(wd, a.N)); err != nil {
			c.cfg.Logger.Warn("remove attempt scratch", "run", r.ID, "attempt", a.N, "err", err)
		}
	}
}
