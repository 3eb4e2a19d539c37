package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/catalog"
)

// validateResult is validate's -o json|yaml: the counts of what loaded, or
// each problem with its file, line and field.
type validateResult struct {
	Valid         bool              `json:"valid"`
	Organizations int               `json:"organizations"`
	Datasets      int               `json:"datasets"`
	Sites         int               `json:"sites"`
	Jobs          int               `json:"jobs"`
	Problems      []validateProblem `json:"problems,omitempty"`
}

type validateProblem struct {
	File     string   `json:"file,omitempty"`
	Line     int      `json:"line,omitempty"`
	Resource string   `json:"resource,omitempty"`
	Field    string   `json:"field,omitempty"`
	Message  string   `json:"message"`
	Accepted []string `json:"accepted,omitempty"`
}

func newValidateCmd() *cobra.Command {
	var files []string
	var catalogDir, output string
	cmd := &cobra.Command{
		Use:   "validate -f FILE [-f FILE…]",
		Short: "Check resource files against the schema and the catalog",
		Long: `Validate decodes every resource in the files strictly (unknown fields, wrong
types), then checks values and references: countries, accelerator ids, ranges,
and that each job's organisation and datasets exist. Every problem is printed
with file, line and field; the exit code is 2 when any is found. With -o json
or yaml the result (counts, or the problems with file, line, field and the
accepted values) is printed on standard output as well.`,
		Example: `  meridian validate -f examples/qwen-offshore.yaml
  meridian validate -f my-sites/ --catalog my-sites/
  meridian validate -f job.yaml -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			files = append(files, args...)
			if len(files) == 0 {
				return badInput(fmt.Errorf("-f: give at least one file or directory"))
			}
			if err := render(io.Discard, output, nil, func(io.Writer) error { return nil }); err != nil {
				return err
			}
			w, err := loadWorld(catalogDir, files...)
			if err != nil {
				if output != "json" && output != "yaml" {
					return badInput(err)
				}
				res := validateResult{}
				var es catalog.Errors
				var fe *catalog.FieldError
				switch {
				case errors.As(err, &es):
					for _, e := range es {
						res.Problems = append(res.Problems, validateProblem{e.File, e.Line, e.Resource, e.Field, e.Msg, e.Accepted})
					}
				case errors.As(err, &fe):
					res.Problems = append(res.Problems, validateProblem{fe.File, fe.Line, fe.Resource, fe.Field, fe.Msg, fe.Accepted})
				default:
					res.Problems = append(res.Problems, validateProblem{Message: err.Error()})
				}
				if rerr := render(cmd.OutOrStdout(), output, res, nil); rerr != nil {
					return rerr
				}
				return badInput(err)
			}
			res := validateResult{Valid: true, Organizations: len(w.Organizations), Datasets: len(w.Datasets), Sites: len(w.Sites), Jobs: len(w.Jobs)}
			return render(cmd.OutOrStdout(), output, res, func(out io.Writer) error {
				_, err := fmt.Fprintf(out, "ok: %d organizations, %d datasets, %d sites, %d jobs\n", res.Organizations, res.Datasets, res.Sites, res.Jobs)
				return err
			})
		},
	}
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "resource file or directory (repeatable; - for stdin)")
	cmd.Flags().StringVar(&catalogDir, "catalog", "", "directory of Site files that replace the built-in sites")
	addOutputFlag(cmd, &output)
	return cmd
}
