package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/policy"
)

func newRulesLintCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "lint DIR|FILE... [-o table|json|yaml]",
		Short: "Check rule packs as loading them would, and list every problem",
		Long: `Lint runs every check a load runs on the rule files of each DIR (or FILE),
together with the built-in packs: YAML syntax and unknown fields, dates,
enforcement, sources, message placeholders, CEL compilation, the facts,
definitions and thresholds a condition names, the words it compares with
the vocabulary (legal bases, classifications, restricted-party statuses,
organisation attributes, licence kinds), each expression's estimated cost
and each file's size. It prints every problem with file, line, rule and
field, and exits 2 when there is any, 0 when the packs would load.`,
		Example: `  meridian rules lint examples/rules
  meridian rules lint ./house-rules -o json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ps := policy.Lint(policy.Options{Dirs: args})
			if ps == nil {
				ps = policy.Problems{}
			}
			if err := render(cmd.OutOrStdout(), out, map[string]any{"problems": ps}, func(w io.Writer) error {
				for _, p := range ps {
					fmt.Fprintln(w, p.String())
				}
				if len(ps) == 0 {
					_, err := fmt.Fprintln(w, "no problems")
					return err
				}
				if n := ps.Count(); n != len(ps) {
					// The loader lists at most policy.MaxProblems; the
					// last line it lists counts the rest.
					_, err := fmt.Fprintf(w, "\n%d problem(s), the first %d listed\n", n, len(ps)-1)
					return err
				}
				_, err := fmt.Fprintf(w, "\n%d problem(s)\n", len(ps))
				return err
			}); err != nil {
				return err
			}
			if len(ps) > 0 {
				return &codeError{code: exitBadInput, err: errSilent}
			}
			return nil
		},
	}
	addOutputFlag(cmd, &out)
	return cmd
}
