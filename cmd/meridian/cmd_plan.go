package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
)

func init() { register(newPlanCmd) }

type planFlags struct {
	files      []string
	asOf       string
	catalogDir string
	rulesDir   []string
	job        string
	explain    string
	plot       string
	top        int
	topSet     bool // --top was given; otherwise the table shows 10
	timings    bool
	out        string
	// includeAllocation counts allocation sites in (national and research
	// centres the organisation holds no allocation at).
	includeAllocation bool
	// fleet assigns every job in the files at once (plan --fleet).
	fleet bool
	// quotas is a file of Quota documents bounding each tenant's jobs
	// (plan --fleet). tenant is the tenant of jobs without the
	// meridian.dev/tenant label; given (tenantSet), it is every job's
	// tenant, and a job labelled for another is refused.
	quotas    string
	tenant    string
	tenantSet bool
}

// tableTop is how many placements the table shows unless --top is given;
// -o json and yaml carry 50 (SCHEMA.md).
const tableTop = 10

func newPlanCmd() *cobra.Command {
	var f planFlags
	cmd := &cobra.Command{
		Use:   "plan -f FILE [-f FILE…]",
		Short: "Rank the lawful, feasible placements of a training job and explain every rejection",
		Long: `Plan reads a TrainingJob with its Organization and Datasets, looks at every
site and pool in the catalog, and keeps the placements that are lawful on the
--as-of date (export controls, host-country rules, data-transfer law, AI Act
duties), fit in memory, have the capacity, meet the deadline and the budget.
It ranks them by the job's objective and prints the top ones, one histogram
line of why the others lost, the cost of the job's sovereignty constraints,
and the advisories that apply.

Exit status: 0 when at least one placement exists, 3 when none does (the
histogram says why), 2 on bad input.`,
		Example: `  meridian plan -f examples/qwen-offshore.yaml --as-of 2025-06-01
  meridian plan -f examples/qwen-offshore.yaml --explain my-johor-1
  meridian plan -f job.yaml --catalog my-sites/ --rules my-rules/ -o json
  meridian plan -f job.yaml --plot plan.svg
  meridian plan --fleet -f jobs/ -o json
  meridian plan --fleet -f jobs/ --quotas quotas.yaml --tenant vision`,
		RunE: func(cmd *cobra.Command, args []string) error {
			f.files = append(f.files, args...)
			f.topSet = cmd.Flags().Changed("top")
			f.tenantSet = cmd.Flags().Changed("tenant")
			if f.fleet {
				return runFleetPlan(cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
			}
			if f.quotas != "" || cmd.Flags().Changed("tenant") {
				return badInput(errors.New("--quotas and --tenant are for plan --fleet"))
			}
			return runPlan(cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.files, "file", "f", nil, "resource file or directory (repeatable; - for stdin)")
	fl.StringVar(&f.asOf, "as-of", "", "date the law is evaluated on, YYYY-MM-DD (default today, UTC)")
	fl.StringVar(&f.catalogDir, "catalog", "", "directory of Site files that replace the built-in sites")
	fl.StringArrayVar(&f.rulesDir, "rules", nil, "directory of rule files added to the built-in packs (repeatable)")
	fl.StringVar(&f.job, "job", "", "the TrainingJob to plan when the files hold several")
	fl.StringVar(&f.explain, "explain", "", "print the whole story of one site: each pool, count, check and rule")
	fl.StringVar(&f.plot, "plot", "", "write a plot (.svg or .png) of cost against time for every feasible placement")
	fl.IntVar(&f.top, "top", 50, fmt.Sprintf("placements to print, 0 for all (the table shows %d unless --top is given); summary.placements counts all", tableTop))
	fl.BoolVar(&f.includeAllocation, "include-allocation", false, "count in allocation sites (national and research centres, notional prices) as if the organisation could apply for time there")
	fl.BoolVar(&f.fleet, "fleet", false, "assign every TrainingJob in the files at once, at least total cost, no pool given more than its available count")
	fl.StringVar(&f.quotas, "quotas", "", "with --fleet: file of Quota documents (as serve --quotas reads); each job takes from its tenant's quota, jobs beyond it wait")
	fl.StringVar(&f.tenant, "tenant", "default", "with --fleet --quotas: the tenant whose quota every job takes from (a job labelled meridian.dev/tenant for another tenant is refused); not given, each job's label, else default")
	fl.BoolVar(&f.timings, "timings", false, "print to stderr how long loading, law, estimates, ranking and output took")
	_ = fl.MarkHidden("timings")
	addOutputFlag(cmd, &f.out)
	return cmd
}

func runPlan(w io.Writer, f planFlags) error {
	start := time.Now()
	if len(f.files) == 0 {
		return badInput(errors.New("-f: give at least one file or directory with the job, its organization and datasets"))
	}
	if !contains(outputFormats, f.out) {
		return badInput(fmt.Errorf("-o %q: want one of %s", f.out, strings.Join(outputFormats, ", ")))
	}
	if f.top < 0 {
		return badInput(fmt.Errorf("--top %d: want 0 (all) or more", f.top))
	}
	if f.plot != "" && !strings.HasSuffix(f.plot, ".svg") && !strings.HasSuffix(f.plot, ".png") {
		return badInput(fmt.Errorf("--plot %q: want a file name ending in .svg or .png", f.plot))
	}
	asOf, err := parseAsOf(f.asOf)
	if err != nil {
		return badInput(err)
	}
	// The rules compile while the catalog loads: neither needs the other.
	type rules struct {
		engine *policy.Engine
		err    error
		took   time.Duration
	}
	rulesCh := make(chan rules, 1)
	go func() {
		t := time.Now()
		e, err := policy.New(policy.Options{Dirs: f.rulesDir})
		rulesCh <- rules{e, err, time.Since(t)}
	}()
	world, err := loadWorld(f.catalogDir, f.files...)
	if err != nil {
		return badInput(err)
	}
	job, err := pickJob(world, f.job)
	if err != nil {
		return badInput(err)
	}
	if f.explain != "" && world.Site(f.explain) == nil {
		return badInput(fmt.Errorf("--explain %q: no such site (%d sites in the catalog)", f.explain, len(world.Sites)))
	}
	loaded := time.Now()
	r := <-rulesCh
	if r.err != nil {
		return badInput(fmt.Errorf("--rules: %w", r.err))
	}
	engine := r.engine
	law, err := screenedLaw(engine, world.Organizations[job.Spec.Organization])
	if err != nil {
		return err
	}
	rulesLoaded := time.Now()
	var stages planner.Timings
	plan, err := planner.Make(world, job, planner.Options{
		AsOf:    asOf,
		Rules:   law,
		Explain: f.explain,
		Points:  f.plot != "",
		Timings: &stages,

		IncludeAllocation: f.includeAllocation,
	})
	if err != nil {
		return err
	}
	planned := time.Now()
	if f.plot != "" {
		if err := writePlot(f.plot, plan); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
	}
	top := f.top
	if (f.out == "table" || f.out == "wide") && !f.topSet {
		top = tableTop
	}
	err = renderTable(w, f.out, topOf(plan, top), func(w io.Writer, wide bool) error {
		if plan.Explain != nil {
			return planner.WriteExplanation(w, plan.Explain)
		}
		return planner.WriteTableWith(w, plan, planner.TableOptions{Top: top, Width: outputWidth(w), Wide: wide, Style: planStyle(w)})
	})
	if err != nil {
		return err
	}
	if f.timings {
		ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
		other := planned.Sub(rulesLoaded) - stages.Feasibility - stages.Estimate - stages.Rank
		fmt.Fprintf(os.Stderr, "timings ms: load %s law %s estimate %s rank %s output %s (rules compiled in %s beside the load, waited for %s; law stage %s; other %s) total %s\n",
			ms(loaded.Sub(start)), ms(rulesLoaded.Sub(loaded)+stages.Feasibility), ms(stages.Estimate), ms(stages.Rank+other),
			ms(time.Since(planned)), ms(r.took), ms(rulesLoaded.Sub(loaded)), ms(stages.Feasibility), ms(other), ms(time.Since(start)))
	}
	if len(plan.Placements) == 0 {
		return &codeError{code: exitNoPlacement, err: errSilent}
	}
	return nil
}

// topOf returns plan with its first top placements (all for 0); the
// summary still counts every placement.
func topOf(plan *planner.Plan, top int) *planner.Plan {
	if top == 0 || len(plan.Placements) <= top {
		return plan
	}
	cp := *plan
	cp.Placements = plan.Placements[:top]
	return &cp
}

// parseAsOf reads --as-of, defaulting to today in UTC.
func parseAsOf(s string) (catalog.Date, error) {
	if s == "" {
		return catalog.ParseDate(time.Now().UTC().Format(catalog.DateLayout))
	}
	d, err := catalog.ParseDate(s)
	if err != nil {
		return catalog.Date{}, fmt.Errorf("--as-of: %w", err)
	}
	return d, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// planStyle colours the placements table on a terminal: the header bold,
// the Pareto front's ranks in blue, notional prices dimmed.
func planStyle(w io.Writer) func(row, col int, cell string) string {
	if !colorOn(w) {
		return nil
	}
	return func(row, col int, cell string) string {
		switch {
		case row == 0:
			return paint(cell, sgrBold)
		case col == 0 && strings.Contains(cell, "*"):
			return paint(cell, sgrBlue)
		case strings.HasPrefix(cell, "~$"):
			return paint(cell, sgrDim)
		}
		return cell
	}
}
