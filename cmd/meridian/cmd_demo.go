package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/examples/demo"
	"meridian.dev/meridian/examples/trainer/charlm"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/transfer"
)

func init() { register(newDemoCmd) }

func newDemoCmd() *cobra.Command {
	var keep bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a job end to end on example local sites, losing a site and changing the rules on the way",
		Long: `Demo starts an embedded server on a temporary state directory with three
example sites that run jobs as local processes, adds the example trainer's
corpus as an encrypted dataset, plans a small training job and runs it: the
dataset is staged to the site (law-checked, recorded in the transfer
ledger), the job's prologue unseals it with a key file the controller
delivered, and the trainer checkpoints as it goes. Then the site is lost:
the run is re-planned without it, the dataset is staged to the new site, the
latest checkpoint is moved there and the run resumes. Then the rules change
under it: the demo asks the server what a new rule pack would do (what-if),
applies it (a policy of the demo lab that stops training where the run now
is), and the server drains the run (the trainer checkpoints on SIGTERM),
re-plans as of today and resumes it at a lawful site, where it finishes;
the audit log names the revision. It ends by printing the transfer ledger, checking that no key file or plaintext is
left at the sites, and verifying the audit log. Exit 0 when the run
succeeded and all checks pass.`,
		Example: "  meridian demo\n  meridian demo --keep   # keep the state directory to look around",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return runDemo(ctx, cmd.OutOrStdout(), keep)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary state directory")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	return cmd
}

