package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func init() { register(newApplyCmd) }

func newApplyCmd() *cobra.Command {
	var files []string
	var update bool
	var cf clientFlags
	var out string
	cmd := &cobra.Command{
		Use:   "apply -f FILE [-f FILE…] [--update]",
		Short: "Register your organisations and datasets with the server, or update them",
		Long: `Apply registers the Organization and Dataset documents in the files to your
tenant. A registered resource is what every later request must carry an
equal copy of: a run whose files declare a dataset as public when it was
registered as personal is refused. Changing a registered resource takes
--update, and each change is written to the audit log with who made it.
Sites come from the server's catalog, and jobs are run, not applied.`,
		Example: `  meridian apply -f org.yaml -f datasets.yaml
  meridian apply -f datasets.yaml --update      # after adding a transfer basis`,
		RunE: func(cmd *cobra.Command, args []string) error {
			files = append(files, args...)
			if len(files) == 0 {
				return badInput(errors.New("-f: give at least one file or directory"))
			}
			docs, err := readDocuments(files)
			if err != nil {
				return badInput(err)
			}
			c, err := cf.client()
			if err != nil {
				return badInput(err)
			}
			got, err := c.Apply(cmd.Context(), docs, update)
			if err != nil {
				return apiErr(err)
			}
			return render(cmd.OutOrStdout(), out, got, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "KIND\tNAME\tVERSION\tSHA256")
				for _, r := range got {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", shown(r.Kind), shown(r.Name), r.Version, shortHash(r.SHA256))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "resource file or directory (repeatable)")
	cmd.Flags().BoolVar(&update, "update", false, "replace resources registered with other contents (audited)")
	addClientFlags(cmd, &cf)
	addOutputFlag(cmd, &out)
	return cmd
}
