package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func init() { register(newLogsCmd) }

func newLogsCmd() *cobra.Command {
	var cf clientFlags
	var follow, raw, escape bool
	cmd := &cobra.Command{
		Use:   "logs ID [-f]",
		Short: "Print a run's output, every attempt in turn",
		Long: `Logs prints a run's output, every attempt in turn. The output is the
workload's own: on a terminal its control characters and escape sequences
(ESC, the other C0 controls but newline, tab and carriage return, DEL, C1
controls, bidirectional overrides, characters drawn as nothing such as a
zero-width space, and joiners or direction marks where no word needs them)
are written visibly, as \x1b, \u202e or \u200b, so that none of them acts on
the terminal or hides in a line. A carriage return is kept (progress bars);
Meridian writes no prefix on the workload's lines, and its own lines start
a row of their own. To a file or a pipe the output is written byte for
byte, as scripts want it and as kubectl logs writes it; a pager given it
(less -R) passes colours and links, less -r every escape, to the terminal:
use --escape there. --raw writes it byte for byte to a terminal too.`,
		Example: "  meridian logs run-3f9a1c2b7d4e -f\n  meridian logs run-3f9a1c2b7d4e --escape | less -R",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := escapeCheck(raw, escape); err != nil {
				return err
			}
			c, err := cf.client()
			if err != nil {
				return badInput(err)
			}
			w, flush := workloadOutput(cmd.OutOrStdout(), raw, escape)
			defer flush()
			var off int64
			for {
				off, err = c.CopyLogs(cmd.Context(), args[0], off, w)
				if err != nil && follow && cmd.Context().Err() != nil {
					return nil // interrupted: stop following
				}
				if err != nil {
					return apiErr(err)
				}
				if !follow {
					return nil
				}
				r, err := c.Get(cmd.Context(), args[0])
				if err != nil && cmd.Context().Err() != nil {
					return nil
				}
				if err != nil {
					return apiErr(err)
				}
				if r.State.Final() {
					// Without this last read the output lacks its end:
					// an error, not a quiet success.
					if _, err := c.CopyLogs(cmd.Context(), args[0], off, w); err != nil {
						return fmt.Errorf("run %s %s, but the end of its output was not read: %w", shown(r.ID), shown(string(r.State)), apiErr(err))
					}
					flush()
					fmt.Fprintf(cmd.ErrOrStderr(), "run %s %s\n", shown(r.ID), shown(string(r.State)))
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(500 * time.Millisecond):
				}
			}
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing output until the run ends")
	escapeFlags(cmd, &raw, &escape, "write the output byte for byte to a terminal too, escape sequences included (to a file or a pipe it always is, unless --escape)")
	addClientFlags(cmd, &cf)
	return cmd
}
