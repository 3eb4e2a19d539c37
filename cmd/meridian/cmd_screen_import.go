package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/plainfile"
	"meridian.dev/meridian/screen"
)

func newScreenImportCmd() *cobra.Command {
	var out string
	var partial, older, damaged bool
	cmd := &cobra.Command{
		Use:   "import FILE [--allow-partial] [--allow-older] [--replace-damaged] [-o table|json|yaml]",
		Short: "Import the Consolidated Screening List (CSV or JSON) into the state directory",
		Long: `Import reads the US Consolidated Screening List as the International Trade
Administration publishes it (consolidated.csv or consolidated.json, which you
download yourself) and replaces the list kept in $MERIDIAN_HOME/screening. A
file that does not parse changes nothing; errors name the line or record.

The file replaces every list at once. A file that lacks lists the stored list
holds (an extract of one list, say), or holds fewer than nine tenths of its
entries (a download cut short), is refused and changes nothing: the error names
the lists missing and how many entries fewer, as the parties of the lists left
out would screen clear. --allow-partial imports it all the same.

A file whose newest listing (the latest start_date of its entries) is older
than the stored list's, or that has no start_date where the stored list has
them, is an earlier publication: it lacks every party listed since, which would
screen clear. It is refused and changes nothing; --allow-older imports it all
the same.

A stored list that is there but does not read (cut, blanked, not a list an
import wrote) cannot be checked against: an import over it is refused and
changes nothing, naming the stored file (screenings meanwhile hold every
organisation as undetermined). Restore it from a backup, or replace it
unchecked with --replace-damaged; the audit record says why it was unchecked.

Each import is written to the audit log (kind screening-import) before the
list is replaced: the file's hash, the stored list's, the entries of each and
the ids of the entries the file removes, which are also printed. When the
audit log cannot be written, the list is not replaced.

A dismissal recorded by an earlier version, with an earlier hash of its entry
that reads the text as written, is carried over to the entry's hash now when
the stored list still holds the entry as dismissed: a copy is written to the
audit log, then appended to $MERIDIAN_HOME/screening/decisions.json, saying
from which hash, so that the dismissal holds through a republication of the
entry in capitals or other punctuation. When the audit log cannot be written,
nothing is imported.`,
		Example: `  meridian screen import consolidated.csv
  meridian screen import consolidated.json -o json
  meridian screen import entity-list-only.csv --allow-partial
  meridian screen import consolidated-2025-06.csv --allow-older`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The file named may be a pipe: screen import <(curl …).
			data, err := plainfile.ReadNamed(args[0], screenListMaxBytes)
			if errors.Is(err, plainfile.ErrTooLarge) {
				// The bound is the list's, not the file system's: say
				// which, and that the stored list is as it was.
				return badInput(fmt.Errorf("%w, the bound of a screening list file (%d MiB; the published list is tens of MB); nothing imported",
					err, screenListMaxBytes>>20))
			}
			if err != nil {
				return badInput(err)
			}
			st, err := screenStore()
			if err != nil {
				return err
			}
			// The dismissals carried over are written to the audit log
			// before decisions.json: written after, an audit log that
			// could not be written left them in force unaudited, and
			// the next import, finding them carried over, never
			// audited them.
			var auditErr, importAuditErr error
			carried, audited := 0, false
			var left []screen.Decision
			var bound string
			var rec screen.ImportRecord
			l, rekeyed, err := st.ImportWith(args[0], data, screen.ImportOptions{Partial: partial, Older: older, Damaged: damaged, Record: func(ds []screen.Decision) error {
				carried = len(ds)
				auditErr = auditDecisions(cmd.Context(), ds)
				audited = auditErr == nil
				return auditErr
			}, NotCarried: func(ds []screen.Decision, why string) { left, bound = ds, why }, Audit: func(r screen.ImportRecord) error {
				if r.Failed != "" {
					// The list recorded as imported was not put in
					// place: said best effort, the error says it too.
					if err := auditImport(cmd.Context(), r); err != nil {
						fmt.Fprintf(os.Stderr, "warning: the audit log's record of this import says it was imported, and saying it failed failed too: %v\n", err)
					}
					return nil
				}
				rec = r
				importAuditErr = auditImport(cmd.Context(), r)
				return importAuditErr
			}})
			switch {
			case err != nil && importAuditErr != nil:
				return fmt.Errorf("the list is not replaced: an import is written to the audit log first, which failed: %w", importAuditErr)
			case err != nil && auditErr != nil:
				return fmt.Errorf("nothing imported: %d dismissals recorded with an earlier hash of their entry are carried over to its hash now, and written to the audit log first, which failed (the next import tries again): %w",
					carried, auditErr)
			case err != nil && audited:
				return fmt.Errorf("%w (the %d dismissals this import carried over are written to the audit log)", err, carried)
			case errors.Is(err, screen.ErrListNotWritten):
				return err // the storage's fault, not the file's
			case err != nil:
				return badInput(err)
			}
			info := map[string]any{"file": l.File, "sha256": l.SHA256, "importedAt": l.ImportedAt, "entries": len(l.Entries), "counts": l.Counts,
				"dismissalsCarriedOver": len(rekeyed), "previousSha256": rec.PreviousSHA256, "removed": nonNilIDs(rec.Removed),
				"removedCount": rec.RemovedCount, "removedSha256": rec.RemovedSHA256, "added": rec.Added}
			if len(left) > 0 {
				// The import went ahead; these dismissals lapse, and
				// their matches show again for a person to decide.
				type notCarried struct {
					Org     string `json:"org"`
					Tenant  string `json:"tenant,omitempty"`
					EntryID string `json:"entryId"`
					Entry   string `json:"entry"`
				}
				nc := make([]notCarried, len(left))
				for i, d := range left {
					nc[i] = notCarried{d.Org, d.Tenant, d.EntryID, d.Entry}
				}
				info["dismissalsNotCarriedOver"] = nc
				fmt.Fprintf(cmd.ErrOrStderr(), "meridian screen import: warning: %d dismissals were not carried over and lapse (their matches show again for review): %s\n", len(left), shown(bound))
				for _, d := range nc {
					fmt.Fprintf(cmd.ErrOrStderr(), "  organisation %s, entry %s (%s)\n", shown(d.Org), shown(d.EntryID), shown(d.Entry))
				}
			}
			return render(cmd.OutOrStdout(), out, info, func(w io.Writer) error {
				fmt.Fprintf(w, "imported %d entries from %s (sha256 %s)\n", len(l.Entries), l.File, l.SHA256)
				if rec.PreviousSHA256 != "" {
					fmt.Fprintf(w, "replaced the list imported from %s (sha256 %s, %d entries): %d entries added, %d removed\n",
						shown(rec.PreviousFile), rec.PreviousSHA256, rec.PreviousEntries, rec.Added, rec.RemovedCount)
					for _, id := range rec.Removed {
						fmt.Fprintf(w, "  removed %s\n", shown(id))
					}
					if more := rec.RemovedCount - len(rec.Removed); more > 0 {
						fmt.Fprintf(w, "  and %d more removed (the sha256 of all %d removed ids, sorted, one a line: %s)\n", more, rec.RemovedCount, rec.RemovedSHA256)
					}
				}
				if len(rekeyed) > 0 {
					fmt.Fprintf(w, "carried %d dismissals recorded with an earlier hash of their entry over to its hash now (recorded in %s and the audit log)\n",
						len(rekeyed), st.DecisionsPath())
				}
				var lists []string
				for k := range l.Counts {
					lists = append(lists, k)
				}
				sort.Strings(lists)
				for _, k := range lists {
					fmt.Fprintf(w, "  %-5s %d\n", k, l.Counts[k])
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&partial, "allow-partial", false, "import a file that lacks lists the stored list holds, or holds far fewer entries; it replaces the whole list")
	cmd.Flags().BoolVar(&older, "allow-older", false, "import a file whose newest start_date is older than the stored list's (an earlier publication); it replaces the whole list")
	cmd.Flags().BoolVar(&damaged, "replace-damaged", false, "replace a stored list that is there but does not read, unchecked (the file cannot be checked against it)")
	addOutputFlag(cmd, &out)
	return cmd
}

// auditDecisions writes the dismissals an import carries over to the state
// directory's audit log, all of them or none (one transaction).
func auditDecisions(ctx context.Context, ds []screen.Decision) error {
	recs := make([]audit.Record, 0, len(ds))
	for _, d := range ds {
		rec, err := audit.NewRecord(KindScreeningDecision, "", d)
		if err != nil {
			return err
		}
		recs = append(recs, rec)
	}
	return appendStateAudit(ctx, recs...)
}

// appendStateAudit writes recs to the state directory's audit log, all of
// them or none (one transaction).
func appendStateAudit(ctx context.Context, recs ...audit.Record) error {
	st, err := openState()
	if err != nil {
		return err
	}
	db, err := st.auditStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.AppendAudit(ctx, recs...)
}

// KindScreeningImport is the audit kind of an import of the screening list.
const KindScreeningImport = "screening-import"

// auditImport writes an import of the screening list to the state
// directory's audit log.
func auditImport(ctx context.Context, r screen.ImportRecord) error {
	rec, err := audit.NewRecord(KindScreeningImport, "", r)
	if err != nil {
		return err
	}
	return appendStateAudit(ctx, rec)
}

// nonNilIDs is ids, or an empty list for none, so that JSON writes [].
func nonNilIDs(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	return ids
}

// screenListMaxBytes is screen.MaxFileBytes, as the tests of the bound see
// it.
var screenListMaxBytes int64 = screen.MaxFileBytes
