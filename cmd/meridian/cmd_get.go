package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/run"
)

func init() { register(newGetCmd) }

// apiErr maps a server's 4xx answer to exit code 2.
func apiErr(err error) error {
	var se *api.StatusError
	if errors.As(err, &se) && se.Status >= 400 && se.Status < 500 && se.Status != http.StatusUnprocessableEntity {
		return badInput(err)
	}
	if errors.As(err, &se) && se.Status == http.StatusUnprocessableEntity {
		return &codeError{code: exitNoPlacement, err: err}
	}
	return err
}

func newGetCmd() *cobra.Command {
	var cf clientFlags
	var out string
	cmd := &cobra.Command{
		Use:     "get runs",
		Short:   "List your runs",
		Example: "  meridian get runs\n  meridian get runs -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "runs" && args[0] != "run" {
				return badInput(fmt.Errorf("get %q: the only resource is runs", args[0]))
			}
			c, err := cf.client()
			if err != nil {
				return badInput(err)
			}
			runs, err := c.List(cmd.Context())
			if err != nil {
				return apiErr(err)
			}
			if runs == nil {
				runs = []*run.Run{}
			}
			return render(cmd.OutOrStdout(), out, map[string]any{"runs": runs}, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tJOB\tSTATE\tSITE\tATTEMPT\tSTEP\tLOSS\tCHECKPOINT")
				for _, r := range runs {
					step, loss, ck := "-", "-", "-"
					if r.Progress != nil {
						step, loss = strconv.FormatInt(r.Progress.Step, 10), strconv.FormatFloat(r.Progress.Loss, 'f', 4, 64)
					}
					if r.Checkpoint != nil {
						ck = strconv.FormatInt(r.Checkpoint.Step, 10)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.Job, r.State, r.Site, r.Attempt, step, loss, ck)
				}
				return tw.Flush()
			})
		},
	}
	addClientFlags(cmd, &cf)
	addOutputFlag(cmd, &out)
	return cmd
}
