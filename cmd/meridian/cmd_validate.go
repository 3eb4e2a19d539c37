package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
)

func newValidateCmd() *cobra.Command {
	var files []string
	var catalogDir string
	cmd := &cobra.Command{
		Use:   "validate -f FILE [-f FILE…]",
		Short: "Check resource files against the schema and the catalog",
		Long: `Validate decodes every resource in the files strictly (unknown fields, wrong
types), then checks values and references: countries, accelerator ids, ranges,
and that each job's organisation and datasets exist. Every problem is printed
with file, line and field; the exit code is 2 when any is found.`,
		Example: `  meridian validate -f examples/qwen-offshore.yaml
  meridian validate -f my-sites/ --catalog my-sites/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			files = append(files, args...)
			if len(files) == 0 {
				return badInput(fmt.Errorf("-f: give at least one file or directory"))
			}
			w, err := catalog.Load(planner.AssumptionKeys(), catalogDir, files...)
			if err != nil {
				return badInput(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d organizations, %d datasets, %d sites, %d jobs\n",
				len(w.Organizations), len(w.Datasets), len(w.Sites), len(w.Jobs))
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "resource file or directory (repeatable; - for stdin)")
	cmd.Flags().StringVar(&catalogDir, "catalog", "", "directory of Site files that replace the built-in sites")
	return cmd
}
