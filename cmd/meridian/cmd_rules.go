package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

func init() { register(newRulesCmd) }

// rulesFlags are shared by `rules` and `rules show`.
type rulesFlags struct {
	asOf   string
	dirs   []string
	out    string
	active bool
}

func (f *rulesFlags) load() (*policy.Engine, catalog.Date, error) {
	asOf := catalog.Date{Time: time.Now().UTC().Truncate(24 * time.Hour)}
	if f.asOf != "" {
		d, err := catalog.ParseDate(f.asOf)
		if err != nil {
			return nil, asOf, badInput(fmt.Errorf("--as-of: %w", err))
		}
		asOf = d
	}
	e, err := policy.New(policy.Options{Dirs: f.dirs})
	if err != nil {
		return nil, asOf, badInput(err)
	}
	return e, asOf, nil
}

func newRulesCmd() *cobra.Command {
	var f rulesFlags
	cmd := &cobra.Command{
		Use:   "rules [--as-of DATE] [--rules DIR] [-o table|json|yaml]",
		Short: "List the policy rules and their state on a date",
		Long: `Rules lists every rule of the built-in policy packs (and of --rules DIR)
with its state on the as-of date (default today): active, not-yet-effective,
expired, not-enforced, "suspended until DATE" or draft, its effect, its
confidence and its source. A deny rule whose confidence is reported or
unconfirmed is listed as an advisory: it can never deny.`,
		Example: `  meridian rules --as-of 2025-10-15
  meridian rules --active -o json
  meridian rules --rules examples/rules
  meridian rules show us-ear-affiliates-2025 --as-of 2025-12-01`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, asOf, err := f.load()
			if err != nil {
				return err
			}
			list := e.Rules(asOf)
			if f.active {
				kept := list[:0]
				for _, r := range list {
					if r.Active {
						kept = append(kept, r)
					}
				}
				list = kept
			}
			return render(cmd.OutOrStdout(), f.out, map[string]any{"asOf": asOf.String(), "rules": list}, func(w io.Writer) error {
				return rulesTable(w, asOf, list)
			})
		},
	}
	addRulesFlags(cmd, &f)
	cmd.Flags().BoolVar(&f.active, "active", false, "list only the rules active on the as-of date")
	cmd.AddCommand(newRulesShowCmd(), newRulesLintCmd(), newRulesApplyCmd(), newRulesHistoryCmd(), newRulesDiffCmd())
	return cmd
}

func addRulesFlags(cmd *cobra.Command, f *rulesFlags) {
	cmd.Flags().StringVar(&f.asOf, "as-of", "", "date to evaluate rule states on, YYYY-MM-DD (default today)")
	cmd.Flags().StringArrayVar(&f.dirs, "rules", nil, "directory (or file) of extra rule packs, added to the built-in ones (repeatable)")
	addOutputFlag(cmd, &f.out)
}

func rulesTable(w io.Writer, asOf catalog.Date, list []policy.RuleStatus) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "RULE\tKIND\tJURISDICTION\tEFFECT\tSTATE\tCONFIDENCE\tSOURCE\n")
	active := 0
	for _, r := range list {
		if r.Active {
			active++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Kind, r.Jurisdiction, r.Effect, r.State, r.Confidence, firstSource(r.Sources))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d rules, %d active on %s\n", len(list), active, asOf)
	return err
}

// firstSource shortens a rule's sources to the first one for the table.
func firstSource(s []string) string {
	if len(s) == 0 {
		return ""
	}
	first := s[0]
	if len([]rune(first)) > 70 {
		first = string([]rune(first)[:67]) + "..."
		first = first[:67] + "..."
	}
	return first
}

func newRulesShowCmd() *cobra.Command {
	var f rulesFlags
	cmd := &cobra.Command{
		Use: "show ID [--as-of DATE] [--rules DIR] [-o table|json|yaml]",
		Example: `  meridian rules show us-bis-2025-05-iaas-red-flag
  meridian rules show cn-cbdf-2024-assessment --as-of 2024-01-01 -o json`,
		Short: "Print one rule: its dates, enforcement, condition, message and sources",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, asOf, err := f.load()
			if err != nil {
				return err
			}
			r, ok := e.Rule(args[0])
			if !ok {
				return badInput(fmt.Errorf("no rule %q; `meridian rules` lists them", args[0]))
			}
			st := r.Status(asOf)
			ths := e.RuleThresholds(r.ID)
			v := map[string]any{"asOf": asOf.String(), "rule": r, "status": st}
			if len(ths) > 0 {
				v["thresholds"] = ths
			}
			return render(cmd.OutOrStdout(), f.out, v, func(w io.Writer) error {
				return ruleText(w, r, st, asOf, ths)
			})
		},
	}
	addRulesFlags(cmd, &f)
	return cmd
}

func ruleText(w io.Writer, r *policy.Rule, st policy.RuleStatus, asOf catalog.Date, ths []*policy.Threshold) error {
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-15s %s\n", k+":", v)
		}
	}
	line("Rule", r.ID)
	line("Title", r.Title)
	line("Jurisdiction", r.Jurisdiction)
	line("Kind", r.Kind)
	line("Scope", r.Scope)
	line("Effect", string(r.Effect))
	if st.Effect != r.Effect {
		line("Acts as", fmt.Sprintf("%s (confidence %s: never a hard denial)", st.Effect, r.Confidence))
	}
	line("Confidence", r.Confidence)
	line("Effective", fmt.Sprintf("%s to %s", r.EffectiveFrom, orOpen(r.EffectiveUntil)))
	var steps []string
	for _, s := range r.Enforcement {
		if s.From.IsZero() {
			steps = append(steps, s.String())
		} else {
			steps = append(steps, fmt.Sprintf("%s from %s", s, s.From))
		}
	}
	line("Enforcement", strings.Join(steps, "; "))
	line("State", fmt.Sprintf("%s on %s", st.State, asOf))
	if l := r.LiftedBy; l != nil {
		var by []string
		if l.Licence {
			by = append(by, "a recorded licence for "+r.ID)
		}
		if len(l.Bases) > 0 {
			by = append(by, "transfer basis "+strings.Join(l.Bases, ", "))
		}
		line("Lifted by", strings.Join(by, "; "))
	}
	for _, t := range ths {
		var rs []string
		for _, rd := range t.Readings {
			rs = append(rs, fmt.Sprintf("%g (%s)", rd.Value, rd.Source))
		}
		unit := ""
		if t.Unit != "" {
			unit = " " + t.Unit
		}
		line("Threshold", fmt.Sprintf("%s%s, %s: %s", t.Name, unit, t.Confidence, strings.Join(rs, "; ")))
	}
	line("Condition", strings.TrimSpace(r.Condition))
	line("Message", strings.TrimSpace(r.Message))
	for i, s := range r.Sources {
		line(fmt.Sprintf("Source %d", i+1), s)
	}
	line("Notes", strings.TrimSpace(r.Notes))
	line("Defined at", r.Pos)
	_, err := io.WriteString(w, b.String())
	return err
}

func orOpen(d catalog.Date) string {
	if d.IsZero() {
		return "(open)"
	}
	return d.String()
}
