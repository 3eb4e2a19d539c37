package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

func newDatasetLedgerCmd() *cobra.Command {
	var out, catalogDir string
	var files []string
	var noReconcile, showTotals bool
	cmd := &cobra.Command{
		Use: "ledger [NAME]",
		Example: `  meridian dataset ledger
  meridian dataset ledger chat-logs -o json`,
		Short: "Show what crossed which border: every confirmed transfer, and the totals per site",
		Long: `Ledger lists the confirmations in the transfer ledger (each batch of chunks
verified at its destination) and, per dataset and site, the bytes confirmed.
Intents that an interrupted staging left open are first reconciled against
the site's store: what is there intact is confirmed, the rest recorded as
abandoned, so that the bytes the ledger confirms are the bytes at the site.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openState()
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			db, err := st.ledgerStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.logWhole(cmd.Context()); err != nil {
				return err
			}
			led := transfer.AuditLedger{Store: db}
			if !noReconcile {
				if err := reconcileLedger(cmd.Context(), st, db, led, name, catalogDir, files); err != nil {
					return err
				}
			}
			entries, err := db.AuditSelect(cmd.Context(), store.AuditQuery{
				Kinds: []string{transfer.KindTransfer}, Tenant: dataset.DefaultTenant, Untenanted: store.AllUntenanted,
			})
			if err != nil {
				return err
			}
			type row struct {
				Seq  int64  `json:"seq"`
				Time string `json:"time"`
				transfer.Entry
			}
			rows := []row{}
			for _, e := range entries {
				var ent transfer.Entry
				if err := json.Unmarshal(e.Payload, &ent); err != nil {
					return fmt.Errorf("audit entry %d: transfer payload: %w", e.Seq, err)
				}
				if name != "" && ent.Dataset != name {
					continue
				}
				t := e.Time
				if pt, err := time.Parse(audit.TimeLayout, e.Time); err == nil {
					t = pt.UTC().Format(time.RFC3339)
				}
				rows = append(rows, row{Seq: e.Seq, Time: t, Entry: ent})
			}
			sums, err := transfer.Summarize(cmd.Context(), led, dataset.DefaultTenant)
			if err != nil {
				return err
			}
			totals := sums[:0]
			for _, x := range sums {
				if name == "" || x.Dataset == name {
					totals = append(totals, x)
				}
			}
			var doc any = rows
			if showTotals {
				doc = totals
			}
			return render(cmd.OutOrStdout(), out, doc, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TIME\tKIND\tDATASET\tSITE\tFROM→TO\tBASIS\tAS-OF\tRUN\tCHUNKS\tBYTES\tRULES")
				for _, r := range rows {
					kind := orDataset(r.Kind)
					if r.Reconciled {
						kind += " (reconciled)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s→%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", r.Time, kind, r.Dataset, r.Site, r.From, r.To,
						orNone(r.Basis), r.AsOf, orNone(r.RunID), r.ChunksSent, r.Chunks, humanBytes(r.BytesSent), orNone(strings.Join(r.Rules, ",")))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if len(totals) > 0 {
					fmt.Fprintln(w)
					tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "DATASET\tSITE\tKIND\tCHUNKS CONFIRMED\tBYTES CONFIRMED\tOPEN INTENTS")
					for _, x := range totals {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\n", x.Dataset, x.Site, x.Kind, x.ChunksSent, humanBytes(x.BytesConfirmed), x.OpenIntents)
					}
					return tw.Flush()
				}
				return nil
			})
		},
	}
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "resource file or directory with sites (repeatable)")
	cmd.Flags().StringVar(&catalogDir, "catalog", "", "directory of Site files that replace the built-in sites")
	cmd.Flags().BoolVar(&noReconcile, "no-reconcile", false, "show the ledger as it is, without checking open intents against the sites")
	cmd.Flags().BoolVar(&showTotals, "totals", false, "print only the totals per dataset and site (with -o json: the totals' JSON)")
	addOutputFlag(cmd, &out)
	return cmd
}

func orDataset(k string) string {
	if k == "" {
		return transfer.KindDataset
	}
	return k
}

// reconcileLedger closes the default tenant's open dataset intents (of one
// dataset, or all) against the sites' stores.
func reconcileLedger(ctx context.Context, st state, db *auditDB, led transfer.Ledger, name, catalogDir string, files []string) error {
	sums, err := transfer.Summarize(ctx, led, dataset.DefaultTenant)
	if err != nil {
		return err
	}
	var w *catalog.World
	for _, x := range sums {
		if x.OpenIntents == 0 || x.Kind != transfer.KindDataset || name != "" && x.Dataset != name {
			continue
		}
		if w == nil {
			if w, err = st.world(catalogDir, files); err != nil {
				return badInput(err)
			}
		}
		site := w.Site(x.Site)
		if site == nil {
			fmt.Fprintf(os.Stderr, "warning: %d open intents for %s at %s, a site not in the catalog: not reconciled\n", x.OpenIntents, x.Dataset, x.Site)
			continue
		}
		key, err := st.keyrings(db.keyWitness()).Get(dataset.DefaultTenant, x.Dataset)
		if err != nil {
			return err
		}
		sealer, err := seal.New(key, x.Dataset)
		if err != nil {
			return err
		}
		siteStore := run.SiteStore(st.Path, site)
		lctx, release, err := db.stagingLease(ctx, siteStore, false, os.Stderr)
		if errors.Is(err, store.ErrLeaseBusy) {
			// Its intents may be the staging's own, still crossing.
			fmt.Fprintf(os.Stderr, "warning: a staging into %s is under way: %d open intents for %s left to it\n", x.Site, x.OpenIntents, x.Dataset)
			continue
		}
		if err != nil {
			return err
		}
		err = reconcileAt(lctx, led, siteStore, sealer, x)
		release()
		if err != nil {
			return fmt.Errorf("reconcile %s at %s: %w", x.Dataset, x.Site, err)
		}
	}
	return nil
}

// reconcileAt closes the open intents of summary x's copy in siteStore.
func reconcileAt(ctx context.Context, led transfer.Ledger, siteStore string, sealer *seal.Sealer, x transfer.Summary) error {
	b, err := dataset.OpenStore(ctx, siteStore)
	if err != nil {
		return err
	}
	dst := b.Sub(run.DataPrefix(dataset.DefaultTenant))
	defer dst.Close()
	s := &transfer.Stager{Ledger: led}
	_, err = s.Reconcile(ctx, transfer.CopyRequest{Name: x.Dataset, Sealer: sealer, Dst: dst, Tenant: dataset.DefaultTenant,
		Entry: transfer.Entry{Kind: transfer.KindDataset, Dataset: x.Dataset, Site: x.Site}})
	return err
}
