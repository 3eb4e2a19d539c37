package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/screen"
)

// newScreenDecideCmd is `screen confirm` or `screen dismiss`.
func newScreenDecideCmd(action string) *cobra.Command {
	var by, reason, out string
	verb := map[string]string{screen.Confirm: "is", screen.Dismiss: "is not"}[action]
	cmd := &cobra.Command{
		Use:   action + " ORG ENTRY-ID --reason TEXT [--by NAME]",
		Short: fmt.Sprintf("Record that an organisation %s the party of a list entry", verb),
		Long: fmt.Sprintf(`%s records a person's decision that organisation ORG %s the party of
list entry ENTRY-ID (as 'meridian screen ORG-FILE' shows it), with who decided
and why. Decisions are kept, oldest first, in $MERIDIAN_HOME/screening/
decisions.json, rewritten atomically under a lock, and each is written to the
state directory's audit log (kind screening-decision), the hash-chained log
'meridian audit verify' checks. The latest decision on an organisation and
entry counts.`, action, verb),
		Example: fmt.Sprintf(`  meridian screen %s example-lab e1003 --reason "register number differs (HRB 1)" --by a.person`, action),
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if by == "" {
				by = os.Getenv("USER")
			}
			st, err := screenStore()
			if err != nil {
				return err
			}
			d, err := st.Decide(args[0], args[1], action, by, reason)
			if err != nil {
				return badInput(err)
			}
			if err := auditDecision(cmd.Context(), d); err != nil {
				return fmt.Errorf("the decision is recorded in %s but not in the audit log: %w", st.DecisionsPath(), err)
			}
			return render(cmd.OutOrStdout(), out, d, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s: %s %s entry %s (%s), by %s at %s: %s\nrecorded in %s and the audit log\n",
					action, d.Org, verb, d.EntryID, d.Entry, d.By, d.Time.Format("2006-01-02T15:04:05Z"), d.Reason, st.DecisionsPath())
				return err
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	cmd.Flags().StringVar(&by, "by", "", "who decides (default $USER)")
	addOutputFlag(cmd, &out)
	return cmd
}

// KindScreeningDecision is the audit kind of a person's screening decision.
const KindScreeningDecision = "screening-decision"

// auditDecision writes a screening decision to the state directory's audit
// log (SQLite serialises it beside a running server's own entries).
func auditDecision(ctx context.Context, d screen.Decision) error {
	st, err := openState()
	if err != nil {
		return err
	}
	db, err := st.auditStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	return audit.NewLog(db).Append(ctx, KindScreeningDecision, "", d)
}
