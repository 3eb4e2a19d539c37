package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
)

// readRuleFiles reads rule files (a file, or a directory's *.yaml/*.yml)
// for sending to a server, refusing what the server would refuse for size.
// flag is the option that named the paths (-f for rules apply, --rules for
// what-if), so that an error names what the user typed.
func readRuleFiles(flag string, paths []string) ([]api.RuleFile, error) {
	var out []api.RuleFile
	for _, p := range paths {
		fs, err := policy.ReadFiles(p)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", flag, p, err)
		}
		for _, f := range fs {
			out = append(out, api.RuleFile{Name: ruleFileName(f.Name), Content: string(f.Data)})
		}
	}
	return out, nil
}

// ruleFileName is the name a rule file is applied under: its base name, so
// that applying the same directory from elsewhere replaces, not adds.
func ruleFileName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func newRulesApplyCmd() *cobra.Command {
	var files, remove []string
	var reason, out string
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "apply -f DIR|FILE --reason TEXT",
		Short: "Change the law a running server keeps runs under (a new, audited revision)",
		Long: `Apply sends rule packs to a running server. The server checks them in full
first (syntax, dates, sources, CEL that compiles and stays within its cost
limit, the vocabulary of bases, licences and facts); if any check fails
nothing changes and every problem is printed with file, rule and field.
Accepted packs are added to (or replace, by file name) the packs applied
before; --remove takes one out. Each accepted change is a revision with its
content hash, time, author and reason, written to the audit log, and the
server at once re-checks every live run and staged dataset under it: a run
whose site is no longer lawful checkpoints and moves (or is held when no
lawful place is left), a run that a dated rule will make unlawful moves
before that date. Takes the admin token.`,
		Example: `  meridian rules apply -f new-rules/ --reason "BIS guidance of 2026-12-01 on Malaysian permits"
  meridian rules apply --remove draft.yaml --reason "draft withdrawn"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			files = append(files, args...)
			if reason == "" {
				return badInput(errors.New("--reason: required (it is written to the audit log)"))
			}
			if len(files) == 0 && len(remove) == 0 {
				return badInput(errors.New("-f: give rule files or a directory (or --remove NAME)"))
			}
			rf, err := readRuleFiles("-f", files)
			if err != nil {
				return badInput(err)
			}
			c, err := cf.client()
			if err != nil {
				return badInput(err)
			}
			res, err := c.RulesApply(cmd.Context(), api.RulesApplyRequest{Files: rf, Remove: remove, Reason: reason})
			if err != nil {
				return apiErr(err)
			}
			return render(cmd.OutOrStdout(), out, res, func(w io.Writer) error {
				fmt.Fprintf(w, "rules revision %d (sha256 %s): %s\n", res.Revision, shortHash(res.SHA256), shown(res.Reason))
				return printDiff(w, res.Diff)
			})
		},
	}
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "rule file or directory (repeatable)")
	cmd.Flags().StringArrayVar(&remove, "remove", nil, "name of an applied rule file to take out (repeatable)")
	cmd.Flags().StringVar(&reason, "reason", "", "why the rules change (required; audited)")
	addClientFlags(cmd, &cf)
	addOutputFlag(cmd, &out)
	return cmd
}

func short12(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func printDiff(w io.Writer, d *rules.Diff) error {
	if d == nil || d.Empty() {
		_, err := fmt.Fprintln(w, "no rule added, removed or changed")
		return err
	}
	for _, id := range d.Added {
		fmt.Fprintf(w, "+ %s\n", shown(id))
	}
	for _, id := range d.Removed {
		fmt.Fprintf(w, "- %s\n", shown(id))
	}
	for _, c := range d.Changed {
		fmt.Fprintf(w, "~ %s\n", shown(c.ID))
		for _, f := range c.Fields {
			fmt.Fprintf(w, "    %s: %q → %q\n", shown(f.Field), f.From, f.To)
		}
	}
	// A definition or threshold changes what the rules reading it decide.
	for _, f := range d.Definitions {
		fmt.Fprintf(w, "~ def.%s: %q → %q\n", shown(f.Field), f.From, f.To)
	}
	for _, f := range d.Thresholds {
		fmt.Fprintf(w, "~ threshold.%s: %q → %q\n", shown(f.Field), f.From, f.To)
	}
	return nil
}

func newRulesHistoryCmd() *cobra.Command {
	var out string
	var cf clientFlags
	cmd := &cobra.Command{
		Use:     "history",
		Short:   "List a running server's rules revisions",
		Example: "  meridian rules history\n  meridian rules history -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return badInput(err)
			}
			h, err := c.RulesHistory(cmd.Context())
			if err != nil {
				return apiErr(err)
			}
			return render(cmd.OutOrStdout(), out, h, func(w io.Writer) error { return printRuleHistory(w, h) })
		},
	}
	addClientFlags(cmd, &cf)
	addOutputFlag(cmd, &out)
	return cmd
}

// printRuleHistory is rules history's table. A revision the server's
// audit log does not vouch for says so before its reason.
func printRuleHistory(w io.Writer, h []api.RuleRevision) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tTIME\tBY\tSHA256\tFILES\tREASON")
	for _, r := range h {
		reason := shown(r.Reason)
		if r.Witnessed != nil && !*r.Witnessed {
			// Its author and reason are whatever was written
			// outside Meridian.
			reason = "NOT WITNESSED (" + shown(r.Unwitnessed) + "): " + reason
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Revision, r.Time.Format("2006-01-02T15:04:05Z"), shown(r.By), shortHash(r.SHA256), shown(strings.Join(r.Files, ",")), reason)
	}
	return tw.Flush()
}

func newRulesDiffCmd() *cobra.Command {
	var out string
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "diff [REV] [REV]",
		Short: "What changed between two of a server's rules revisions (default: the last change)",
		Example: `  meridian rules diff          # the last revision against the one before
  meridian rules diff 0 3      # revision 3 against the built-in packs alone`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			revs := []int64{-1, -1}
			for i, a := range args {
				n, err := strconv.ParseInt(a, 10, 64)
				if err != nil || n < 0 {
					return badInput(fmt.Errorf("REV %q: want a revision number (0: no rules applied)", a))
				}
				revs[i] = n
			}
			if len(args) == 1 {
				revs = []int64{revs[0], -1}
			}
			c, err := cf.client()
			if err != nil {
				return badInput(err)
			}
			d, err := c.RulesDiff(cmd.Context(), revs[0], revs[1])
			if err != nil {
				return apiErr(err)
			}
			return render(cmd.OutOrStdout(), out, d, func(w io.Writer) error { return printDiff(w, d) })
		},
	}
	addClientFlags(cmd, &cf)
	addOutputFlag(cmd, &out)
	return cmd
}
