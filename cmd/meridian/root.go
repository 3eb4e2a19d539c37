package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "meridian",
		Short: "Decide where an AI training run may and should run, then run it there",
		Long: `Meridian places AI training and fine-tuning jobs on the world's accelerators.

Given a job, the organisation that runs it and its datasets, it lists every site
that could take the job, rejects those that are unlawful on the date of the run
(export controls, host-country rules, data-transfer law, AI Act duties),
infeasible, too slow or too dear, explains each rejection with its rule and
source, and ranks the rest by cost and time.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newValidateCmd(),
	)
	for _, add := range extraCommands {
		root.AddCommand(add())
	}
	conventions(root)
	return root
}

// extraCommands lets each cmd_<verb>.go file register its command from an
// init function, so verbs can be added without editing this file.
var extraCommands []func() *cobra.Command

func register(f func() *cobra.Command) { extraCommands = append(extraCommands, f) }
