package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/dataset"
)

func newDatasetVerifyCmd() *cobra.Command {
	var at, store, catalogDir, out string
	var files []string
	var kf keyFlags
	cmd := &cobra.Command{
		Use: "verify NAME --at SITE",
		Example: `  meridian dataset verify chat-logs --at my-johor-1
  meridian dataset verify chat-logs --store file:///srv/meridian/store`,
		Short: "Re-read and authenticate every chunk of a dataset at a site",
		Long: `Verify reads the dataset's manifest and every chunk from the site's store and
authenticates each with the dataset key. It names every missing or altered
chunk and the files that use it, and exits 1 if any is found.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			st, err := openState()
			if err != nil {
				return err
			}
			url, b, sealer, err := openSealed(cmd, st, name, at, store, catalogDir, files, &kf)
			if err != nil {
				return err
			}
			defer b.Close()
			rep, err := dataset.Verify(cmd.Context(), b, sealer, name, 4)
			if err != nil {
				return err
			}
			if err := render(cmd.OutOrStdout(), out, rep, func(w io.Writer) error {
				fmt.Fprintf(w, "dataset %s at %s: %d of %d chunks good\n", name, url, rep.OK, rep.Chunks)
				for _, l := range [][]dataset.ChunkProblem{rep.Missing, rep.Altered} {
					for _, p := range l {
						fmt.Fprintf(w, "  %s chunk %s (used by %s)\n", p.Reason, p.ID, strings.Join(p.Files, ", "))
					}
				}
				return nil
			}); err != nil {
				return err
			}
			if !rep.Good() {
				return &codeError{code: exitError, err: fmt.Errorf("dataset %s: %d missing and %d altered chunks", name, len(rep.Missing), len(rep.Altered))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "site whose store to check")
	cmd.Flags().StringVar(&store, "store", "", "store URL to check instead of a site's")
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "resource file or directory with sites (repeatable)")
	cmd.Flags().StringVar(&catalogDir, "catalog", "", "directory of Site files that replace the built-in sites")
	kf.add(cmd)
	addOutputFlag(cmd, &out)
	return cmd
}
