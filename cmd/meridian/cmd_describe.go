package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

func init() { register(newDescribeCmd) }

func newDescribeCmd() *cobra.Command {
	var cf clientFlags
	var out string
	cmd := &cobra.Command{
		Use:     "describe run ID",
		Short:   "Show a run and its timeline of events with reasons",
		Example: "  meridian describe run run-3f9a1c2b7d4e",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "run" && args[0] != "runs" {
				return badInput(fmt.Errorf("describe %q: the only resource is run", args[0]))
			}
			c, err := cf.client()
			if err != nil {
				return badInput(err)
			}
			shownRun, err := c.GetShown(cmd.Context(), args[1])
			if err != nil {
				return apiErr(err)
			}
			r := shownRun.Run
			if out == "json" || out == "yaml" {
				// The run, then its timeline a page at a time as it
				// comes, none kept: byte for byte what render prints of
				// {"run": …, "events": [...]}.
				o, err := newPagedOut[store.Event](cmd.OutOrStdout(), out, "events", "", nil)
				if err != nil {
					return err
				}
				o.lead("run", shownRun) // changedOutsideMeridian passes through
				if err := c.EventsEach(cmd.Context(), args[1], o.page); err != nil {
					return apiErr(err)
				}
				return o.end()
			}
			// The table of events is aligned over all of them, so it is
			// printed once every page is read.
			evs, err := c.Events(cmd.Context(), args[1])
			if err != nil {
				return apiErr(err)
			}
			if err := render(cmd.OutOrStdout(), out, nil, func(w io.Writer) error { return describeTable(w, r, evs) }); err != nil {
				return err
			}
			warnChanged(cmd.ErrOrStderr(), shownRun, true)
			return nil
		},
	}
	addClientFlags(cmd, &cf)
	addOutputFlag(cmd, &out)
	return cmd
}

func describeTable(w io.Writer, r *run.Run, evs []store.Event) error {
	fmt.Fprintf(w, "Run:        %s\n", shown(r.ID))
	fmt.Fprintf(w, "Job:        %s\n", shown(r.Job))
	state := shown(string(r.State))
	if colorOn(w) {
		state = paint(state, stateColor(state))
	}
	fmt.Fprintf(w, "State:      %s\n", state)
	fmt.Fprintf(w, "Site:       %s (%s), %d × %s, attempt %d\n", shown(r.Site), shown(r.Placement.Country), r.Placement.Count, shown(r.Placement.Accelerator), r.Attempt)
	fmt.Fprintf(w, "Planned:    as of %s, placement %d\n", shown(r.AsOf), r.Rank)
	if len(r.Excluded) > 0 {
		fmt.Fprintf(w, "Excluded:   %s\n", shown(strings.Join(r.Excluded, ", ")))
	}
	if p := r.Progress; p != nil {
		of := ""
		if p.Steps > 0 {
			of = fmt.Sprintf(" of %d", p.Steps)
		}
		fmt.Fprintf(w, "Progress:   step %d%s, loss %.4f, %.0f tokens/s\n", p.Step, of, p.Loss, p.TokensPerS)
	}
	if s := r.Spent(time.Now()); s.Hours > 0 || s.Elapsed > 0 {
		fmt.Fprintf(w, "Used:       %.2f hours, %.2f accelerator-hours, $%.2f at the pools' prices (%s); %.2f hours of the deadline since it was submitted\n", s.Hours, s.AcceleratorHours, s.USD, plural(len(r.Attempts), "attempt"), s.Elapsed)
	}
	if r.Checkpoint != nil {
		fmt.Fprintf(w, "Checkpoint: step %d at %s (%s)\n", r.Checkpoint.Step, shown(r.Checkpoint.Site), shown(r.Checkpoint.Path))
	}
	if r.RecoveredIn > 0 {
		fmt.Fprintf(w, "Recovered:  running elsewhere %s after its last move began\n", r.RecoveredIn.D().Round(time.Millisecond))
	}
	if r.Reason != "" {
		fmt.Fprintf(w, "Reason:     %s\n", shown(r.Reason))
	}
	fmt.Fprintln(w, "\nEvents:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TIME\tEVENT\tREASON")
	for _, e := range evs {
		kind := e.Kind
		if e.Kind == "state" {
			kind = e.From + " → " + e.To
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", e.Time.UTC().Format("15:04:05.000"), shown(kind), shown(e.Reason))
	}
	return tw.Flush()
}
