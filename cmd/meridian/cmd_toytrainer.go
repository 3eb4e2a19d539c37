package main

import (
	"github.com/spf13/cobra"

	"meridian.dev/meridian/internal/toytrainer"
)

func init() { register(newToyTrainerCmd) }

// newToyTrainerCmd is the demo's workload until examples/trainer is merged.
func newToyTrainerCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "toy-trainer",
		Short:              "A stand-in workload that counts steps and writes checkpoints (used by the demo)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := toytrainer.Main(args, cmd.OutOrStdout()); code != 0 {
				return &codeError{code: code, err: errSilent}
			}
			return nil
		},
	}
}
