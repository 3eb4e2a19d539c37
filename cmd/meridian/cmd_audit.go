package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/audit"
)

func init() { register(newAuditCmd) }

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "audit",
		Example: `  meridian audit log --run run-c8ee8541244b
  meridian audit verify`,
		Short: "Read and verify the tamper-evident audit log",
	}
	var cf clientFlags
	var out, runID string
	logCmd := &cobra.Command{
		Use:     "log [--run ID]",
		Short:   "Print audit entries: plans with rule ids, decisions, state changes, checkpoint moves",
		Example: "  meridian audit log --run run-3f9a1c2b7d4e -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return badInput(err)
			}
			es, err := c.Audit(cmd.Context(), runID)
			if err != nil {
				return apiErr(err)
			}
			if es == nil {
				es = []audit.Entry{}
			}
			return render(cmd.OutOrStdout(), out, map[string]any{"entries": es}, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SEQ\tTIME\tKIND\tRUN\tHASH\tPAYLOAD")
				for _, e := range es {
					p := string(e.Payload)
					if len(p) > 100 {
						p = p[:97] + "..."
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, shortTime(e.Time), e.Kind, e.RunID, e.Hash[:12], p)
				}
				return tw.Flush()
			})
		},
	}
	logCmd.Flags().StringVar(&runID, "run", "", "only this run's entries")
	addClientFlags(logCmd, &cf)
	addOutputFlag(logCmd, &out)

	var vcf clientFlags
	var vout string
	verifyCmd := &cobra.Command{
		Use:     "verify",
		Example: `  meridian audit verify          # exit 0 and the head hash when intact`,
		Short:   "Check the hash chain; name the first entry modified, deleted or reordered",
		Long: `Verify recomputes every entry's keyed hash and its link to the entry before.
Exit 0 when the chain is intact, 1 when it is broken (the first broken entry
is printed). Keep the printed head hash somewhere else to detect truncation.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := vcf.client()
			if err != nil {
				return badInput(err)
			}
			res, err := c.Verify(cmd.Context())
			if err != nil {
				return apiErr(err)
			}
			if err := render(cmd.OutOrStdout(), vout, res, func(w io.Writer) error { return printVerify(w, res) }); err != nil {
				return err
			}
			if !res.OK {
				return &codeError{code: exitError, err: errSilent}
			}
			return nil
		},
	}
	addClientFlags(verifyCmd, &vcf)
	addOutputFlag(verifyCmd, &vout)
	cmd.AddCommand(logCmd, verifyCmd)
	return cmd
}

func printVerify(w io.Writer, res audit.Result) error {
	if res.OK {
		_, err := fmt.Fprintf(w, "audit log intact: %d entries, head %s\n", res.Entries, res.Head)
		return err
	}
	_, err := fmt.Fprintf(w, "audit log BROKEN at entry %d (%s): %s\n", res.Problem.Seq, res.Problem.Kind, res.Problem.Detail)
	return err
}
