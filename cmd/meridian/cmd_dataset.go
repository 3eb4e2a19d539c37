package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/internal/plainfile"
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
	if err := checkStateDir(d.Path); err != nil {
		return state{}, err
	}
	removeStaleStateTemps(d)
	if err := atomicfile.MkdirAll(d.Datasets(), 0o700); err != nil {
		return state{}, err
	}
	// As a server names it (startServer): a site's default store, and so
	// the staging lease of that store, is named after this path.
	if d.Path, err = statedir.Canonical(d.Path); err != nil {
		return state{}, err
	}
	st := state{Dir: d}
	if p := os.Getenv("MERIDIAN_AGE_IDENTITY"); p != "" {
		// The person running the command names the identity in their
		// own environment, and it may be a pipe that keeps it off the
		// disk (MERIDIAN_AGE_IDENTITY=<(op read …)). A server's
		// (serverKeyrings) is read as a regular file only.
		data, err := plainfile.ReadNamed(p, maxAgeIdentityBytes)
		if err != nil {
			return state{}, fmt.Errorf("MERIDIAN_AGE_IDENTITY: %w", err)
		}
		st.ageIdentity = string(data)
	}
	return st, nil
}

// stateSwept is the state directory whose stale temporary files this
// process has removed (removeStaleStateTemps): a command that opens it
// more than once reads it once.
var stateSwept struct {
	sync.Mutex
	path string
}

// removeStaleStateTemps removes the temporary files that `dataset add`
// commands killed before their rename left in the state directory's
// datasets directory (.NAME.yaml.tmp-N), once atomicfile.StaleTempAge
// old, and reports how many it removed. Every command that opens the
// state directory calls it, after checkStateDir accepted the directory.
// No lock serialises those writers, so a fresher one may be another
// command's at work and stays. Before, each stayed for good. It is one
// scan of at most atomicfile.MaxTempScan entries, once per process and
// directory, removes only regular files named as a temporary file of a
// dataset's file, and never follows a link (a datasets directory that is
// one is not read).
func removeStaleStateTemps(d statedir.Dir) int {
	stateSwept.Lock()
	done := stateSwept.path == d.Path
	stateSwept.path = d.Path
	stateSwept.Unlock()
	if done {
		return 0
	}
	dir := d.Datasets()
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return 0
	}
	return atomicfile.RemoveStaleTemps(dir, isDatasetFile, atomicfile.StaleTempAge)
}

// isDatasetFile reports whether name is that of a dataset's file in the
// datasets directory: NAME.yaml of a valid dataset name.
func isDatasetFile(name string) bool {
	base, ok := strings.CutSuffix(name, ".yaml")
	return ok && dataset.CheckName(base) == nil
}

// keyring is the owner's keyring, whose keys w confirms against the
// audit log's records of them (state.keyWitness, auditDB.keyWitness): a
// key written into it outside Meridian is refused.
func (s state) keyring(w *dataset.KeyWitness) dataset.Keyring {
	return dataset.Keyring{Dir: s.Keyring(), AgeIdentity: s.ageIdentity, Tenant: dataset.DefaultTenant, Witness: w}
}

// keyrings are the tenants' keyrings; the CLI's own is the default tenant's.
func (s state) keyrings(w *dataset.KeyWitness) dataset.TenantKeyrings {
	return dataset.TenantKeyrings{Root: s.Path, AgeIdentity: s.ageIdentity, Witness: w}
}

// keyRemedy ends the refusal of a keyring key that no record names.
const keyRemedy = "if it is your key, kept from before keys were recorded (its fingerprint is the one named here), record it once with `meridian dataset key NAME --record` (every such key of the keyring at once: `meridian dataset key --record --all`)"

