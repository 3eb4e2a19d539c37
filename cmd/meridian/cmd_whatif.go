package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/transfer"
)

func init() { register(newWhatIfCmd) }

// JobWhatIf is what a proposed law does to one job's plan.
type JobWhatIf struct {
	Job      string `json:"job"`
	Affected bool   `json:"affected"`
	// LosesEveryPlacement: lawful placements today, none under the proposal.
	LosesEveryPlacement bool    `json:"losesEveryPlacement"`
	Before              *choice `json:"before"`
	After               *choice `json:"after"`
	// Rule is the first rule of the proposal that rejects the job's
	// current best placement, if one does.
	Rule string `json:"rule,omitempty"`
}

type choice struct {
	Site        string  `json:"site"`
	Country     string  `json:"country"`
	Accelerator string  `json:"accelerator"`
	Count       int     `json:"count"`
	CostUSD     float64 `json:"costUSD"`
	Hours       float64 `json:"hours"`
	LawfulUntil string  `json:"lawfulUntil,omitempty"`
}

func newWhatIfCmd() *cobra.Command {
	var ruleDirs, files []string
	var asOf, catalogDir, out string
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "what-if --rules DIR [--as-of DATE] [-f JOB…]",
		Short: "What a proposed change of the rules would do: to job files, or to a server's live runs and data",
		Long: `What-if compares the law in force with the law after a proposed change.

With -f, it plans each TrainingJob in the files twice, on this machine, under
the built-in packs and under the built-in packs plus --rules, and reports
which jobs lose every placement and how the best placement, its cost and
time change.

Without -f, it asks the running server (admin token): which live runs the
change would make unlawful (and where each would move, at what change in
cost and time), which would be held for want of a lawful place, which dated
rules would end a placement's lawfulness, and which staged datasets would
have to be deleted at their sites. Nothing is changed either way.

Exit 0 when nothing is affected, 3 when something is, 2 on bad input.`,
		Example: `  meridian what-if --rules proposed/ -f examples/qwen-offshore.yaml --as-of 2026-06-01
  meridian what-if --rules proposed/ -o json        # against the server's live runs`,
		RunE: func(cmd *cobra.Command, args []string) error {
			files = append(files, args...)
			if len(ruleDirs) == 0 {
				return badInput(errors.New("--rules: give the proposed rule packs (a directory or file)"))
			}
			if len(files) == 0 {
				return whatIfServer(cmd, &cf, ruleDirs, asOf, out)
			}
			return whatIfJobs(cmd, ruleDirs, files, catalogDir, asOf, out)
		},
	}
	cmd.Flags().StringArrayVar(&ruleDirs, "rules", nil, "proposed rule packs: a directory or file (repeatable)")
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "job files to plan under both laws (repeatable); without -f, ask the server")
	cmd.Flags().StringVar(&asOf, "as-of", "", "the date to compare the laws on (YYYY-MM-DD; default today)")
	cmd.Flags().StringVar(&catalogDir, "catalog", "", "with -f: directory of Site files that replace the built-in sites")
	addClientFlags(cmd, &cf)
	addOutputFlag(cmd, &out)
	return cmd
}

