package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"meridian.dev/meridian/audit"
)

// Run is one run's durable row. Data is an opaque JSON document owned by the
// run package; the other fields are columns that can be queried.
type Run struct {
	ID      string
	Tenant  string
	Job     string
	State   string
	Site    string
	Attempt int
	Handle  string
	// Hold is what the run holds of a site's capacity (capacity.go).
	Hold      Hold
	Data      []byte
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
	// DataInvalid marks a run listed without documents whose row's data
	// is not a JSON object (a row written by other means than the
	// store), from which the documents cannot be dropped: it is listed
	// with Data nil and this set, so that one such row fails only
	// itself, not every list it is in. GetRun and lists with documents
	// return the row's data as it is.
	DataInvalid bool
}

// Event is one entry in a run's timeline.
type Event struct {
	RunID  string    `json:"runId"`
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Data   string    `json:"data,omitempty"`
}

// Change is what an update adds beside the new row.
type Change struct {
	Events []Event
	Audit  []audit.Record
	// Register registers resources for the run's tenant in the same
	// transaction: a resource not yet registered is inserted; one already
	// registered must have the same Hash, or the whole change fails with a
	// *ResourceConflict (the first, in kind and name order: the order the
	// stores write them in).
	Register []Resource
	// Limits are checked once the row is written: a change that takes a
	// limit past its Max fails with a *CapacityError, writing nothing.
	Limits []Limit
}

