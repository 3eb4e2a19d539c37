package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/examples/demo"
	"meridian.dev/meridian/examples/trainer/charlm"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/run"
)

func init() { register(newDemoCmd) }

func newDemoCmd() *cobra.Command {
	var keep bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a job end to end on example local sites, losing a site on the way",
		Long: `Demo starts an embedded server on a temporary state directory with three
example sites that run jobs as local processes, plans a small training job,
runs it, watches its checkpoints, then simulates the loss of its site: the
run is re-planned without that site, its latest checkpoint is moved to the
new site and it resumes there and finishes. It ends by verifying the audit
log. Exit 0 when the run succeeded and the log is intact.`,
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
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	// The example trainer is built into this binary (meridian trainer); its
	// text shards go into the state directory.
	dataDir := filepath.Join(dir, "corpus")
	if err := charlm.WriteCorpus(dataDir); err != nil {
		return err
	}
	job, _ := fs.ReadFile(demo.FS, "job.yaml")
	jobText := demoJobText(string(job), exe, dataDir)

	s, err := startServer(serverOptions{StateDir: filepath.Join(dir, "state"), Listen: "127.0.0.1:0", CatalogDir: catDir,
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

	lostSite := ""
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
		if lostSite == "" && r.Checkpoint != nil && r.Checkpoint.Step >= 100 {
			lostSite = r.Site
			say("simulating the loss of site %s (checkpoint at step %d)", lostSite, r.Checkpoint.Step)
			if err := failSite(ctx, catalog.BackendSpec{Type: catalog.BackendLocal}, filepath.Join(dir, "state", "sites", lostSite)); err != nil {
				return err
			}
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

// demoJobText points the demo job's command at this binary's built-in
// trainer and at the corpus directory.
func demoJobText(job, exe, dataDir string) string {
	job = strings.Replace(job, "command: [meridian,", "command: ["+quoteYAML(exe)+",", 1)
	return strings.Replace(job, "-data, demo-corpus,", "-data, "+quoteYAML(dataDir)+",", 1)
}

// failSite simulates the loss of the site with backend settings spec, whose
// backend state is root.
func failSite(ctx context.Context, spec catalog.BackendSpec, root string) error {
	b, err := backend.For(spec, root)
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