func whatIfServer(cmd *cobra.Command, cf *clientFlags, ruleDirs []string, asOf, out string) error {
	rf, err := readRuleFiles("--rules", ruleDirs)
	if err != nil {
		return badInput(err)
	}
	c, err := cf.client()
	if err != nil {
		return badInput(err)
	}
	rep, err := c.WhatIf(cmd.Context(), api.WhatIfRequest{Files: rf, AsOf: asOf})
	if err != nil {
		return apiErr(err)
	}
	err = render(cmd.OutOrStdout(), out, rep, func(w io.Writer) error {
		fmt.Fprintf(w, "what-if as of %s: %d live runs, %d staged copies affected\n", shown(rep.AsOf), countAffected(rep.Runs), len(rep.Copies))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RUN\tTENANT\tSTATE\tSITE\tOUTCOME\tRULE\tMOVE TO\tCOST\tHOURS")
		for _, r := range rep.Runs {
			if !r.Affected {
				continue
			}
			out := r.Outcome
			if r.LawfulUntil != "" {
				out += " " + r.LawfulUntil
			}
			move, cost, hours := "-", "-", "-"
			if r.MoveTo != "" {
				move = r.MoveTo + " (" + r.MoveToCountry + ")"
				cost = fmt.Sprintf("$%.0f → $%.0f", r.CostUSD, r.NewCostUSD)
				hours = fmt.Sprintf("%.1f → %.1f", r.Hours, r.NewHours)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", shown(r.Run), shown(r.Tenant), shown(string(r.State)), shown(orNone(r.Site)), shown(out), shown(orNone(r.Rule)), shown(move), cost, hours)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, r := range rep.Runs {
			if r.Affected && r.Reason != "" {
				fmt.Fprintf(w, "run %s: %s\n", shown(r.Run), shown(r.Reason))
			}
		}
		for _, c := range rep.Copies {
			what := fmt.Sprintf("staged copy %s/%s", shown(c.Tenant), shown(c.Dataset))
			if c.Kind == transfer.KindCheckpoint {
				what = fmt.Sprintf("checkpoint %s of run %s/%s", shown(c.Dataset), shown(c.Tenant), shown(c.Run))
			}
			why := "rule " + shown(c.Rule)
			if c.Rule == "" {
				why = shown(c.Reason)
			}
			fmt.Fprintf(w, "%s at %s would be deleted: %s\n", what, shown(c.Site), why)
		}
		return nil
	})
	if err == nil && rep.Affected > 0 {
		return &codeError{code: exitNoPlacement, err: errSilent}
	}
	return err
}

func countAffected(rs []run.WhatIfRun) int {
	n := 0
	for _, r := range rs {
		if r.Affected {
			n++
		}
	}
	return n
}

func whatIfJobs(cmd *cobra.Command, ruleDirs, files []string, catalogDir, asOfText, out string) error {
	asOf, err := parseAsOf(asOfText)
	if err != nil {
		return badInput(err)
	}
	world, err := catalog.Load(planner.AssumptionKeys(), catalogDir, files...)
	if err != nil {
		return badInput(err)
	}
	if len(world.Jobs) == 0 {
		return badInput(errors.New("-f: the files hold no TrainingJob"))
	}
	cur, err := policy.New(policy.Options{})
	if err != nil {
		return err
	}
	prop, err := policy.New(policy.Options{Dirs: ruleDirs})
	if err != nil {
		return badInput(err)
	}
	ln := run.LawNow{Law: planner.PolicyLaw(prop), Transfer: prop, Dates: prop.Dates()}
	var results []JobWhatIf
	affected := 0
	for _, job := range world.Jobs {
		before, err := planner.Make(world, job, planner.Options{AsOf: asOf, Rules: planner.PolicyLaw(cur)})
		if err != nil {
			return err
		}
		after, err := planner.Make(world, job, planner.Options{AsOf: asOf, Rules: ln.Law})
		if err != nil {
			return err
		}
		jw := JobWhatIf{Job: job.Metadata.Name, Before: best(before), After: best(after)}
		jw.LosesEveryPlacement = len(before.Placements) > 0 && len(after.Placements) == 0
		if jw.Before != nil && (jw.After == nil || *jw.Before != *jw.After) {
			jw.Affected = true
			jw.Rule = rejectingRule(after, jw.Before)
		}
		if jw.Before == nil && jw.After != nil {
			jw.Affected = true
		}
		if jw.Affected {
			affected++
		}
		results = append(results, jw)
	}
	err = render(cmd.OutOrStdout(), out, map[string]any{"asOf": asOf.String(), "jobs": results, "affected": affected}, func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "JOB\tAFFECTED\tBEFORE\tAFTER\tRULE\n")
		for _, j := range results {
			fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\n", j.Job, j.Affected, choiceText(j.Before), choiceText(j.After), orNone(j.Rule))
		}
		return tw.Flush()
	})
	if err == nil && affected > 0 {
		return &codeError{code: exitNoPlacement, err: errSilent}
	}
	return err
}

func best(p *planner.Plan) *choice {
	if len(p.Placements) == 0 {
		return nil
	}
	b := p.Placements[0]
	return &choice{Site: b.Site, Country: b.Country, Accelerator: b.Accelerator, Count: b.Count, CostUSD: b.CostUSD, Hours: b.Hours}
}

func choiceText(c *choice) string {
	if c == nil {
		return "no lawful placement"
	}
	return fmt.Sprintf("%s (%s) %d × %s, $%.0f, %.1f h", c.Site, c.Country, c.Count, c.Accelerator, c.CostUSD, c.Hours)
}

// rejectingRule is the first law rule that rejects the site of c in p.
func rejectingRule(p *planner.Plan, c *choice) string {
	for _, rj := range p.Rejected {
		if rj.Site == c.Site && rj.Accelerator == c.Accelerator && rj.Kind == planner.KindLaw && len(rj.Reasons) > 0 {
			return rj.Reasons[0].Rule
		}
	}
	return ""
}
