package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func init() { register(newCancelCmd) }

func newCancelCmd() *cobra.Command {
	var cf clientFlags
	var out string
	cmd := &cobra.Command{
		Use:     "cancel ID",
		Short:   "Stop a run",
		Example: "  meridian cancel run-3f9a1c2b7d4e",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return badInput(err)
			}
			r, err := c.Cancel(cmd.Context(), args[0])
			if err != nil {
				return apiErr(err)
			}
			return render(cmd.OutOrStdout(), out, r, func(w io.Writer) error {
				if r.State.Final() {
					_, err := fmt.Fprintf(w, "run %s already %s\n", shown(r.ID), shown(string(r.State)))
					return err
				}
				_, err := fmt.Fprintf(w, "run %s: cancel requested\n", shown(r.ID))
				return err
			})
		},
	}
	addClientFlags(cmd, &cf)
	addOutputFlag(cmd, &out)
	return cmd
}
