package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/goccy/go-yaml"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

func init() { register(newDatasetCmd) }

// state is the CLI's state directory (its layout is package statedir's)
// with the age identity that opens its keyring, if one is set.
type state struct {
	statedir.Dir
	ageIdentity string // text of the file $MERIDIAN_AGE_IDENTITY names, if set
}

func openState() (state, error) {
	d, err := statedir.Default()
	if err != nil {
		return state{}, err
	}
	if err := os.MkdirAll(d.Datasets(), 0o700); err != nil {
		return state{}, err
	}
	st := state{Dir: d}
	if p := os.Getenv("MERIDIAN_AGE_IDENTITY"); p != "" {
		data, err := os.ReadFile(p)
		if err != nil {
			return state{}, fmt.Errorf("MERIDIAN_AGE_IDENTITY: %w", err)
		}
		st.ageIdentity = string(data)
	}
	return st, nil
}

func (s state) keyring() dataset.Keyring {
	return dataset.Keyring{Dir: s.Keyring(), AgeIdentity: s.ageIdentity}
}

// keyrings are the tenants' keyrings; the CLI's own is the default tenant's.
func (s state) keyrings() dataset.TenantKeyrings {
	return dataset.TenantKeyrings{Root: s.Path, AgeIdentity: s.ageIdentity}
}

// auditDB is the state directory's database with the audit anchor kept up
// to date: every entry the CLI appends (the transfer ledger) moves the
// anchor too, as the server's do.
type auditDB struct {
	*store.SQLite
	anchors *audit.Anchors
	follow  *audit.Follower
}

// Close writes the anchor and closes the database.
func (d *auditDB) Close() error {
	d.follow.Close()
	return d.SQLite.Close()
}

// auditStore opens the state directory's database, whose audit log (the
// chain `meridian audit verify` checks) holds the transfer ledger. SQLite
// serialises writers, so this is safe beside a running `meridian serve`.
func (s state) auditStore(ctx context.Context) (*auditDB, error) {
	key, err := audit.LoadKey(s.Path)
	if err != nil {
		return nil, err
	}
	anchors, err := audit.OpenAnchors(s.Anchor())
	if err != nil {
		return nil, err
	}
	d := &auditDB{anchors: anchors}
	d.follow = audit.NewFollower(anchors, func(ctx context.Context, seq int64) (string, bool, error) {
		return d.SQLite.AuditHashAt(ctx, seq)
	}, func(err error) { fmt.Fprintln(os.Stderr, "warning: audit anchor not advanced:", err) })
	db, err := store.OpenSQLite(ctx, s.Database(), store.Options{AuditKey: key, OnAudit: d.follow.Notify})
	if err != nil {
		return nil, err
	}
	d.SQLite = db
	go d.follow.Run()
	return d, nil
}
func (s state) world(catalogDir string, files []string) (*catalog.World, error) {
	return loadWorld(catalogDir, append([]string{s.Datasets()}, files...)...)
}

// law is the transfer law staging asks: the policy engine with the built-in
// packs and any --rules directories.
func law(ruleDirs []string) (transfer.Law, error) {
	e, err := policy.New(policy.Options{Dirs: ruleDirs})
	if err != nil {
		return nil, badInput(err)
	}
	return e, nil
}

// transferQuery is what the law needs to judge one dataset's move
// (transfer.Query, as the server asks it), for the organisation --org
// names.
func transferQuery(w *catalog.World, asOf catalog.Date, ds *catalog.Dataset, org string) (policy.Query, error) {
	var o *catalog.Organization
	if org != "" {
		var ok bool
		if o, ok = w.Organizations[org]; !ok {
			return policy.Query{}, badInput(fmt.Errorf("--org %q: no such organization (pass its file with -f)", org))
		}
	}
	return transfer.Query(w, asOf, o, ds), nil
}

func newDatasetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "dataset",
		Example: `  meridian dataset add chat-logs --from ./data --origin DE --classification personal --subjects 50000 --basis eu-scc
  meridian dataset stage chat-logs --to my-johor-1`,
		Short: "Add, stage, verify and unseal encrypted datasets",
		Long: `Datasets are stored as encrypted, content-addressed chunks with an
authenticated manifest. The key stays in the owner's keyring
($MERIDIAN_HOME/keyring, default ~/.meridian) and is never written beside the
data. Staging copies only the chunks a site lacks, and only when the law allows
the dataset to reach the site's country on the date given.`,
	}
	cmd.AddCommand(newDatasetAddCmd(), newDatasetStageCmd(), newDatasetLedgerCmd(), newDatasetVerifyCmd(), newDatasetUnsealCmd(), newDatasetKeyCmd(), newDatasetSendKeyCmd())
	return cmd
}

func newDatasetAddCmd() *cobra.Command {
	var from, origin, class, store, out string
	var subjects int64
	var bases []string
	cmd := &cobra.Command{
		Use:   "add NAME --from DIR --origin CC --classification C",
		Short: "Chunk, encrypt and store a directory as a dataset, and register it",
		Example: `  meridian dataset add chat-logs --from ./data --origin CN --classification personal \
      --subjects 120000 --basis cn-standard-contract`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := dataset.CheckName(name); err != nil {
				return badInput(fmt.Errorf("NAME: %w", err))
			}
			if from == "" {
				return badInput(errors.New("--from: required (the directory to add)"))
			}
			if fi, err := os.Stat(from); err != nil {
				return badInput(fmt.Errorf("--from: %w", err))
			} else if !fi.IsDir() {
				return badInput(fmt.Errorf("--from %s: not a directory", from))
			}
			st, err := openState()
			if err != nil {
				return err
			}
			if store == "" {
				store = st.HomeStore()
			}
			ds := &catalog.Dataset{APIVersion: catalog.APIVersion, Kind: catalog.KindDataset,
				Metadata: catalog.Metadata{Name: name},
				Spec:     catalog.DatasetSpec{Origin: origin, Classification: class, Subjects: subjects, TransferBases: bases, Store: store}}
			// Validate the resource before touching any data.
			if err := validateDataset(ds); err != nil {
				return badInput(err)
			}
			key, err := st.keyring().GetOrCreate(name)
			if err != nil {
				return err
			}
			sealer, err := seal.New(key, name)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			bucket, err := dataset.OpenStore(ctx, store)
			if err != nil {
				return badInput(fmt.Errorf("--store: %w", err))
			}
			defer bucket.Close()
			bar := &barProgress{w: cmd.ErrOrStderr()}
			start := time.Now()
			res, err := dataset.Add(ctx, dataset.AddOptions{Name: name, Root: from, Store: bucket, Sealer: sealer,
				OnStart: func(total int64) { bar.Start("adding "+name, total) }, OnBytes: bar.Add})
			bar.Done()
			if err != nil {
				if errors.Is(err, dataset.ErrEscape) {
					return badInput(err)
				}
				return err
			}
			ds.Spec.SizeBytes = float64(res.Bytes)
			data, err := yaml.Marshal(ds)
			if err != nil {
				return err
			}
			if err := atomicfile.WriteFile(st.DatasetFile(name), data, 0o600); err != nil {
				return err
			}
			secs := time.Since(start).Seconds()
			summary := map[string]any{"dataset": name, "files": res.Files, "bytes": res.Bytes, "chunks": res.Chunks,
				"newChunks": res.NewChunks, "newBytes": res.NewBytes, "store": store, "resource": st.DatasetFile(name)}
			return render(cmd.OutOrStdout(), out, summary, func(w io.Writer) error {
				fmt.Fprintf(w, "dataset %s: %d files, %s in %d chunks (%d new, %s written) to %s in %.1fs (%s/s)\n",
					name, res.Files, humanBytes(res.Bytes), res.Chunks, res.NewChunks, humanBytes(res.NewBytes), store, secs, humanBytes(int64(float64(res.Bytes)/max(secs, 1e-9))))
				fmt.Fprintf(w, "registered %s; key kept in %s\n", st.DatasetFile(name), st.keyring().Dir)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "directory to add")
	cmd.Flags().StringVar(&origin, "origin", "", "country whose law governs export of the data (ISO 3166-1 alpha-2)")
	cmd.Flags().StringVar(&class, "classification", "", "public | deidentified | personal | sensitive-personal | important")
	cmd.Flags().Int64Var(&subjects, "subjects", 0, "number of people the data covers (required for personal data)")
	cmd.Flags().StringArrayVar(&bases, "basis", nil, "legal basis held for transfer (repeatable), e.g. eu-scc, cn-standard-contract")
	cmd.Flags().StringVar(&store, "store", "", "home store URL (file:///dir or s3://bucket?endpoint=…); default $MERIDIAN_HOME/store")
	addOutputFlag(cmd, &out)
	return cmd
}

// validateDataset checks a new Dataset resource with the catalog's rules;
// problems are named as the flags that made it.
func validateDataset(ds *catalog.Dataset) error {
	data, err := yaml.Marshal(ds)
	if err != nil {
		return err
	}
	set, err := catalog.Decode("flags", data)
	if err != nil {
		return err
	}
	w, err := catalog.Builtin()
	if err != nil {
		return err
	}
	if err := w.Add(set); err != nil {
		return err
	}
	return w.Validate(planner.AssumptionKeys())
}

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
first reconciles what the interrupted one sent. --dry-run with --as-of asks
the law about another date and moves nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if to == "" {
				return badInput(errors.New("--to: required (a site name)"))
			}
			if asOf != "" && !dryRun {
				return badInput(errors.New("--as-of: a transfer happens today; use --dry-run --as-of DATE to ask the law about another date without moving anything"))
			}
			date, err := parseAsOf(asOf)
			if err != nil {
				return badInput(err)
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
			if dryRun {
				return dryRunStage(cmd, out, lw, q, ds, site)
			}
			bar := &barProgress{w: cmd.ErrOrStderr()}
			db, err := st.auditStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			dst := *site
			dst.Spec.Store = run.SiteStore(st.Path, site)
			stager := &transfer.Stager{Law: lw, Ledger: transfer.AuditLedger{Store: db}, Keys: st.keyrings(), Workers: workers, Progress: bar, Batch: batch}
			res, err := stager.Stage(cmd.Context(), transfer.Request{Dataset: ds, Site: &dst, RunID: runID, Query: q,
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
				fmt.Fprintf(w, "staged %s to %s (%s → %s, basis %s, as of %s): %d of %d chunks sent, %s; %d already there\n",
					name, site.Metadata.Name, res.From, res.To, orNone(res.Basis), res.AsOf, res.ChunksSent, res.Chunks, humanBytes(res.BytesSent), res.Skipped)
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
			db, err := st.auditStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			led := transfer.AuditLedger{Store: db}
			if !noReconcile {
				if err := reconcileLedger(cmd.Context(), st, led, name, catalogDir, files); err != nil {
					return err
				}
			}
			entries, err := db.AuditEntries(cmd.Context(), "")
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
				if e.Kind != transfer.KindTransfer || e.Tenant != dataset.DefaultTenant && e.Tenant != "" {
					continue
				}
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
func reconcileLedger(ctx context.Context, st state, led transfer.Ledger, name, catalogDir string, files []string) error {
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
		key, err := st.keyrings().Get(dataset.DefaultTenant, x.Dataset)
		if err != nil {
			return err
		}
		sealer, err := seal.New(key, x.Dataset)
		if err != nil {
			return err
		}
		b, err := dataset.OpenStore(ctx, run.SiteStore(st.Path, site))
		if err != nil {
			return err
		}
		dst := b.Sub(run.DataPrefix(dataset.DefaultTenant))
		s := &transfer.Stager{Ledger: led}
		_, err = s.Reconcile(ctx, transfer.CopyRequest{Name: x.Dataset, Sealer: sealer, Dst: dst, Tenant: dataset.DefaultTenant,
			Entry: transfer.Entry{Kind: transfer.KindDataset, Dataset: x.Dataset, Site: x.Site}})
		dst.Close()
		if err != nil {
			return fmt.Errorf("reconcile %s at %s: %w", x.Dataset, x.Site, err)
		}
	}
	return nil
}

// dryRunStage asks the law about a staging on q's date and moves nothing.
func dryRunStage(cmd *cobra.Command, out string, lw transfer.Law, q policy.Query, ds *catalog.Dataset, site *catalog.Site) error {
	dec := lw.EvaluateTransfer(q, ds, site.Spec.Country)
	doc := map[string]any{"dataset": ds.Metadata.Name, "site": site.Metadata.Name, "asOf": q.AsOf.String(), "allowed": dec.Allowed, "decision": dec}
	err := render(cmd.OutOrStdout(), out, doc, func(w io.Writer) error {
		verdict := "would be allowed"
		if !dec.Allowed {
			verdict = "would be refused"
		}
		fmt.Fprintf(w, "staging %s to %s (%s) as of %s %s (dry run: nothing moved)\n", ds.Metadata.Name, site.Metadata.Name, site.Spec.Country, q.AsOf, verdict)
		for _, f := range dec.Denials {
			fmt.Fprintf(w, "  rule %s: %s (source: %s)\n", f.Rule, f.Message, f.Source)
		}
		return nil
	})
	if err == nil && !dec.Allowed {
		return &codeError{code: exitNoPlacement, err: errSilent}
	}
	return err
}

// keyFlags say where a site-side command gets the dataset key.
type keyFlags struct {
	keyFile     string
	keepKeyFile bool
	keyStdin    bool
	ageIdentity string
}

func (k *keyFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&k.keyFile, "key-file", "", "`FILE` holding the dataset key: age-wrapped, or in clear with mode 0600; removed after reading unless --keep-key-file")
	cmd.Flags().BoolVar(&k.keepKeyFile, "keep-key-file", false, "do not remove --key-file after reading it")
	cmd.Flags().BoolVar(&k.keyStdin, "key-stdin", false, "read the dataset key from standard input")
	cmd.Flags().StringVar(&k.ageIdentity, "age-identity", "", "age identity `FILE` that unwraps an age-wrapped key (made by: dataset key --age-recipient)")
}

// parse reads a delivered key: plain text, or age-wrapped when it is armored.
func (k *keyFlags) parse(data []byte) (seal.Key, error) {
	if seal.IsWrapped(data) {
		if k.ageIdentity == "" {
			return seal.Key{}, badInput(errors.New("the key is wrapped with age: give --age-identity FILE"))
		}
		id, err := os.ReadFile(k.ageIdentity)
		if err != nil {
			return seal.Key{}, badInput(fmt.Errorf("--age-identity: %w", err))
		}
		key, err := seal.UnwrapKey(data, string(id))
		return key, badInput(err)
	}
	key, err := seal.ParseKey(string(data))
	return key, badInput(err)
}

// get returns the key from --key-file, --key-stdin, $MERIDIAN_DATASET_KEY or
// the owner's keyring, in that order.
func (k *keyFlags) get(cmd *cobra.Command, st state, name string) (seal.Key, error) {
	switch {
	case k.keyFile != "":
		fi, err := os.Stat(k.keyFile)
		if err != nil {
			return seal.Key{}, badInput(fmt.Errorf("--key-file: %w", err))
		}
		if !fi.Mode().IsRegular() {
			return seal.Key{}, badInput(fmt.Errorf("--key-file %s: not a regular file", k.keyFile))
		}
		data, err := os.ReadFile(k.keyFile)
		if err != nil {
			return seal.Key{}, err
		}
		// A key in clear must not be readable by others; an age-wrapped
		// one is ciphertext for the identity's holder, as a shell's
		// "dataset key … > key.age" writes it (0644 under umask 022).
		if fi.Mode().Perm()&0o077 != 0 && !seal.IsWrapped(data) {
			return seal.Key{}, badInput(fmt.Errorf("--key-file %s: mode %o lets others read a key in clear; want 0600 (or wrap it: dataset key --age-recipient)", k.keyFile, fi.Mode().Perm()))
		}
		if !k.keepKeyFile {
			if err := os.Remove(k.keyFile); err != nil {
				return seal.Key{}, fmt.Errorf("remove --key-file: %w", err)
			}
		}
		return k.parse(data)
	case k.keyStdin:
		data, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10))
		if err != nil {
			return seal.Key{}, err
		}
		return k.parse(data)
	case os.Getenv("MERIDIAN_DATASET_KEY") != "":
		return k.parse([]byte(os.Getenv("MERIDIAN_DATASET_KEY")))
	default:
		return st.keyring().Get(name)
	}
}

// siteStore resolves --store or --at SITE to a store URL.
func siteStore(st state, at, store, catalogDir string, files []string) (string, error) {
	if store != "" {
		return store, nil
	}
	if at == "" {
		return "", badInput(errors.New("--at SITE or --store URL: one is required"))
	}
	w, err := st.world(catalogDir, files)
	if err != nil {
		return "", badInput(err)
	}
	site := w.Site(at)
	if site == nil {
		return "", badInput(fmt.Errorf("--at %q: no such site", at))
	}
	return run.SiteStore(st.Path, site), nil
}

// openSealed resolves the store of a site (or --store), reads the dataset's
// key and opens both, for the commands that read chunks at a site.
func openSealed(cmd *cobra.Command, st state, name, at, store, catalogDir string, files []string, kf *keyFlags) (string, *dataset.Store, *seal.Sealer, error) {
	url, err := siteStore(st, at, store, catalogDir, files)
	if err != nil {
		return "", nil, nil, err
	}
	key, err := kf.get(cmd, st, name)
	if err != nil {
		return "", nil, nil, err
	}
	sealer, err := seal.New(key, name)
	if err != nil {
		return "", nil, nil, err
	}
	b, err := dataset.OpenStore(cmd.Context(), url)
	if err != nil {
		return "", nil, nil, badInput(err)
	}
	if at != "" && store == "" {
		// Staged data sits in the tenant's part of a site's store.
		b = b.Sub(run.DataPrefix(dataset.DefaultTenant))
	}
	return url, b, sealer, nil
}

func newDatasetVerifyCmd() *cobra.Command {
	var at, store, catalogDir, out string
	var files []string
	var kf keyFlags
	cmd := &cobra.Command{
		Use: "verify NAME --at SITE",
		Example: `  meridian dataset verify chat-logs --at my-johor-1
  meridian dataset verify chat-logs --store file:///srv/meridian/store`,
		Short: "Re-read and authenticate every chunk of a dataset at a site",
		Long: `Verify reads the dataset's manifest and every chunk from the site's store and
authenticates each with the dataset key. It names every missing or altered
chunk and the files that use it, and exits 1 if any is found.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			st, err := openState()
			if err != nil {
				return err
			}
			url, b, sealer, err := openSealed(cmd, st, name, at, store, catalogDir, files, &kf)
			if err != nil {
				return err
			}
			defer b.Close()
			rep, err := dataset.Verify(cmd.Context(), b, sealer, name, 4)
			if err != nil {
				return err
			}
			if err := render(cmd.OutOrStdout(), out, rep, func(w io.Writer) error {
				fmt.Fprintf(w, "dataset %s at %s: %d of %d chunks good\n", name, url, rep.OK, rep.Chunks)
				for _, l := range [][]dataset.ChunkProblem{rep.Missing, rep.Altered} {
					for _, p := range l {
						fmt.Fprintf(w, "  %s chunk %s (used by %s)\n", p.Reason, p.ID, strings.Join(p.Files, ", "))
					}
				}
				return nil
			}); err != nil {
				return err
			}
			if !rep.Good() {
				return &codeError{code: exitError, err: fmt.Errorf("dataset %s: %d missing and %d altered chunks", name, len(rep.Missing), len(rep.Altered))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "site whose store to check")
	cmd.Flags().StringVar(&store, "store", "", "store URL to check instead of a site's")
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "resource file or directory with sites (repeatable)")
	cmd.Flags().StringVar(&catalogDir, "catalog", "", "directory of Site files that replace the built-in sites")
	kf.add(cmd)
	addOutputFlag(cmd, &out)
	return cmd
}

func newDatasetUnsealCmd() *cobra.Command {
	var at, store, to, catalogDir string
	var files []string
	var kf keyFlags
	cmd := &cobra.Command{
		Use:   "unseal NAME --at SITE --to DIR|-",
		Short: "Decrypt a staged dataset for a job (into a directory, or as tar on stdout)",
		Long: `Unseal runs in a job's prologue at the site. It reads the key from
--key-file (removed after reading), --key-stdin or $MERIDIAN_DATASET_KEY (or,
for the owner, the keyring), authenticates every chunk and writes plaintext
files into DIR, each renamed into place only when complete. With --to - it
streams a tar archive to standard output instead.`,
		Example: `  MERIDIAN_DATASET_KEY=... meridian dataset unseal chat-logs --store "$SITE_STORE" --to "$SCRATCH/data"
  meridian dataset unseal chat-logs --at my-johor-1 --key-file key --to - | tar -x -C "$SCRATCH"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if to == "" {
				return badInput(errors.New("--to: required (a directory, or - for tar on stdout)"))
			}
			// A job's prologue names the store and the key file: it needs
			// no Meridian state directory at the site, and makes none.
			var st state
			if store == "" || (kf.keyFile == "" && !kf.keyStdin && os.Getenv("MERIDIAN_DATASET_KEY") == "") {
				var err error
				if st, err = openState(); err != nil {
					return err
				}
			}
			_, b, sealer, err := openSealed(cmd, st, name, at, store, catalogDir, files, &kf)
			if err != nil {
				return err
			}
			defer b.Close()
			if to == "-" {
				_, err = dataset.UnsealTar(cmd.Context(), b, sealer, name, cmd.OutOrStdout())
				return err
			}
			m, err := dataset.UnsealDir(cmd.Context(), b, sealer, name, to)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "unsealed %s: %d files, %s into %s\n", name, len(m.Files), humanBytes(m.TotalBytes()), to)
			return nil
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "site whose store holds the dataset")
	cmd.Flags().StringVar(&store, "store", "", "store URL instead of a site's")
	cmd.Flags().StringVar(&to, "to", "", "directory to write (must be empty), or - for a tar stream on stdout")
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "resource file or directory with sites (repeatable)")
	cmd.Flags().StringVar(&catalogDir, "catalog", "", "directory of Site files that replace the built-in sites")
	kf.add(cmd)
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// humanBytes prints a byte count in SI units, as every size Meridian
// prints is written: "792 kB", "2.5 TB".
func humanBytes(n int64) string {
	if n < 0 {
		return fmt.Sprintf("%d B", n)
	}
	return humanize.Bytes(uint64(n))
}

