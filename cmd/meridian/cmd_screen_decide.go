package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/screen"
	"meridian.dev/meridian/store"
)

// newScreenDecideCmd is `screen confirm` or `screen dismiss`.
func newScreenDecideCmd(action string) *cobra.Command {
	var by, reason, out, tenant, seen, orgSeen string
	var files []string
	verb := map[string]string{screen.Confirm: "is", screen.Dismiss: "is not"}[action]
	cmd := &cobra.Command{
		Use:   action + " ORG ENTRY-ID --reason TEXT [--entry-sha256 HASH] [--org-fingerprint HASH] [--by NAME] [--tenant T | -f ORG-FILE]",
		Short: fmt.Sprintf("Record that an organisation %s the party of a list entry", verb),
		Long: fmt.Sprintf(`%s records a person's decision that organisation ORG %s the party of
list entry ENTRY-ID (as 'meridian screen ORG-FILE' shows it), with who decided
and why. Decisions are kept, oldest first, in $MERIDIAN_HOME/screening/
decisions.json, rewritten atomically under a lock, and each is written first
to the state directory's audit log (kind screening-decision), the hash-chained
log 'meridian audit verify' checks: when the audit log cannot be written,
nothing is decided. The latest decision on an organisation and entry counts.

A decision is about one tenant's organisation as it is now: the organisation
registered to --tenant (default: the default tenant) in the state directory's
database, or, with -f, the one of that name in ORG-FILE (the default tenant's).
It holds while the organisation's names, country and addresses stay as they
were; another tenant's organisation of the same name, or this one changed,
is screened afresh. A dismissal also holds only while the list entry is as it
was when dismissed: a later import that changes the entry (a new alias or
address, say) shows the match for a decision again.

A decision is recorded against the entry as it is when the command runs.
Give --entry-sha256 the entry's hash as the screening you reviewed showed it
(ENTRY-SHA256 in the table, entrySha256 in -o json; the first 12 hex digits
are enough) to have it refused if an import changed the entry since, so a
dismissal is never tied to a version of the entry nobody saw. Without it, the
output says which version of the entry (its hash) the decision is about.

The decision is likewise about the organisation as it is when the command
runs. Give --org-fingerprint the organisation's fingerprint as the screening
you reviewed showed it ("org fingerprint" under each organisation in the
table, orgFingerprint in -o json; 32 hex digits or more) to have it refused if the
organisation's names, country or addresses changed since: a tenant could
otherwise rename its organisation to the listed name between the review and
the dismissal. Without it, the output names the organisation's names and
country the decision is about.`, action, verb),
		Example: fmt.Sprintf(`  meridian screen %s example-lab e1003 --entry-sha256 3f2a9c0d1b7e --org-fingerprint 9b1c4e27a0d35f8e2c61b0a94d7e3f12 --reason "register number differs (HRB 1)" --by a.person`, action),
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if by == "" {
				by = os.Getenv("USER")
			}
			org, err := decidedOrg(cmd.Context(), args[0], tenant, files)
			if err != nil {
				return err
			}
			// The fingerprint checked is the one recorded: both are of
			// the organisation read once, here.
			if err := checkOrgFingerprint(orgSeen, org, tenant); err != nil {
				return badInput(err)
			}
			st, err := screenStore()
			if err != nil {
				return err
			}
			// The decision is written to the audit log before
			// decisions.json: written after, an audit log that could not
			// be written left the decision in force unaudited.
			var auditErr error
			audited := false
			d, err := st.DecideRecorded(tenant, org, args[1], seen, action, by, reason, func(d screen.Decision) error {
				auditErr = auditDecision(cmd.Context(), d)
				audited = auditErr == nil
				return auditErr
			})
			switch {
			case err != nil && auditErr != nil:
				return fmt.Errorf("nothing decided: the decision is written to the audit log first, which failed: %w", auditErr)
			case err != nil && audited:
				return fmt.Errorf("the decision is in the audit log but not in force, as %s could not be written (decide again): %w", st.DecisionsPath(), err)
			case err != nil:
				return badInput(err)
			}
			return render(cmd.OutOrStdout(), out, d, func(w io.Writer) error {
				version := fmt.Sprintf("entry %s as it is now (entry sha256 %s; not checked against the screening reviewed: give --entry-sha256 to have a changed entry refused)", d.EntryID, d.EntrySHA256)
				if seen != "" {
					version = fmt.Sprintf("entry %s as reviewed (entry sha256 %s)", d.EntryID, d.EntrySHA256)
				}
				orgVersion := fmt.Sprintf("as reviewed (org fingerprint %s)", d.Fingerprint)
				if orgSeen == "" {
					orgVersion = fmt.Sprintf("as it is now (org fingerprint %s; not checked against the screening reviewed: give --org-fingerprint to have a changed organisation refused): names %s, headquarters %s",
						d.Fingerprint, quotedNames(org.ScreeningNames()), shown(org.Spec.Headquarters))
					if p := org.ParentHQ(); p != "" && p != org.Spec.Headquarters {
						orgVersion += ", parent's headquarters " + shown(p)
					}
				}
				_, err := fmt.Fprintf(w, "%s: %s %s %s (%s), by %s at %s: %s\norganisation %s %s\nrecorded in %s and the audit log\n",
					action, d.Org, verb, version, d.Entry, d.By, d.Time.Format("2006-01-02T15:04:05Z"), d.Reason, shown(d.Org), orgVersion, st.DecisionsPath())
				return err
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; at most 2,048 bytes of text on one line)")
	cmd.Flags().StringVar(&by, "by", "", "who decides (default $USER; at most 256 bytes)")
	cmd.Flags().StringVar(&seen, "entry-sha256", "", "the entry's hash as the screening reviewed showed it (32 to 64 hex digits); refused when the entry has changed since")
	cmd.Flags().StringVar(&orgSeen, "org-fingerprint", "", "the organisation's fingerprint as the screening reviewed showed it (32 to 64 hex digits); refused when the organisation has changed since")
	cmd.Flags().StringVar(&tenant, "tenant", catalog.DefaultTenant, "the tenant whose registered organisation ORG is")
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "file with the Organization ORG (the default tenant's), instead of the registered one")
	addOutputFlag(cmd, &out)
	return cmd
}

// minOrgFingerprint is the fewest hex digits of an organisation's
// fingerprint --org-fingerprint takes: 128 bits. A tenant who can rename
// its organisation can try names until one's fingerprint begins with the
// digits a reviewer gave; with 12 (48 bits) that was within reach.
const minOrgFingerprint = 32

// checkOrgFingerprint refuses a decision about org when seen, the
// organisation's fingerprint as the screening reviewed showed it (whole
// or its first minOrgFingerprint hex digits or more), is not its
// fingerprint now: its names, country or addresses changed since.
func checkOrgFingerprint(seen string, org *catalog.Organization, tenant string) error {
	seen = strings.ToLower(strings.TrimSpace(seen))
	if seen == "" {
		return nil
	}
	if len(seen) < minOrgFingerprint || len(seen) > sha256.Size*2 || strings.Trim(seen, "0123456789abcdef") != "" {
		return fmt.Errorf("--org-fingerprint %q: want the organisation's fingerprint as screening shows it (orgFingerprint), %d to %d hex digits", seen, minOrgFingerprint, sha256.Size*2)
	}
	if fp := screen.Fingerprint(org); !strings.HasPrefix(fp, seen) {
		return fmt.Errorf("--org-fingerprint %s: tenant %s's organisation %s is no longer the one screening showed, it is now %s (names %s, headquarters %s): its names, country or addresses changed since; screen it again and decide on it as it is",
			seen, catalog.TenantOr(tenant), shown(org.Metadata.Name), fp, quotedNames(org.ScreeningNames()), shown(org.Spec.Headquarters))
	}
	return nil
}

// quotedNames is names, each quoted as shown quotes it, comma-separated.
func quotedNames(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = `"` + shown(n) + `"`
	}
	return strings.Join(q, ", ")
}

