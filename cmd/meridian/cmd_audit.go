package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/store"
)

func init() { register(newAuditCmd) }

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "audit",
		Example: `  meridian audit log --run run-c8ee8541244b
  meridian audit verify`,
		Short: "Read and verify the tamper-evident audit log",
	}
	var cf clientFlags
	var out, runID string
	var all bool
	logCmd := &cobra.Command{
		Use:   "log [--run ID | --all]",
		Short: "Print audit entries: plans with rule ids, decisions, state changes, checkpoint moves",
		Example: `  meridian audit log --run run-3f9a1c2b7d4e -o json
  meridian audit log --all        # the whole chain: other tenants' entries as their hashes only`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all && runID != "" {
				return badInput(errors.New("--all and --run: give one (--all is the whole chain, --run one run's entries)"))
			}
			c, err := cf.client()
			if err != nil {
				return badInput(err)
			}
			// The entries are printed a page at a time as they come,
			// and none is kept: a log of any length prints in the
			// memory of one page (a transfer intent can be megabytes).
			o, err := newPagedOut(cmd.OutOrStdout(), out, "entries", "SEQ\tTIME\tKIND\tRUN\tHASH\tPAYLOAD", auditRow)
			if err != nil {
				return err
			}
			if all {
				err = c.AuditAllEach(cmd.Context(), o.page)
			} else {
				err = c.AuditEach(cmd.Context(), runID, o.page)
			}
			if err != nil {
				return apiErr(err)
			}
			return o.end()
		},
	}
	logCmd.Flags().StringVar(&runID, "run", "", "only this run's entries")
	logCmd.Flags().BoolVar(&all, "all", false, "the whole chain, other tenants' entries as their hashes only (so that the chain can be followed); an admin token reads the server's own entries in full")
	addClientFlags(logCmd, &cf)
	addOutputFlag(logCmd, &out)

	var vcf clientFlags
	var vout, stateFlag, anchorDir string
	verifyCmd := &cobra.Command{
		Use: "verify",
		Example: `  meridian audit verify                        # ask the server; exit 0 and the head hash when intact
  meridian audit verify --state /srv/meridian   # read the state directory itself (the server may refuse to start on a broken log)`,
		Short: "Check the hash chain and its anchor; name the first entry modified, deleted, reordered or cut off",
		Long: `Verify recomputes every entry's keyed hash and its link to the entry before,
then checks the chain against its signed anchor (kept in the anchor
directory, apart from the database), so that entries cut from the end are
found too. Exit 0 when the chain is intact, 1 when it is broken (the first
broken entry is printed; when the log also no longer holds the tail its
anchor recorded, or its anchor was removed or replaced, that is printed
beside the break, as "also CUT", with how a start accepts both: serve
--accept-broken-audit --accept-audit-cut N, N as printed there and in
cutSeq of the JSON; a start accepting an anchor replaced, or one put
beside the log with another key, keeps no key the log does not name: it
gives the anchor directory a fresh key, the old one kept aside).
Without the audit key (audit.key) the entry that
names the log's anchor key cannot be told from one written into the
database by hand, so the CUT and its N printed then may be made up by
whoever wrote the database: take N from the refusal of a start, which
holds the key. Exit 1 too, saying so, when the chain is intact but
the log records no anchor key (no audit-anchored entry): a log cut back to
before it was first anchored, with its anchor removed, reads the same, so
nothing shows that its tail is all there. The first server start, or a CLI
command that writes the log, anchors such a log and records the key (a
key it made: one it found in the anchor directory is kept aside there and
replaced by a fresh one). With
--state it reads the state directory directly instead of asking a server
(a directory whose servers keep their log in PostgreSQL, store.shared, is
refused), and writes nothing there: no key, anchor or database file is created or
changed. A state directory without its audit key (audit.key) is checked
only for the order and links of its entries and against its anchor, not
for their contents; it exits 1, NOT PROVEN, saying so. The state directory,
the anchor directory and the keys and anchor in them are refused (exit 2)
when a user other than this one (or root) owns them or a directory above
them, or may write one of them: that user could put back an older anchor
with the log cut to match.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var res audit.Result
			if stateFlag != "" {
				r, err := verifyOffline(cmd.Context(), stateFlag, anchorDir)
				if err != nil {
					return err
				}
				res = r
			} else {
				c, err := vcf.client()
				if err != nil {
					return badInput(err)
				}
				if res, err = c.Verify(cmd.Context()); err != nil {
					return apiErr(err)
				}
			}
			if err := render(cmd.OutOrStdout(), vout, res, func(w io.Writer) error { return printVerify(w, res) }); err != nil {
				return err
			}
			// A chain that verifies but names no anchor key fails too: a
			// log cut back to before it was first anchored, its anchor
			// removed, reads exactly so, and exit 0 would vouch for it.
			if !res.OK || res.Unproven != "" {
				return &codeError{code: exitError, err: errSilent}
			}
			return nil
		},
	}
	addClientFlags(verifyCmd, &vcf)
	addOutputFlag(verifyCmd, &vout)
	verifyCmd.Flags().StringVar(&stateFlag, "state", "", "verify the state directory's database directly, without a server")
	verifyCmd.Flags().StringVar(&anchorDir, "anchor", "", "anchor directory (default STATE/anchor)")
	cmd.AddCommand(logCmd, verifyCmd)
	return cmd
}

// verifyOffline verifies a state directory's audit log and its anchor. It
// writes nothing: the database is read through the read-only reader (no
// migration, no WAL or shared-memory file left behind), and neither the
// audit key nor the anchor directory and its key are created when they are
// missing. Without the audit key only the order and links of the entries
// and the anchor are checked, and the result says so (Unproven, Unkeyed).
func verifyOffline(ctx context.Context, stateDir, anchorDir string) (audit.Result, error) {
	// A log, key or anchor another user could have swapped proves
	// nothing: refused as serve refuses it.
	if err := checkStateDir(stateDir); err != nil {
		return audit.Result{}, err
	}
	if err := checkVerifyFiles(stateDir, anchorDir); err != nil {
		return audit.Result{}, err
	}
	path := statedir.Dir{Path: stateDir}.Database()
	if _, err := os.Stat(path); err != nil {
		return audit.Result{}, badInput(fmt.Errorf("--state %s: %w", stateDir, err))
	}
	if (state{Dir: statedir.Dir{Path: stateDir}}).sharedStore() {
		// The servers' log is not in this directory: verifying the
		// database here and printing it intact vouched for a log that
		// may have been cut or edited.
		return audit.Result{}, badInput(fmt.Errorf("--state %s: this directory's servers keep their audit log in PostgreSQL (%s), not in its own database; verify theirs through a server: meridian audit verify (GET /v1/audit/verify)", stateDir, statedir.SharedStore))
	}
	chain := audit.NewUnkeyedChain()
	key, err := audit.ReadKey(stateDir)
	switch {
	case err == nil:
		chain = audit.NewChain(key)
	case !errors.Is(err, fs.ErrNotExist):
		return audit.Result{}, err
	}
	anchors, err := audit.ReadAnchors(verifyAnchorDir(stateDir, anchorDir))
	if err != nil {
		return audit.Result{}, err
	}
	r, err := store.OpenAuditReader(ctx, path)
	if err != nil {
		return audit.Result{}, err
	}
	defer r.Close()
	return r.VerifyAudit(ctx, chain, anchors)
}

// verifyAnchorDir is the anchor directory audit verify --state reads:
// --anchor's, else STATE/anchor.
func verifyAnchorDir(stateDir, anchorDir string) string {
	if anchorDir == "" {
		return statedir.Dir{Path: stateDir}.Anchor()
	}
	return anchorDir
}

// checkVerifyFiles refuses, as serve's start does (checkSecrets), the
// anchor directory (--anchor's, else STATE/anchor) and the keys and the
// anchor verify reads, when a user other than this one (or root) owns one
// of them or a directory on its path, or may write one of them (a sticky
// directory excepted). checkStateDir judges only the state directory's
// path: a user who could write an anchor directory given apart from it,
// or STATE/anchor itself, could put an older anchor.json back with the
// log cut to match, and verify would call the cut log intact. The error
// names the flag or the file, the path and the problem (exit 2).
func checkVerifyFiles(stateDir, anchorDir string) error {
	what := "--anchor"
	if anchorDir == "" {
		what = "anchor directory"
	}
	adir := verifyAnchorDir(stateDir, anchorDir)
	err := newPermWalk().checkSecrets([]secretFile{
		{what, adir, false},
		{"audit anchor", filepath.Join(adir, audit.AnchorFile), false},
		{"audit anchor key", filepath.Join(adir, audit.AnchorKeyFile), false},
		{"audit key", statedir.Dir{Path: stateDir}.Join(audit.KeyFile), false},
	})
	if err != nil {
		return badInput(err)
	}
	return nil
}

// auditRow is an audit entry as audit log's table prints it.
func auditRow(e audit.Entry) string {
	if e.Redacted {
		return fmt.Sprintf("%d\t%s\t-\t-\t%s\t(another tenant's entry: its hash only)", e.Seq, shown(shortTime(e.Time)), shortHash(e.Hash))
	}
	p := string(e.Payload)
	if len(p) > 100 {
		p = p[:97] + "..."
	}
	return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s", e.Seq, shown(shortTime(e.Time)), shown(e.Kind), shown(e.RunID), shortHash(e.Hash), shown(p))
}

func printVerify(w io.Writer, res audit.Result) error {
	for _, a := range res.Accepted {
		if _, err := fmt.Fprintf(w, "audit log broken at entry %d (%s: %s), accepted at entry %d; checked on past it\n", a.Problem.Seq, shown(a.Problem.Kind), shown(a.Problem.Detail), a.At); err != nil {
			return err
		}
	}
	if more := res.AcceptedCount - int64(len(res.Accepted)); more > 0 {
		if _, err := fmt.Fprintf(w, "audit log broken at %d more entries, each accepted by a later entry; checked on past them\n", more); err != nil {
			return err
		}
	}
	head := shown(res.Head)
	if res.OK {
		anchored := ""
		if res.Anchored != nil {
			anchored = fmt.Sprintf(" (anchored at entry %d, %s)", res.Anchored.Seq, shown(res.Anchored.Time))
		}
		if res.Unkeyed {
			_, err := fmt.Fprintf(w, "audit log NOT PROVEN: %d entries in order and linked, head %s%s, but %s; restore the audit key to verify (a server started without it makes a new key, under which every entry fails)\n", res.Entries, head, anchored, shown(res.Unproven))
			return err
		}
		if res.Unproven != "" {
			_, err := fmt.Fprintf(w, "audit log NOT PROVEN: %d entries chain correctly, head %s%s, but %s; a server start or a CLI command that writes the log anchors it and records the key\n", res.Entries, head, anchored, shown(res.Unproven))
			return err
		}
		_, err := fmt.Fprintf(w, "audit log intact: %d entries, head %s%s\n", res.Entries, head, anchored)
		return err
	}
	if res.Problem == nil {
		// A server's answer that says the log is broken without saying
		// where: still broken, never a crash.
		_, err := fmt.Fprintln(w, "audit log BROKEN (the answer names no entry)")
		return err
	}
	if _, err := fmt.Fprintf(w, "audit log BROKEN at entry %d (%s): %s\n", res.Problem.Seq, shown(res.Problem.Kind), shown(res.Problem.Detail)); err != nil {
		return err
	}
	if p := res.AnchorProblem; p != nil {
		// Beside the break: accepting the break alone would anchor the
		// log over it, so a start accepts it only when told of it too.
		how := fmt.Sprintf("a start accepts the break only with it: serve --accept-broken-audit --accept-audit-cut %d", res.CutSeq())
		if p.Kind == audit.AnchorReplaced {
			// Accepted as the others: the start keeps no key the log
			// does not name, giving the directory a fresh one.
			how += " (the anchor directory's key, not the log's, is then kept aside and replaced by a fresh one)"
		}
		if _, err := fmt.Fprintf(w, "audit log also CUT from its anchor at entry %d (%s): %s; %s\n", p.Seq, shown(p.Kind), shown(p.Detail), how); err != nil {
			return err
		}
	}
	return nil
}

// logWhole fails, naming the entry, when the state directory's log is
// not whole: an entry missing, or one rewritten or replaced (its kind or
// payload changed, its seal kept) anywhere in it, gaps the operator
// accepted aside. It is the store's gap check over the whole log, the
// server's (the CLI's store is opened with it): the first check of a
// command (the read of the key entries at open, cliAnchor) reads every
// entry once and checks its seal and its link; this one reads what was
// written since, and a window of the entries before (the rolling
// re-check). A command that reads records the store does not check this
// way (a tenant's records: the ledger's) calls it before trusting them.
func (d *auditDB) logWhole(ctx context.Context) error {
	if _, _, err := lastSealedKeyEntry(ctx, d.SQLite, d.chain); err != nil {
		return fmt.Errorf("the state directory's audit log cannot be trusted: %w", err)
	}
	return nil
}
