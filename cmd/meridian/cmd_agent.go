package main

import (
	"os"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/agent"
)

func init() { register(newAgentCmd) }

func newAgentCmd() *cobra.Command {
	return &cobra.Command{
		Use:         "agent",
		Annotations: map[string]string{ownsSignals: "yes"},
		Short:       "Run one attempt at a site (started by the site's scheduler, not by hand)",
		Long: `Agent is the entrypoint of every attempt at every site. The controller
gives the site's scheduler only the server's address, the run, the attempt
and a credential that works for that attempt alone; the agent fetches the
rest: it unseals the job's datasets and the checkpoint to resume from out of
the site's store, runs the workload confined to its scratch directory (as
the tenant's own user when it runs as root, under Landlock otherwise),
seals each new checkpoint into the site's store with the run's key, reports
progress, checkpoints and output, and wipes the scratch when the workload
ends. It exits with the workload's exit code.`,
		Example:            "  MERIDIAN_SERVER=… MERIDIAN_RUN_ID=… MERIDIAN_ATTEMPT=1 MERIDIAN_ATTEMPT_TOKEN=… meridian agent",
		DisableFlagParsing: true,
		Hidden:             false,
		RunE: func(cmd *cobra.Command, args []string) error {
			os.Exit(agent.Main(args))
			return nil
		},
	}
}