func runDemo(ctx context.Context, w io.Writer, keep bool) error {
	start := time.Now()
	say := func(format string, a ...any) {
		fmt.Fprintf(w, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	dir, err := os.MkdirTemp("", "meridian-demo-")
	if err != nil {
		return err
	}
	// Workloads run as their tenant's own user when the demo runs as root:
	// they must be able to pass through to their scratch directories.
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	if keep {
		defer fmt.Fprintf(w, "state kept in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	catDir := filepath.Join(dir, "catalog")
	if err := os.MkdirAll(catDir, 0o755); err != nil {
		return err
	}
	sites, _ := fs.ReadFile(demo.FS, "sites/sites.yaml")
	if err := os.WriteFile(filepath.Join(catDir, "sites.yaml"), sites, 0o644); err != nil {
		return err
	}
	// The example trainer is built into this binary (meridian trainer). Its
	// text shards are added as an encrypted dataset to the home store of the
	// state directory, as `meridian dataset add` would with MERIDIAN_HOME
	// there; the run stages them to each site it uses, and the job's
	// prologue unseals them into the attempt's scratch.
	stateDir := filepath.Join(dir, "state")
	dataDir := filepath.Join(dir, "corpus")
	if err := charlm.WriteCorpus(dataDir); err != nil {
		return err
	}
	// Checked as serve checks it, before the dataset is added there: the
	// temporary directory (TMPDIR) must be one that only its owner may
	// change, or sticky as /tmp is.
	if err := checkStateDir(stateDir); err != nil {
		return err
	}
	homeStore := statedir.Dir{Path: stateDir}.HomeStore()
	added, err := demoAddDataset(ctx, stateDir, homeStore, dataDir)
	if err != nil {
		return err
	}
	say("dataset add %s --from %s: %d files, %d bytes in %d chunks, sealed into %s", demoDataset, dataDir, added.Files, added.Bytes, added.Chunks, homeStore)
	job, _ := fs.ReadFile(demo.FS, "job.yaml")
	jobText := demoJobText(string(job), homeStore)

	s, err := startServer(serverOptions{StateDir: stateDir, Listen: "127.0.0.1:0", CatalogDir: catDir,
		Poll: 100 * time.Millisecond, SiteTimeout: 5 * time.Second, Log: w})
	if err != nil {
		return err
	}
	defer s.Close()
	say("server up at %s, state in %s", s.URL, dir)
	c := api.NewClient(s.URL, s.Token)

	r, err := c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobText}}})
	if err != nil {
		return err
	}
	if plan := planOf(ctx, c, r.ID); plan != nil {
		say("plan for %s as of %s: %d placements", plan.Job, plan.AsOf, len(plan.Placements))
		for _, p := range plan.Placements {
			say("  %d. %-14s %s  %d × %s  $%.2f, %.2f h", p.Rank, p.Site, p.Country, p.Count, p.Accelerator, p.CostUSD, p.Hours)
		}
	}
	say("run %s placed at %s (%s)", r.ID, r.Site, r.Placement.Country)

	lostSite, ruleApplied := "", false
	var lastStep int64 = -1
	lastState := run.State("")
	for {
		r, err = c.Get(ctx, r.ID)
		if err != nil {
			return err
		}
		if r.State != lastState {
			say("state %-12s site %s, attempt %d  %s", r.State, r.Site, r.Attempt, r.Reason)
			lastState = r.State
		}
		if r.Progress != nil && r.Progress.Step/50 != lastStep/50 {
			ck := int64(0)
			if r.Checkpoint != nil {
				ck = r.Checkpoint.Step
			}
			say("  step %4d  loss %.4f  %6.0f tokens/s  checkpoint %d", r.Progress.Step, r.Progress.Loss, r.Progress.TokensPerS, ck)
			lastStep = r.Progress.Step
		}
		if lostSite == "" && r.Checkpoint != nil && r.Checkpoint.Step >= 75 {
			lostSite = r.Site
			say("simulating the loss of site %s (checkpoint at step %d)", lostSite, r.Checkpoint.Step)
			if err := failSite(ctx, catalog.BackendSpec{Type: catalog.BackendLocal}, filepath.Join(dir, "state", "sites", lostSite)); err != nil {
				return err
			}
		}
		if !ruleApplied && lostSite != "" && r.Attempt >= 2 && r.State == run.Checkpointed && r.Checkpoint != nil && r.Checkpoint.Step >= 150 {
			if err := demoRuleChange(ctx, c, say, r); err != nil {
				return err
			}
			ruleApplied = true
		}
		if r.State.Final() {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo timed out with the run %s", r.State)
		case <-time.After(100 * time.Millisecond):
		}
	}
	evs, err := c.Events(ctx, r.ID)
	if err != nil {
		return err
	}
	fmt.Fprintln(w)
	describeTable(w, r, evs)
	fmt.Fprintln(w)
	entries, err := c.Audit(ctx, r.ID)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "transfer ledger (one line per staging or checkpoint move, each made of confirmed batches):")
	for _, e := range entries {
		if e.Kind != transfer.KindTransfer {
			continue
		}
		var t transfer.Entry
		if err := json.Unmarshal(e.Payload, &t); err != nil {
			return err
		}
		if !t.Complete || t.Totals == nil {
			continue
		}
		from := "home store"
		if t.FromSite != "" {
			from = t.FromSite
		}
		fmt.Fprintln(w, ledgerLine(e.Seq, from, t))
	}
	all, err := c.AuditAll(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "the rule change in the audit log:")
	for _, e := range all {
		switch e.Kind {
		case rules.KindRevision:
			var p struct {
				Revision int64    `json:"revision"`
				SHA256   string   `json:"sha256"`
				By       string   `json:"by"`
				Reason   string   `json:"reason"`
				Added    []string `json:"added"`
			}
			if json.Unmarshal(e.Payload, &p) == nil {
				fmt.Fprintf(w, "  #%d rules revision %d (sha256 %.12s…) by %s: %q, added %v\n", e.Seq, p.Revision, p.SHA256, p.By, p.Reason, p.Added)
			}
		case run.KindLawCheck:
			var p struct {
				Revision int64    `json:"revision"`
				Why      string   `json:"why"`
				Runs     int      `json:"runs"`
				Moving   []string `json:"moving"`
				Held     []string `json:"held"`
			}
			if json.Unmarshal(e.Payload, &p) == nil {
				fmt.Fprintf(w, "  #%d law check under revision %d (%s): %d live run(s), moving %v, held %v\n", e.Seq, p.Revision, p.Why, p.Runs, p.Moving, p.Held)
			}
		}
	}
	leftover, err := demoSiteCheck(filepath.Join(stateDir, "sites"), dataDir)
	if err != nil {
		return err
	}
	say("sites checked: %s", leftover)
	res, err := c.Verify(ctx)
	if err != nil {
		return err
	}
	printVerify(w, res)
	say("done")
	if r.State != run.Succeeded {
		return fmt.Errorf("the demo run ended %s: %s", r.State, r.Reason)
	}
	if !res.OK {
		return &codeError{code: exitError, err: errSilent}
	}
	return nil
}

// demoRuleChange asks the server what the demo's rule pack would do to the
// live runs, then applies it as the admin: the server re-checks every run
// at once and moves the demo run off its site.
func demoRuleChange(ctx context.Context, c *api.Client, say func(string, ...any), r *run.Run) error {
	const name = "rules/no-training-in-my.yaml"
	pack, err := fs.ReadFile(demo.FS, name)
	if err != nil {
		return err
	}
	// In force from the day the demo runs, whatever that day is.
	today := time.Now().UTC().Format("2006-01-02")
	text := strings.Replace(string(pack), "effectiveFrom: 2026-01-01", "effectiveFrom: "+today, 1)
	files := []api.RuleFile{{Name: path.Base(name), Content: text}}
	say("what-if %s: asking the server what the rule change would do to its live runs", name)
	rep, err := c.WhatIf(ctx, api.WhatIfRequest{Files: files})
	if err != nil {
		return fmt.Errorf("what-if: %w", err)
	}
	for _, wr := range rep.Runs {
		if wr.Affected {
			say("  run %s at %s: %s (%s); would move to %s, $%.2f → $%.2f", wr.Run, wr.Site, wr.Outcome, wr.Rule, orNone(wr.MoveTo), wr.CostUSD, wr.NewCostUSD)
		}
	}
	res, err := c.RulesApply(ctx, api.RulesApplyRequest{Files: files, Reason: "demo: the lab stops training in Malaysia"})
	if err != nil {
		return fmt.Errorf("rules apply: %w", err)
	}
	say("rules apply %s: revision %d (sha256 %.12s…), rules added %v; run %s is at %s (checkpoint at step %d)",
		name, res.Revision, res.SHA256, res.Diff.Added, r.ID, r.Site, r.Checkpoint.Step)
	return nil
}