// decidedOrg is the organisation a decision is about: name in files when
// given, else the one registered to tenant in the state directory.
func decidedOrg(ctx context.Context, name, tenant string, files []string) (*catalog.Organization, error) {
	if len(files) > 0 {
		if tenant != catalog.DefaultTenant {
			return nil, badInput(errors.New("--tenant: the organisation of a file is the default tenant's; leave out -f for another tenant's registered one"))
		}
		w, err := loadWorld("", files...)
		if err != nil {
			return nil, badInput(err)
		}
		if o := w.Organizations[name]; o != nil {
			return o, nil
		}
		return nil, badInput(fmt.Errorf("ORG %q: no Organization of that name in %v", name, files))
	}
	if !catalog.ValidTenant(tenant) {
		return nil, badInput(fmt.Errorf("--tenant %q: not a tenant name", tenant))
	}
	st, err := openState()
	if err != nil {
		return nil, err
	}
	db, err := st.auditStore(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	res, err := db.GetResource(ctx, tenant, catalog.KindOrganization, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, badInput(fmt.Errorf("ORG %q: no Organization of that name registered to tenant %s (name its file with -f, or the tenant with --tenant)", name, tenant))
	}
	if err != nil {
		return nil, err
	}
	var o catalog.Organization
	if err := json.Unmarshal(res.Doc, &o); err != nil {
		return nil, fmt.Errorf("tenant %s's Organization %s: %w", tenant, name, err)
	}
	return &o, nil
}

// KindScreeningDecision is the audit kind of a person's screening decision.
const KindScreeningDecision = "screening-decision"

// auditDecision writes a screening decision to the state directory's audit
// log (SQLite serialises it beside a running server's own entries).
func auditDecision(ctx context.Context, d screen.Decision) error {
	return auditDecisions(ctx, []screen.Decision{d})
}