// Resource is a document a tenant registered (an Organization or a
// Dataset). Doc is its canonical JSON; Hash is the SHA-256 of Doc.
type Resource struct {
	Tenant string
	Kind   string
	Name   string
	Doc    []byte
	Hash   string
	// StoreKey identifies a dataset's data (home store URL and name); it is
	// unique across tenants. Empty for other kinds.
	StoreKey  string
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ResourcePut is one resource of PutResources: registered, or replacing
// the registered copy at IfVersion (0: must not exist yet), with its audit
// record.
type ResourcePut struct {
	Resource  *Resource
	IfVersion int64
	Audit     audit.Record
}

// ResourceConflict is returned when a request's copy of a resource differs
// from the registered one, or names data another tenant registered.
type ResourceConflict struct {
	Kind, Name string
	// Registered is the tenant's registered copy, nil when the conflict is
	// with another tenant's data (which is not shown).
	Registered *Resource
	Detail     string
}

func (e *ResourceConflict) Error() string {
	return e.Kind + " " + e.Name + ": " + e.Detail
}

// ListOptions filter ListRuns. Zero values match everything.
type ListOptions struct {
	// Tenant lists that tenant's runs; AllTenants lists every tenant's
	// (the server's own reads). One of them must be set, and not both:
	// ErrNoTenant.
	Tenant     string
	AllTenants bool
	// Active lists only runs whose state is not in Final.
	Active bool
	Final  []string
	// States, when set, lists only runs in one of these states.
	States []string
	// After, when set, lists only the runs after run After in the list's
	// order (by creation, then id): the next page. A run of that id that
	// does not exist, or is not Tenant's, lists none.
	After string
	// Limit, when above 0, lists at most Limit runs.
	Limit int
	// NoDocuments leaves the request's documents out of each run's Data
	// (the database drops them): the lists a tenant reads show none, and a
	// run's documents may be megabytes, so a page of runs read with them
	// could cost the server gigabytes. A run whose data is not a JSON
	// object is listed with Run.DataInvalid set.
	NoDocuments bool
	// HeldForKey, when set, lists only the runs in state "held" whose
	// hold waits for the key of the dataset of that name, and those whose
	// hold the database cannot tell (HoldKeyUnknown): the column hold_key
	// the database derives from each row's state and data (migration
	// 00018, PostgreSQL 00016), read through the index on (tenant,
	// hold_key). No writer gives the column: it cannot say other than the
	// row's data does. It is a narrowing: the caller
	// still decodes each run listed and judges its hold. A name that is
	// HoldKeyUnknown, holds a NUL or bytes that are not UTF-8 is refused
	// by both stores alike.
	HeldForKey string
}

// HoldKeyUnknown is the hold_key of a held run whose data the database
// cannot tell the key of (not valid JSON, a hold's keyDataset or reason
// that is not a string, or a hold written before keyDataset existed whose
// reason asks for a key): ListOptions.HeldForKey lists it for every name,
// so that such a run is read, never passed by. No dataset's name is it (a
// name is a DNS label).
const HoldKeyUnknown = "*"

// checkHeldForKey refuses a ListOptions.HeldForKey no dataset can have:
// every store refuses it, listing nothing.
func checkHeldForKey(name string) error {
	if name == HoldKeyUnknown {
		return fmt.Errorf("list runs: HeldForKey %q: the mark of holds whose key is unknown, not a dataset's name", name)
	}
	if strings.IndexByte(name, 0) >= 0 || !utf8.ValidString(name) {
		return fmt.Errorf("list runs: HeldForKey %q: holds a NUL or bytes that are not UTF-8, which no dataset's name holds", name)
	}
	return nil
}

// RunVersion is a run's id and row version (Run.Version).
type RunVersion struct {
	ID      string
	Version int64
}

// scanVersions reads RunVersions' rows (of database/sql or pgx).
func scanVersions(rows rowScanner) ([]RunVersion, error) {
	var out []RunVersion
	for rows.Next() {
		var v RunVersion
		if err := rows.Scan(&v.ID, &v.Version); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Errors callers can test for.
var (
	ErrNotFound = errors.New("not found")
	// ErrNoChange, returned by an update function, leaves the row as it was.
	ErrNoChange = errors.New("no change")
	// ErrConflict means the row changed under an update (lost race).
	ErrConflict = errors.New("conflict")
	// ErrNoTenant refuses a read that names no tenant and does not ask
	// for every tenant's rows, or that does both.
	ErrNoTenant = errors.New("a read names no tenant and does not ask for every tenant's")
	// ErrKeyNotText refuses an idempotency key that holds a NUL or bytes
	// that are not UTF-8, which PostgreSQL's text cannot hold: every store
	// refuses it, writing nothing.
	ErrKeyNotText = errors.New("an idempotency key must be UTF-8 text without NUL")
)

// keyRun is the run an idempotency key of tenant names, read as got and
// err: a run of another tenant is refused, not returned. A key row names
// its tenant's run by id alone, and the run is read by id: a row that
// names another tenant's (written to the database by other means) would
// hand that tenant's run, documents and all, to whoever retries with the
// key.
func keyRun(got *Run, err error) func(tenant string) (*Run, error) {
	return func(tenant string) (*Run, error) {
		if err != nil {
			return nil, err
		}
		if got.Tenant != tenant {
			return nil, fmt.Errorf("tenant %s's idempotency key names run %s of another tenant: the key's row was changed outside Meridian", tenant, got.ID)
		}
		return got, nil
	}
}

// tenantScope checks a read's tenant fields: one tenant, or every tenant
// on purpose.
func tenantScope(tenant string, all bool) error {
	switch {
	case tenant == "" && !all:
		return ErrNoTenant
	case tenant != "" && all:
		return fmt.Errorf("%w: tenant %q and every tenant both asked for", ErrNoTenant, tenant)
	}
	return nil
}

// AuditHeadRead is the log's head and the hash of an entry, read together
// (Store.AuditHeadAt).
type AuditHeadRead struct {
	// Seq and Hash are the last entry's (0 and audit.Genesis for an empty
	// log).
	Seq  int64
	Hash string
	// At is the hash of the entry asked for; AtOK is false when there is
	// none.
	At   string
	AtOK bool
}

// auditHeadAtQuery reads the head and the hash at a seq (its one argument,
// written by ph) in one statement: no row for an empty log, which has no
// entry at any seq either.
func auditHeadAtQuery(ph string) string {
	return `SELECT seq, hash, (SELECT a.hash FROM audit AS a WHERE a.seq = ` + ph + `) FROM audit ORDER BY seq DESC LIMIT 1`
}

// Store is Meridian's persistence. Implementations are safe for concurrent use.
type Store interface {
	// CreateRun inserts r with its first events and audit records. When
	// idemKey is not empty and the tenant already used it, the existing run
	// is returned with created false and nothing is written.
	CreateRun(ctx context.Context, r *Run, idemKey string, ch Change) (got *Run, created bool, err error)
	// UpdateRun reads run id, calls fn to change it (in place) and writes
	// the row, its events and audit records in one transaction. fn may be
	// called more than once; it must not have side effects. When ctx
	// carries a fence (WithFence), the transaction first checks the lease
	// and fails with ErrFenced, writing nothing, if it moved on.
	UpdateRun(ctx context.Context, id string, fn func(r *Run) (Change, error)) (*Run, error)
	// GetRun returns one run or ErrNotFound.
	GetRun(ctx context.Context, id string) (*Run, error)
	// RunVersionOf is run id's tenant and row version, without reading the
	// run: a reader that holds that version of it (a followed stream,
	// every second) need not read it again, and a run's documents may be
	// megabytes. ErrNotFound when there is none.
	RunVersionOf(ctx context.Context, id string) (tenant string, version int64, err error)
	// RunByKey returns the run tenant created with idempotency key key, or
	// ErrNotFound.
	RunByKey(ctx context.Context, tenant, key string) (*Run, error)
	// ListRuns returns runs, oldest first.
	ListRuns(ctx context.Context, opts ListOptions) ([]*Run, error)
	// RunVersions lists the id and row version of each of tenant's runs,
	// in ListRuns' order, without their data: what a reader that holds
	// the runs needs to tell which changed. More than MaxRunVersions is
	// ErrTooMany.
	RunVersions(ctx context.Context, tenant string) ([]RunVersion, error)
	// RunVersionsAfter is a page of RunVersions: the versions of tenant's
	// runs after run after (from the first when after is empty; a run
	// that does not exist or is another tenant's lists none, as
	// ListOptions.After), at most limit of them (0: up to MaxRunVersions,
	// as RunVersions). A limit below 0 or past MaxRunVersions is refused.
	// A reader of every version reads them a page at a time, the last
	// run's id the next page's after, however many runs the tenant has.
	RunVersionsAfter(ctx context.Context, tenant, after string, limit int) ([]RunVersion, error)
	// Events returns a run's timeline in order; more than MaxEvents
	// events is ErrTooMany.
	Events(ctx context.Context, runID string) ([]Event, error)
	// EventsAfter is the run's events after seq after, in order, at most
	// limit of them (0: no limit, up to MaxEvents, as Events): a page of
	// Events, or what a reader that holds the rest has not read yet. A
	// limit past MaxEvents is refused.
	EventsAfter(ctx context.Context, runID string, after int64, limit int) ([]Event, error)
	// AppendAudit seals recs at the end of the audit chain in one transaction.
	AppendAudit(ctx context.Context, recs ...audit.Record) error
	// AuditEntries returns the chain in seq order; runID filters when set.
	AuditEntries(ctx context.Context, runID string) ([]audit.Entry, error)
	// AuditSelect returns the entries q selects, in seq order. The
	// server's read of some kinds (AllTenants, Kinds, no Through), and
	// every read of a tenant's (Tenant), fails with ErrAuditGap when
	// entries are missing from the part of the log it read: up to
	// Through when set, else the log's end when it read fewer than
	// q.Limit.
	AuditSelect(ctx context.Context, q AuditQuery) ([]audit.Entry, error)
	// AuditSelectPage returns a page of the entries q selects, in seq
	// order, and the After of the next page (0: none). A tenant's page
	// with UntenantedOfRuns looks at AuditUntenantedWindow entries without
	// a tenant at most, and may hold fewer than q.Limit entries, or none,
	// with a next page.
	AuditSelectPage(ctx context.Context, q AuditQuery) ([]audit.Entry, int64, error)
	// VerifyAudit checks the whole chain.
	VerifyAudit(ctx context.Context) (audit.Result, error)
	// AuditHead returns the last entry's seq and hash (0 and audit.Genesis
	// for an empty log).
	AuditHead(ctx context.Context) (int64, string, error)
	// AuditHashAt returns the hash of entry seq; ok is false when there is none.
	AuditHashAt(ctx context.Context, seq int64) (string, bool, error)
	// AuditHeadAt is AuditHead and AuditHashAt(seq) read in one
	// statement, so in one snapshot of the log: the head and the entry at
	// seq are as they were at one moment, whatever is appended or removed
	// meanwhile, at the cost of one query. The ledger indexes read it
	// before each catch-up (the head, and whether the highest head any
	// catch-up read, or the watch's own, is still there).
	AuditHeadAt(ctx context.Context, seq int64) (AuditHeadRead, error)

	// GetResource returns a tenant's registered resource or ErrNotFound.
	GetResource(ctx context.Context, tenant, kind, name string) (*Resource, error)
	// ListResources returns a tenant's registered resources of kind (all
	// kinds when kind is empty), by kind and name; more than
	// MaxListResources is ErrTooMany.
	ListResources(ctx context.Context, tenant, kind string) ([]*Resource, error)
	// PutResource registers r, or replaces the tenant's registered copy when
	// ifVersion equals its version (0: must not exist yet), with its audit
	// record, in one transaction. A lost race is ErrConflict.
	PutResource(ctx context.Context, r *Resource, ifVersion int64, rec audit.Record) (*Resource, error)
	// PutResources is PutResource for several resources in one
	// transaction: every one is written, with its audit record, or none
	// is (the error of the first refused, in kind and name order: the
	// order the stores write them in). It returns them as written, in the
	// order of puts, and appends their audit records in that order.
	PutResources(ctx context.Context, puts []ResourcePut) ([]*Resource, error)
	// TenantUID returns the user id a tenant's workloads run as, allocating
	// the next free one at or above base the first time. A recorded id
	// below base, past 2^31-1, or held by another tenant too (the table
	// changed by hand) is refused with an error.
	TenantUID(ctx context.Context, tenant string, base int) (int, error)

	// PutRuleRevision stores r as revision after (the number it must follow:
	// 0 for the first) with its audit record, in one transaction; it returns
	// the stored revision, or ErrConflict when another revision came first.
	PutRuleRevision(ctx context.Context, r *RuleRevision, after int64, rec audit.Record) (*RuleRevision, error)
	// ListRuleRevisions lists at most limit revisions numbered after
	// after, oldest first, without their files' contents (each file's
	// name and size): a page of a history whose revisions may each hold
	// megabytes of rule files.
	ListRuleRevisions(ctx context.Context, after int64, limit int) ([]*RuleRevisionInfo, error)
	// GetRuleRevision returns revision rev with its files, or ErrNotFound.
	GetRuleRevision(ctx context.Context, rev int64) (*RuleRevision, error)
	// LastRuleRevision returns the newest revision's number (0 when there
	// is none).
	LastRuleRevision(ctx context.Context) (int64, error)
	// LawCheck returns the last law check (0 and "" before the first).
	LawCheck(ctx context.Context) (rev int64, day string, err error)
	// SetLawCheck records a law check with its audit record. When ctx
	// carries a fence (the controller loop's), the lease is checked first.
	SetLawCheck(ctx context.Context, rev int64, day string, rec audit.Record) error

	// CountRuns returns how many runs are in each state at each site: the
	// MaxRunCounts pairs with the most runs, most first, then one row
	// (Other) summing the rest, if any.
	CountRuns(ctx context.Context) ([]RunCount, error)
	// Holds returns what the runs hold, summed per tenant, site, pool and
	// accelerator (capacity.go), ordered by those.
	Holds(ctx context.Context) ([]TenantHold, error)
	// VerifyAuditAnchored checks the whole chain and then, when anchors is
	// set and holds an anchor, that the log still reaches the anchored head.
	VerifyAuditAnchored(ctx context.Context, anchors *audit.Anchors) (audit.Result, error)

	Leaser
	Heartbeats
	Tokens
	Close() error
}

// RuleRevision is one accepted state of the operator's rule packs.
type RuleRevision struct {
	Rev  int64
	Hash string
	// Files maps each applied rule file's name to its contents.
	Files     map[string]string
	Who       string
	Reason    string
	CreatedAt time.Time
}

// RuleRevisionInfo is a rules revision as a listing shows it: everything
// but its files' contents.
type RuleRevisionInfo struct {
	Rev  int64
	Hash string
	// Files are the applied files' names and sizes, in name order.
	Files     []RuleFileInfo
	Who       string
	Reason    string
	CreatedAt time.Time
}

// RuleFileInfo is an applied rule file's name and size in bytes.
type RuleFileInfo struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
}