// bar is a progress bar on a terminal, and nothing elsewhere.
type bar struct {
	mu sync.Mutex
	pb *progressbar.ProgressBar
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newBar(w io.Writer, total int64, label string) *bar {
	if !isTerminal(w) {
		return &bar{}
	}
	return &bar{pb: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(label),
		progressbar.OptionShowBytes(true), progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish())}
}

func (b *bar) add(n int64) {
	if b.pb == nil {
		return
	}
	b.mu.Lock()
	b.pb.Add64(n)
	b.mu.Unlock()
}

func (b *bar) done() {
	if b.pb != nil {
		b.pb.Finish()
	}
}

// barProgress adapts bar to transfer.Progress.
type barProgress struct {
	w io.Writer
	b *bar
}

func (p *barProgress) Start(label string, total int64) { p.b = newBar(p.w, total, label) }
func (p *barProgress) Add(n int64) {
	if p.b != nil {
		p.b.add(n)
	}
}

func (p *barProgress) Done() {
	if p.b != nil {
		p.b.done()
	}
}

func newDatasetKeyCmd() *cobra.Command {
	var recipients []string
	var plain bool
	var outFile string
	cmd := &cobra.Command{
		Use: "key NAME (--age-recipient age1… | --plain)",
		Example: `  meridian dataset key chat-logs --age-recipient "$(cat job-recipient.txt)" --out key.age
  meridian dataset key chat-logs --plain --out key   # mode 0600`,
		Short: "Print a dataset's key for delivery to a job, wrapped with age or in clear",
		Long: `Key prints the dataset key from the owner's keyring so that the backend can
deliver it to a job at start. With --age-recipient it is wrapped for the
holder of that age identity (the job's, generated for the run); --plain prints
it in clear for delivery over a channel that is already private. Whoever holds
the key can read the dataset: see docs/threat-model.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(recipients) == 0 && !plain {
				return badInput(errors.New("--age-recipient or --plain: one is required"))
			}
			st, err := openState()
			if err != nil {
				return err
			}
			key, err := st.keyring().Get(args[0])
			if err != nil {
				return err
			}
			var data []byte
			if plain {
				data = []byte(key.String() + "\n")
			} else if data, err = seal.WrapKey(key, recipients...); err != nil {
				return badInput(err)
			}
			if outFile != "" {
				// Created 0600 whatever the umask, and atomically.
				if err := atomicfile.WriteFile(outFile, data, 0o600); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
				return nil
			}
			_, err = cmd.OutOrStdout().Write(data)
			return err
		},
	}
	cmd.Flags().StringVar(&outFile, "out", "", "write the key to `FILE` (mode 0600) instead of standard output")
	cmd.Flags().StringArrayVar(&recipients, "age-recipient", nil, "age recipient (age1…) to wrap the key for (repeatable)")
	cmd.Flags().BoolVar(&plain, "plain", false, "print the key in clear")
	return cmd
}

func newDatasetSendKeyCmd() *cobra.Command {
	var cf clientFlags
	var out string
	cmd := &cobra.Command{
		Use:   "send-key NAME",
		Short: "Give a server the key of a dataset you registered there, so it can stage it for your runs",
		Long: `Send-key reads the dataset's key from your keyring ($MERIDIAN_HOME/keyring)
and hands it to the server for your tenant (over TLS when the server is not
on this machine). The server keeps it in your tenant's own keyring, gives it
only to your own runs' attempts, and records the key's fingerprint, never
the key, in the audit log. Register the dataset first with apply.`,
		Example: `  meridian apply -f $MERIDIAN_HOME/datasets/chat-logs.yaml
  meridian dataset send-key chat-logs --server https://meridian.example:7420`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openState()
			if err != nil {
				return err
			}
			key, err := st.keyring().Get(args[0])
			if err != nil {
				return badInput(err)
			}
			c, err := cf.client()
			if err != nil {
				return badInput(err)
			}
			if err := c.PutKey(cmd.Context(), args[0], key.String()); err != nil {
				return apiErr(err)
			}
			res := map[string]string{"dataset": args[0], "server": c.Base}
			return render(cmd.OutOrStdout(), out, res, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "key of dataset %s stored at %s for your tenant\n", args[0], c.Base)
				return err
			})
		},
	}
	addClientFlags(cmd, &cf)
	addOutputFlag(cmd, &out)
	return cmd
}
