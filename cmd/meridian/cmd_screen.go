package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/screen"
	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/transfer"
)

func init() { register(newScreenCmd) }

// screenStore is the screening store in the state directory.
func screenStore() (*screen.Store, error) {
	d, err := statedir.Default()
	if err != nil {
		return nil, err
	}
	if err := checkStateDir(d.Path); err != nil {
		return nil, err
	}
	removeStaleStateTemps(d)
	return &screen.Store{Dir: d.ScreeningDir()}, nil
}

// screenedLaw is the policy engine for a plan: when a screening list has
// been imported into the state directory, the organisation is screened and
// its result overrides the restricted-party status it declares.
func screenedLaw(e *policy.Engine, org *catalog.Organization) (planner.Law, error) {
	st, err := screenStore()
	var unsafe *unsafeStateDirError
	if errors.As(err, &unsafe) {
		// Lists another user could have swapped screen nothing: refused,
		// not passed over as if none had been imported.
		return nil, err
	}
	if err != nil || org == nil {
		return planner.PolicyLaw(e), nil
	}
	res, err := st.Screen("", org)
	if errors.Is(err, screen.ErrNoList) {
		return planner.PolicyLaw(e), nil
	}
	if err != nil {
		return nil, fmt.Errorf("screening %s: %w", org.Metadata.Name, err)
	}
	sc := res[0].Screening()
	return planner.LawFunc(func(q policy.Query) (planner.Session, error) {
		q.Screening = sc
		return e.Session(q)
	}), nil
}

func newScreenCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "screen ORG-FILE [-o table|json|yaml]",
		Short: "Screen organisations against the imported restricted-party lists",
		Long: `Screen compares each Organization of ORG-FILE (its legalName or name, aliases
and addresses) with the Consolidated Screening List imported by
'meridian screen import'. Names are normalised (case, accents, punctuation,
legal forms such as Co., Ltd. or GmbH) and compared exactly and by
Jaro–Winkler score; each match is shown with its score and list entry.

An exact match of a name or alias together with a country sets the
organisation's restricted-party status (entity-list for the Entity List,
listed for the other lists) with the entry as its source. Any weaker match is
undetermined: plans fail closed until a person runs 'meridian screen confirm'
or 'meridian screen dismiss', naming the entry as reviewed with its hash
(ENTRY-SHA256, entrySha256 in -o json) by --entry-sha256, and the organisation as reviewed
by its fingerprint ("org fingerprint", orgFingerprint in -o json) by --org-fingerprint. Exit 0 when every organisation is clear, 3 when
any is listed or undetermined, 2 on bad input.`,
		Example: `  meridian screen import consolidated.csv
  meridian screen examples/qwen-offshore.yaml
  meridian screen lab.yaml -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := catalog.LoadFiles(args[0])
			if err != nil {
				return badInput(err)
			}
			if len(set.Organizations) == 0 {
				return badInput(fmt.Errorf("%s: no Organization to screen", args[0]))
			}
			st, err := screenStore()
			if err != nil {
				return err
			}
			res, err := st.Screen("", set.Organizations...)
			if err != nil {
				return badInput(err)
			}
			if err := render(cmd.OutOrStdout(), out, map[string]any{"results": res}, func(w io.Writer) error { return screenTable(w, res) }); err != nil {
				return err
			}
			for _, r := range res {
				if r.Status != catalog.RestrictedNone {
					return &codeError{code: exitNoPlacement, err: errSilent}
				}
			}
			return nil
		},
	}
	addOutputFlag(cmd, &out)
	cmd.AddCommand(newScreenImportCmd(), newScreenDecideCmd(screen.Confirm), newScreenDecideCmd(screen.Dismiss))
	return cmd
}

func screenTable(w io.Writer, res []screen.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	// ENTRY-SHA256 last: scripts that read the columns before it by their
	// place read them where they were.
	fmt.Fprintln(tw, "ORG\tSTATUS\tMATCH\tKIND\tSCORE\tENTRY\tLIST\tCOUNTRIES\tDECISION\tENTRY-SHA256")
	for _, r := range res {
		if len(r.Matches) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t\t\t\t\t\t\t\n", shown(r.Org), r.Status)
		}
		for _, m := range r.Matches {
			dec := ""
			if d := m.Decision; d != nil {
				dec = fmt.Sprintf("%sed by %s %s", shown(d.Action), shown(d.By), d.Time.Format("2006-01-02"))
			}
			// The hash's first digits, as many as a decision may name
			// it by (--entry-sha256): -o json shows it whole.
			// What a list import or a decisions file holds is written
			// out (shown): it comes from outside, and a terminal would
			// act on an escape sequence in it.
			fmt.Fprintf(tw, "%s\t%s\t%q ~ %q\t%s\t%.2f\t%s\t%s\t%s\t%s\t%s\n", shown(r.Org), r.Status, m.OrgName, m.Matched, shown(string(m.Kind)), m.Score,
				shown(m.Entry.ID), shown(m.Entry.List), shown(fmt.Sprint(m.Entry.Countries())), dec, shown(m.EntrySHA256[:min(len(m.EntrySHA256), screen.MinEntryHashPrefix)]))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range res {
		// The whole fingerprint: a decision names it by at least 32 of
		// its digits (--org-fingerprint), and a few shown are a prefix a
		// tenant can grind a name to.
		if _, err := fmt.Fprintf(w, "\n%s: %s\n  source: %s\n  org fingerprint: %s\n", shown(r.Org), r.Status, shown(r.Source),
			r.OrgFingerprint); err != nil {
			return err
		}
	}
	return nil
}

// screenPlanLaw puts the screening result into every query of a planner
// law, keeping the days it changes on.
type screenPlanLaw struct {
	law planner.Law
	scr *screen.Screener
}

func (l screenPlanLaw) Session(q policy.Query) (planner.Session, error) {
	return l.law.Session(l.scr.Query(q))
}

// SessionContext passes a plan's context on to the wrapped law when it
// takes one (planner.ContextLaw), so the plan's sessions stop with it.
func (l screenPlanLaw) SessionContext(ctx context.Context, q policy.Query) (planner.Session, error) {
	if cl, ok := l.law.(planner.ContextLaw); ok {
		return cl.SessionContext(ctx, l.scr.Query(q))
	}
	return l.Session(q)
}

// Snapshot keeps the wrapped law's snapshot (planner.SnapshotLaw), so that
// a plan through the server's screening judges under one rules revision.
func (l screenPlanLaw) Snapshot() planner.Law {
	if sl, ok := l.law.(planner.SnapshotLaw); ok {
		return screenPlanLaw{sl.Snapshot(), l.scr}
	}
	return l
}

func (l screenPlanLaw) Dates() []catalog.Date {
	if dl, ok := l.law.(planner.DatedLaw); ok {
		return dl.Dates()
	}
	return nil
}

// QueryDates passes on the wrapped law's days of a query's own that can
// change its answers (planner.QueryDatedLaw), asked of the query as
// screened, as its sessions are: without it every caller fell back to
// policy.QueryDates, every licence's expiry and none of the ledger's
// days, so an organisation's licences that lift nothing each cost a law
// session in every plan's horizon and every live run's check, and a
// ledger window's days never reached a horizon.
func (l screenPlanLaw) QueryDates(q policy.Query) []catalog.Date {
	if ql, ok := l.law.(planner.QueryDatedLaw); ok {
		return ql.QueryDates(l.scr.Query(q))
	}
	return policy.QueryDates(q)
}

// screenTransferLaw does the same for the transfer law.
type screenTransferLaw struct {
	law interface {
		transfer.Law
		transfer.RuleLister
	}
	scr *screen.Screener
}

func (l screenTransferLaw) EvaluateTransfer(q policy.Query, ds *catalog.Dataset, to string) policy.Decision {
	return l.law.EvaluateTransfer(l.scr.Query(q), ds, to)
}

func (l screenTransferLaw) Rules(asOf catalog.Date) []policy.RuleStatus { return l.law.Rules(asOf) }

// Pin screens the law in force now (transfer.Pinner), so that a staging's
// decision and the rules its ledger entry lists come from one revision.
func (l screenTransferLaw) Pin() transfer.Law {
	p, ok := l.law.(transfer.Pinner)
	if !ok {
		return l
	}
	pinned, ok := p.Pin().(interface {
		transfer.Law
		transfer.RuleLister
	})
	if !ok {
		return l
	}
	return screenTransferLaw{pinned, l.scr}
}