// demoDataset is the demo job's dataset.
const demoDataset = "demo-text"

// demoAddDataset does what `meridian dataset add demo-text --from dataDir
// --origin SG --classification public` does with MERIDIAN_HOME=stateDir:
// a key in the state directory's keyring, recorded in its audit log before
// it is kept (the server uses only keys the log records), sealed chunks in
// the home store.
func demoAddDataset(ctx context.Context, stateDir, homeStore, dataDir string) (*dataset.AddResult, error) {
	db, err := (state{Dir: statedir.Dir{Path: stateDir}}).auditStore(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	keys, err := serverKeyrings(stateDir, db.SQLite, db.chain)
	if err != nil {
		return nil, err
	}
	kr, err := keys.For(dataset.DefaultTenant)
	if err != nil {
		return nil, err
	}
	key, err := kr.GetOrCreateContext(ctx, demoDataset, "owner")
	if err != nil {
		return nil, err
	}
	sealer, err := seal.New(key, demoDataset)
	if err != nil {
		return nil, err
	}
	b, err := dataset.OpenStore(ctx, homeStore)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return dataset.Add(ctx, dataset.AddOptions{Name: demoDataset, Root: dataDir, Store: b, Sealer: sealer})
}

// demoJobText gives the demo job's dataset its home store, so that every
// attempt stages it and the attempt's agent unseals it into the scratch the
// trainer reads ($(MERIDIAN_DATA_DIR)/demo-text in the job's command).
func demoJobText(job, homeStore string) string {
	return strings.Replace(job, "  classification: public\n", "  classification: public\n  store: "+quoteYAML(homeStore)+"\n", 1)
}

// demoSiteCheck confirms what the threat model promises once the run has
// ended: no key file is left at any site, and no site holds a line of the
// plaintext corpus (the stores hold only ciphertext; the unsealed copies
// went with their attempts).
func demoSiteCheck(sitesDir, corpusDir string) (string, error) {
	shards, err := filepath.Glob(filepath.Join(corpusDir, "*.txt"))
	if err != nil || len(shards) == 0 {
		return "", fmt.Errorf("demo corpus: %v", err)
	}
	first, err := os.ReadFile(shards[0])
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(first)), "\n")
	if len(line) < 16 {
		return "", fmt.Errorf("demo corpus: first line of %s too short to search for", shards[0])
	}
	files := 0
	err = filepath.WalkDir(sitesDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		files++
		if strings.HasSuffix(p, ".key") {
			return fmt.Errorf("key file left at %s", p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(line)) {
			return fmt.Errorf("plaintext of the dataset found at %s", p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d files, no key file and no plaintext line of the dataset", files), nil
}

// failSite simulates the loss of the site with backend settings spec, whose
// backend state is root.
func failSite(ctx context.Context, spec catalog.BackendSpec, root string) error {
	b, err := siteBackends.For(spec, root)
	if err != nil {
		return err
	}
	f, ok := b.(backend.SiteFailer)
	if !ok {
		return fmt.Errorf("the %s backend cannot simulate a site loss", spec.Type)
	}
	return f.FailSite(ctx)
}

func quoteYAML(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// planOf reads the run's first recorded plan from the audit log.
func planOf(ctx context.Context, c *api.Client, id string) *planner.Plan {
	es, err := c.Audit(ctx, id)
	if err != nil {
		return nil
	}
	for _, e := range es {
		if e.Kind == "plan" {
			var p struct {
				Plan planner.Plan `json:"plan"`
			}
			if json.Unmarshal(e.Payload, &p) == nil {
				return &p.Plan
			}
		}
	}
	return nil
}

// ledgerLine is one complete transfer of the ledger as the demo prints it.
func ledgerLine(seq int64, from string, t transfer.Entry) string {
	return fmt.Sprintf("  #%d %-10s %-28s %s → %s (%s → %s), basis %s, as of %s: %s sent (%s), %d already there",
		seq, orDataset(t.Kind), t.Dataset, from, t.Site, t.From, t.To, orNone(t.Basis), t.AsOf, plural(t.Totals.ChunksSent, "chunk"), humanBytes(t.Totals.BytesSent), t.Totals.Skipped)
}
