package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/screen"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// stageNow is the clock a dry run of dataset stage for today is judged
// by; tests stand in another instant.
var stageNow = time.Now

func newDatasetStageCmd() *cobra.Command {
	var to, asOf, catalogDir, runID, out, org string
	var files, ruleDirs []string
	var workers, batch int
	var verifyArrival, dryRun bool
	cmd := &cobra.Command{
		Use: "stage NAME --to SITE",
		Example: `  meridian dataset stage chat-logs --to my-johor-1
  meridian dataset stage chat-logs --to my-johor-1 --dry-run --as-of 2027-01-15   # would the law allow it then?
  meridian dataset stage chat-logs --to my-site -f my-site.yaml --run run-1234`,
		Short: "Copy a dataset's missing encrypted chunks to a site, if the law allows today",
		Long: `Stage asks the law whether the dataset may go to the site's country today
(the transfer happens now, so its date is the clock's, never one you give).
If not, it prints each denying rule with its reason and source and exits 3.
Otherwise it copies only the chunks the site's store lacks or holds damaged,
authenticating each, and records every batch in the ledger twice: as an
intent before it is sent and as a confirmation once it reads back intact.
A staging that is interrupted resumes where it stopped when run again, and
first reconciles what the interrupted one sent. --dry-run asks the law as
the staging would now (on every date it is somewhere on Earth) and moves
nothing; with --as-of it asks about that date alone.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if to == "" {
				return badInput(errors.New("--to: required (a site name)"))
			}
			if asOf != "" && !dryRun {
				return badInput(errors.New("--as-of: a transfer happens today; use --dry-run --as-of DATE to ask the law about another date without moving anything"))
			}
			// now is the instant a dry run for today is judged at, as the
			// staging is; zero for one asked about another date.
			now := stageNow()
			date := transfer.Today(now)
			if asOf != "" {
				var err error
				if date, err = parseAsOf(asOf); err != nil {
					return badInput(err)
				}
				now = time.Time{}
			}
			st, err := openState()
			if err != nil {
				return err
			}
			w, err := st.world(catalogDir, files)
			if err != nil {
				return badInput(err)
			}
			ds, ok := w.Datasets[name]
			if !ok {
				return badInput(fmt.Errorf("dataset %q: not registered (run `meridian dataset add` or pass -f)", name))
			}
			// The staging's own check, made before a dry run too: else
			// the dry run said "would be allowed" of a staging that then
			// failed, as the server's dry run no longer does.
			if ds.Spec.Store == "" {
				return badInput(fmt.Errorf("dataset %q: no spec.store, so nothing to stage (a dataset declared only; `meridian dataset add` stores one)", name))
			}
			site := w.Site(to)
			if site == nil {
				return badInput(fmt.Errorf("--to %q: no such site", to))
			}
			lw, err := law(ruleDirs)
			if err != nil {
				return err
			}
			q, err := transferQuery(w, date, ds, org)
			if err != nil {
				return err
			}
			// The organisation is screened against the list imported into
			// the state directory, as plan screens it and as the server
			// screens every staging: an exporter that matches a listed
			// party, or whose match awaits a person's decision, moves no
			// data (the law fails closed). Without this, a staging from
			// the command line went ahead for an organisation every plan
			// refused.
			q = (&screen.Screener{Store: &screen.Store{Dir: st.ScreeningDir()}}).Query(q)
			// Volume thresholds count what was exported before: the state
			// directory's ledger. A dry run on a state directory without
			// a database has none to read, and its advisory says so. A
			// dry run reads the ledger read-only: opening the audit store
			// would anchor the log (a first anchor, the anchor key, a
			// key entry), and a dry run writes nothing.
			if dryRun {
				if _, serr := os.Stat(st.Database()); serr == nil {
					r, err := store.OpenAuditReader(cmd.Context(), st.Database())
					if err != nil {
						return err
					}
					defer r.Close()
					q.Exports = transfer.ExportsOf(transfer.AuditLedger{Store: r})
				}
				dst := *site
				dst.Spec.Store = run.SiteStore(st.Path, site)
				return dryRunStage(cmd, out, lw, q, ds, &dst, now)
			}
			db, err := st.ledgerStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			q.Exports = transfer.ExportsOf(transfer.AuditLedger{Store: db})
			bar := &barProgress{w: cmd.ErrOrStderr()}
			dst := *site
			dst.Spec.Store = run.SiteStore(st.Path, site)
			stager := &transfer.Stager{Law: lw, Ledger: transfer.AuditLedger{Store: db}, Keys: st.keyrings(db.keyWitness()), Workers: workers, Progress: bar, Batch: batch}
			lctx, release, err := db.stagingLease(cmd.Context(), dst.Spec.Store, true, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer release()
			res, err := stager.Stage(lctx, transfer.Request{Dataset: ds, Site: &dst, RunID: runID, Query: q,
				Tenant: dataset.DefaultTenant, SitePrefix: run.DataPrefix(dataset.DefaultTenant)})
			var denied *transfer.DeniedError
			if errors.As(err, &denied) {
				// Like plan without a lawful placement: exit 3.
				return &codeError{code: exitNoPlacement, err: err}
			}
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), out, res.Entry, func(w io.Writer) error {
				fmt.Fprintf(w, "staged %s to %s (%s → %s, basis %s, as of %s): %d of %s sent, %s; %d already there\n",
					name, site.Metadata.Name, res.From, res.To, orNone(res.Basis), res.AsOf, res.ChunksSent, plural(res.Chunks, "chunk"), humanBytes(res.BytesSent), res.Skipped)
				fmt.Fprintf(w, "  manifest SHA-256 %s (pass it to `dataset unseal --manifest-sha256` to read this version and no other)\n", res.ManifestSHA256)
				if res.Damaged > 0 || res.Reconciled > 0 {
					fmt.Fprintf(w, "  %d chunks at the site failed authentication and were sent again; %d objects of an interrupted staging were found intact and confirmed\n", res.Damaged, res.Reconciled)
				}
				for _, f := range res.Decision.Obligations {
					fmt.Fprintf(w, "  obligation %s: %s (source: %s)\n", f.Rule, planner.FindingMessage(f), f.Source)
				}
				for _, f := range res.Decision.Advisories {
					fmt.Fprintf(w, "  advisory %s: %s (source: %s)\n", f.Rule, planner.FindingMessage(f), f.Source)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "site to stage to")
	cmd.Flags().StringVar(&asOf, "as-of", "", "with --dry-run: the date to ask the law about (YYYY-MM-DD)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "ask the law only (as of --as-of or today); move nothing")
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "resource file or directory with sites (repeatable)")
	cmd.Flags().StringVar(&catalogDir, "catalog", "", "directory of Site files that replace the built-in sites")
	cmd.Flags().StringVar(&runID, "run", "", "run id this staging serves (recorded in the ledger)")
	cmd.Flags().StringArrayVar(&ruleDirs, "rules", nil, "directory of extra policy rules (repeatable)")
	cmd.Flags().StringVar(&org, "org", "", "organization that moves the data (from -f files), for rules that depend on it")
	cmd.Flags().IntVar(&workers, "workers", 4, "chunks copied at once")
	cmd.Flags().IntVar(&batch, "batch", 0, "chunks per ledger intent (default 64)")
	cmd.Flags().MarkHidden("batch")
	cmd.Flags().BoolVar(&verifyArrival, "verify-arrival", true, "read each chunk back from the site after writing it (always on)")
	cmd.Flags().MarkDeprecated("verify-arrival", "every chunk is read back and checked at the site")
	addOutputFlag(cmd, &out)
	return cmd
}

// dryRunStage asks the law about a staging to site (its store as the
// staging writes it) and moves nothing: with now set, as the staging
// would at that instant (run.StagingDecision: the dataset placed by its
// store, each day it is somewhere on Earth), else on q's date alone.
func dryRunStage(cmd *cobra.Command, out string, lw transfer.Law, q policy.Query, ds *catalog.Dataset, site *catalog.Site, now time.Time) error {
	dec, day, err := run.StagingDecision(lw, q, ds, site, now)
	if err != nil {
		return badInput(err)
	}
	q.AsOf = day
	doc := map[string]any{"dataset": ds.Metadata.Name, "site": site.Metadata.Name, "asOf": q.AsOf.String(), "allowed": dec.Allowed, "decision": dec}
	err = render(cmd.OutOrStdout(), out, doc, func(w io.Writer) error {
		verdict := "would be allowed"
		if !dec.Allowed {
			verdict = "would be refused"
		}
		fmt.Fprintf(w, "staging %s to %s (%s) as of %s %s (dry run: nothing moved)\n", ds.Metadata.Name, site.Metadata.Name, site.Spec.Country, q.AsOf, verdict)
		for _, f := range dec.Denials {
			fmt.Fprintf(w, "  rule %s: %s (source: %s)\n", f.Rule, planner.FindingMessage(f), f.Source)
		}
		return nil
	})
	if err == nil && !dec.Allowed {
		return &codeError{code: exitNoPlacement, err: errSilent}
	}
	return err
}