// keyWitness confirms keys against the state directory's audit log read
// only (a command that reads a key writes nothing); done closes the log.
// A state directory without a log or an audit key has no key records:
// every key in its keyring is refused until recorded.
func (s state) keyWitness(ctx context.Context) (w *dataset.KeyWitness, done func(), err error) {
	w = &dataset.KeyWitness{Log: noKeyLog{}, Chain: audit.NewChain(nil), Remedy: keyRemedy}
	key, err := audit.ReadKey(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return w, func() {}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(s.Database()); errors.Is(err, fs.ErrNotExist) {
		return w, func() {}, nil
	}
	r, err := store.OpenAuditReader(ctx, s.Database())
	if err != nil {
		return nil, nil, err
	}
	// The reader runs no gap check: a key record deleted from the middle
	// of the log (the one naming the key in use, leaving an older one the
	// latest) or rewritten with its seal kept would pass unnoticed. The
	// commands that read a key this way (printing or sending it) check
	// the whole log first, against its anchor, as audit verify does: one
	// read of every entry, breaks the operator accepted aside.
	chain := audit.NewChain(key)
	anchors, err := audit.ReadAnchors(s.Anchor())
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	res, err := r.VerifyAudit(ctx, chain, anchors)
	if err == nil && !res.OK {
		var why error = errors.New("it does not verify")
		if res.Problem != nil {
			why = res.Problem
		}
		err = fmt.Errorf("%w (run `meridian audit verify --state %s`)", why, s.Path)
	}
	if err != nil {
		r.Close()
		return nil, nil, fmt.Errorf("the state directory's audit log, which records the dataset keys, cannot be trusted: %w", err)
	}
	w.Log, w.Chain = r, chain
	return w, func() { r.Close() }, nil
}

// noKeyLog is a log that holds no key records.
type noKeyLog struct{}

func (noKeyLog) AuditSelect(context.Context, store.AuditQuery) ([]audit.Entry, error) {
	return nil, nil
}

// keyWitness confirms keys against d's log, and records in it the keys
// made (dataset add) or adopted (dataset key --record).
func (d *auditDB) keyWitness() *dataset.KeyWitness {
	return &dataset.KeyWitness{Log: d.SQLite, Chain: d.chain, Remedy: keyRemedy}
}

// auditDB is the state directory's database with the audit anchor kept up
// to date: every entry the CLI appends (the transfer ledger) moves the
// anchor too, as the server's do.
type auditDB struct {
	*store.SQLite
	chain   *audit.Chain
	anchors *audit.Anchors
	// follow is nil when the CLI does not anchor this log (see auditStore).
	follow *audit.Follower
}

// stagingLease takes, on the state directory's database, the lease of one
// site store for the default tenant that a server's staging takes there
// (run.HoldStagingLease): a CLI staging, or the reconciliation of open
// intents, beside another staging into the same store would record as
// abandoned the chunks still crossing for it, and the bytes would be at
// the site with no record counting them. With wait it waits for a staging
// under way, and says so on stderr; without, it answers
// store.ErrLeaseBusy. The context returned ends if the lease is lost.
func (d *auditDB) stagingLease(ctx context.Context, siteStore string, wait bool, stderr io.Writer) (context.Context, func(), error) {
	host, _ := os.Hostname()
	var nonce [6]byte
	rand.Read(nonce[:])
	holder := fmt.Sprintf("cli/%s/%d/%x", host, os.Getpid(), nonce)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	lctx, release, err := run.HoldStagingLease(ctx, d.SQLite, siteStore, dataset.DefaultTenant, holder, 0, log)
	if !wait || !errors.Is(err, store.ErrLeaseBusy) {
		return lctx, release, err
	}
	fmt.Fprintf(stderr, "waiting for the staging under way into %s to end\n", siteStore)
	return run.HoldStagingLease(ctx, d.SQLite, siteStore, dataset.DefaultTenant, holder, -1, log)
}

// Close writes the anchor and closes the database.
func (d *auditDB) Close() error {
	if d.follow != nil {
		d.follow.Close()
	}
	return d.SQLite.Close()
}

// auditStore opens the state directory's database, whose audit log (the
// chain `meridian audit verify` checks) holds the transfer ledger. SQLite
// serialises writers, so this is safe beside a running `meridian serve`.
//
// The CLI anchors the log in STATE/anchor as a server's start does (see
// cliAnchor): a state directory no server has started on is guarded the
// same way, the log naming the anchor key.
func (s state) auditStore(ctx context.Context) (*auditDB, error) {
	key, err := audit.LoadKey(s.Path)
	if err != nil {
		return nil, err
	}
	anchors, err := audit.OpenAnchors(s.Anchor())
	if err != nil {
		return nil, err
	}
	d := &auditDB{anchors: anchors, chain: audit.NewChain(key)}
	follow := audit.NewFollower(anchors, audit.LogReader{
		HashAt: func(ctx context.Context, seq int64) (string, bool, error) {
			return d.SQLite.AuditHashAt(ctx, seq)
		},
		Acceptance: func(ctx context.Context, after, through int64) (int64, bool, error) {
			return acceptanceIn(ctx, d.SQLite, after, through)
		},
	}, func(err error) { fmt.Fprintln(os.Stderr, "warning: audit anchor not advanced:", err) })
	// The gap checks are the server's: the first (cliAnchor's read of the
	// key entries) reads every entry once, its seal and link checked, and
	// the later ones what was written since (see logWhole).
	db, err := store.OpenSQLite(ctx, s.Database(), store.Options{AuditKey: key, OnAudit: func(seq int64, head string) {
		if d.follow != nil {
			d.follow.Notify(seq, head)
		}
	}})
	if err != nil {
		return nil, err
	}
	d.SQLite = db
	// A server starting on this directory anchors a log that names no key
	// too: one at a time, so that the second finds the first's key entry.
	unlock, err := s.LockAudit()
	if err != nil {
		db.Close()
		return nil, err
	}
	// The key as the directory holds it now: a server starting beside
	// this command may have given it a fresh key since it was opened (see
	// recordAnchorKey).
	anchor := false
	err = anchors.Refresh(ctx)
	if err == nil {
		anchor, err = cliAnchor(ctx, db, audit.NewChain(key), anchors, os.Stderr)
	}
	unlock()
	if err != nil {
		db.Close()
		return nil, err
	}
	if anchor {
		d.follow = follow
		go d.follow.Run()
	}
	return d, nil
}

// cliAnchor says whether the CLI follows db's log into anchors. A log that
// names no anchor key is anchored as a server's start anchors it
// (recordAnchorKey): verified against the anchor, if there is one, then
// anchored (a first anchor when there is none) and the key recorded. Until
// the key is recorded, removing anchor.json and cutting the tail leaves a
// log that reads as never anchored; a CLI that only anchored (as it once
// did) left every state directory no server started on open to that.
//
// A log that names a key is followed only when the anchor is there: with
// it gone the log is anchored elsewhere (serve --audit-anchor) or the
// anchor was removed, and anchoring the log afresh would bless a tail cut
// meanwhile. The key entry binds the log to STATE/anchor: a server started
// later with --audit-anchor elsewhere needs that directory moved there.
//
// Only key entries sealed under the log's key (chain) count: the CLI does
// not verify a log that names a key, so a row written into the database
// naming one would otherwise decide what it does (follow a log it never
// verified, or leave one unanchored) and what it warns about. A log whose
// key entries are all unsealed is verified as one that names none is,
// which reports the forgery. w takes the warnings.
func cliAnchor(ctx context.Context, db cliAnchorStore, chain *audit.Chain, anchors *audit.Anchors, w io.Writer) (bool, error) {
	_, ok, err := anchors.Read()
	if err != nil {
		return false, err
	}
	last, keyed, err := lastSealedKeyEntry(ctx, db, chain)
	if errors.Is(err, store.ErrAuditGap) {
		// Entries are missing, or the last is not sealed at its seq: the
		// log does not verify, and the CLI neither anchors it nor names
		// a key, as below; the verification says where, the gap's own
		// error when it finds nothing (accepted gaps count alike).
		res, verr := db.VerifyAuditAnchored(ctx, anchors)
		if verr != nil {
			return false, verr
		}
		var problem any = err
		if !res.OK {
			problem = res.Problem
		}
		fmt.Fprintf(w, "warning: audit log does not verify (%v); not anchoring it (meridian audit verify --state)\n", problem)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if keyed {
		if ok {
			return true, nil
		}
		var p audit.AnchoredPayload
		json.Unmarshal(last.Payload, &p)
		if p.Key == anchors.Key() {
			fmt.Fprintf(w, "warning: audit entry %d records that this log is anchored with the key in %s, which holds no %s: it was removed; the server will refuse to start until the log is accepted (meridian audit verify --state)\n", last.Seq, anchors.Dir(), audit.AnchorFile)
		}
		// Otherwise the log is anchored elsewhere (serve --audit-anchor),
		// or the directory was replaced; the server's start tells which.
		return false, nil
	}
	res, err := db.VerifyAuditAnchored(ctx, anchors)
	if err != nil {
		return false, err
	}
	if !res.OK {
		// The server refuses to start on such a log until the operator
		// accepts it; the CLI goes on but neither anchors nor names a key.
		fmt.Fprintf(w, "warning: audit log does not verify (%v); not anchoring it (meridian audit verify --state)\n", res.Problem)
		return false, nil
	}
	if res.Unproven != "" && res.Entries > 0 {
		// As a server's start says it: an upgrade's first command, or a
		// log cut back to before it was first anchored with the anchor
		// removed, which only the operator can tell apart.
		fmt.Fprintf(w, "warning: audit log of %d entries records no anchor key (%s); anchoring it as it is now\n", res.Entries, res.Unproven)
	}
	return true, recordAnchorKey(ctx, db, anchors, res, w)
}

// cliAnchorStore is what cliAnchor reads and writes of a log.
type cliAnchorStore interface {
	anchoredStore
	AuditSelectPage(ctx context.Context, q store.AuditQuery) ([]audit.Entry, int64, error)
}

// The pages in which lastSealedKeyEntry reads the key entries.
const (
	keyEntryPage      = 256
	keyEntryPageBytes = 1 << 20
	// keyEntryMaxBytes is the largest key entry read: a real one is
	// {"key":"<64 hex>"}, about 75 bytes. A larger row was written by
	// other means, is not sealed and would be ignored; reading it whole
	// (a page holds at least one entry) let one forged row of gigabytes
	// take the CLI's memory.
	keyEntryMaxBytes = 4 << 10
)

// lastSealedKeyEntry returns the last KindAnchored entry of db's log that
// is sealed under chain's key, reading the key entries a page at a time
// and holding one page. Whoever writes the database may store any number
// of rows of that kind, and every one was read into memory at once, on
// every CLI command that writes the log.
func lastSealedKeyEntry(ctx context.Context, db cliAnchorStore, chain *audit.Chain) (audit.Entry, bool, error) {
	var last audit.Entry
	found := false
	q := store.AuditQuery{Kinds: []string{audit.KindAnchored}, AllTenants: true, Limit: keyEntryPage, MaxBytes: keyEntryPageBytes, MaxEntryBytes: keyEntryMaxBytes}
	for {
		page, next, err := db.AuditSelectPage(ctx, q)
		if err != nil {
			return audit.Entry{}, false, err
		}
		for _, e := range page {
			if chain.Sealed(e) {
				last, found = e, true
			}
		}
		if next == 0 {
			return last, found, nil
		}
		q.After = next
	}
}

// sharedStore says whether the directory's servers keep their state, the
// ledger among it, in PostgreSQL (statedir.SharedStore): the directory's
// own database is not their ledger.
func (s state) sharedStore() bool {
	_, err := os.Stat(s.Join(statedir.SharedStore))
	return err == nil
}

// sharedKeyNote says on w, on a state directory whose servers keep their
// audit log in PostgreSQL (sharedStore), that the keys of names were
// recorded in the directory's own log, which those servers do not read:
// they refuse each key until it is sent to them. A server on the
// directory's own database reads the same log, and nothing is said.
func (s state) sharedKeyNote(w io.Writer, names ...string) {
	if !s.sharedStore() || len(names) == 0 {
		return
	}
	what, send := "the key of dataset "+names[0]+" is", "meridian dataset send-key "+names[0]+" --server URL"
	if len(names) > 1 {
		what, send = "these keys are", "meridian dataset send-key NAME --server URL, for each"
	}
	fmt.Fprintf(w, "note: the servers of state directory %s keep their audit log in PostgreSQL (%s): %s recorded in this directory's own log, which they do not read, so they refuse it until it is sent to them: %s\n",
		s.Path, statedir.SharedStore, what, send)
}

// ledgerStore is auditStore for the commands that write the transfer
// ledger (dataset stage, the reconciliation of dataset ledger). Servers on
// PostgreSQL keep their ledger there: one of the CLI's own here would be a
// second, which they never read. Bytes it recorded would count toward no
// volume threshold, and a staging of theirs would find the chunks at the
// site and record none. So on their state directory (statedir.SharedStore)
// these commands refuse, naming the server's route.
func (s state) ledgerStore(ctx context.Context) (*auditDB, error) {
	if s.sharedStore() {
		return nil, fmt.Errorf("state directory %s belongs to servers whose audit log and ledger are in PostgreSQL (serve --store postgres://…): this command would write a ledger of its own here, which they never read; stage through a server (POST /v1/datasets/NAME/stage) and read its ledger (GET /v1/ledger)", s.Path)
	}
	return s.auditStore(ctx)
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
		// A server's own local site is known to the server only: its
		// store can still be named here.
		return "", badInput(fmt.Errorf("--at %q: no such site in the catalog here (a server's local site is not in it: name the site's store with --store URL)", at))
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
