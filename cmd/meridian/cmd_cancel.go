package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func init() { register(newCancelCmd) }

func newCancelCmd() *cobra.Command {
	var cf clientFlags
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
			if r.State.Final() {
				fmt.Fprintf(cmd.OutOrStdout(), "run %s already %s\n", r.ID, r.State)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "run %s: cancel requested\n", r.ID)
			return nil
		},
	}
	addClientFlags(cmd, &cf)
	return cmd
}
