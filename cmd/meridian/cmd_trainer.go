package main

import (
	"github.com/spf13/cobra"

	"meridian.dev/meridian/examples/trainer/charlm"
)

func init() { register(newTrainerCmd) }

// newTrainerCmd is the example trainer built into the meridian binary, so the
// local backend can run it (os.Executable() trainer …) on a machine without a
// Go toolchain. Hidden: it is a workload, not a user verb.
func newTrainerCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "trainer [flags]",
		Short:              "Run the example character-level trainer (see examples/trainer)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			code := charlm.Main(args, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if code != 0 {
				return &codeError{code: code, err: errSilent}
			}
			return nil
		},
	}
}
