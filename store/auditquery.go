package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"meridian.dev/meridian/audit"
)

// AuditQuery selects audit entries, in seq order. It names a tenant or
// asks for every tenant's (AllTenants); the zero value is refused.
type AuditQuery struct {
	// RunID keeps one run's entries.
	RunID string
	// Kinds keeps entries of these kinds.
	Kinds []string
	// Tenant keeps the entries recorded for this tenant, and those without
	// a tenant that Untenanted lets in.
	Tenant     string
	Untenanted Untenanted
	// AllTenants keeps every tenant's entries: the server's own reads. A
	// query must set Tenant or AllTenants, not both: a caller acting for a
	// tenant that forgot to name it is refused (ErrNoTenant), never given
	// every tenant's entries.
	AllTenants bool
	// After keeps the entries after this seq; Limit keeps at most this
	// many (0: no limit). Through, when above 0, keeps the entries up to
	// this seq.
	After   int64
	Limit   int
	Through int64
	// MaxBytes, when above 0, ends the selection after the entry whose
	// payload brings the payloads read to MaxBytes: a page of large
	// entries (a transfer intent lists every chunk) is cut short, and
	// holds at least one entry.
	MaxBytes int64
	// MaxEntryBytes, when above 0, leaves out the entries whose payload
	// alone is longer than this many bytes, as Kinds leaves out other
	// kinds: a caller that knows how large the entries it wants can be
	// never reads a larger one (a row written to the database by hand,
	// megabytes long, that a page of at least one entry would read whole).
	// The stores tell a payload's length without reading it.
	MaxEntryBytes int64
	// RefuseEntryBytes, when above 0, fails the selection at an entry
	// whose payload alone is longer than this many bytes, with an error
	// naming its seq (ErrAuditEntryTooLarge), its payload not read: a
	// reader that must not pass an entry by (the pages of the log, from
	// which a tenant checks the chain) refuses it where MaxEntryBytes
	// would leave it out.
	RefuseEntryBytes int64
	// PayloadsOf, with AllTenants, reads the payloads of this tenant's
	// entries only, with those of the entries without a tenant that
	// PayloadsUntenanted lets in (as Untenanted does for Tenant) and, with
	// PayloadsOfServer, those of the server's own entries (no tenant, no
	// run). Every other entry comes back redacted (audit.Entry.Redact):
	// its seq, time, hashes and version, what a page of the whole chain
	// shows of it, its payload never read from the database (the select
	// list has NULL in its place). A page of the whole chain for one
	// tenant read every tenant's payloads, up to MaxBytes, and dropped the
	// others': any tenant could have the server read megabytes of the
	// others' entries a request. MaxBytes counts the payloads read, so a
	// page of others' entries is bounded by Limit.
	PayloadsOf         string
	PayloadsUntenanted Untenanted
	PayloadsOfServer   bool
}

// ErrAuditEntryTooLarge is the error of a selection that met an entry
// longer than its RefuseEntryBytes.
var ErrAuditEntryTooLarge = errors.New("longer than any entry Meridian writes")

// Next is the After of the page that follows page, the entries q
// selected: the last entry's seq when the page is full (Limit entries) or
// was cut at MaxBytes, and 0 when nothing more can follow (Through, when
// set, ends the selection). AuditSelectPage says where the next page of a
// query it bounded starts.
func (q AuditQuery) Next(page []audit.Entry) int64 {
	if len(page) == 0 {
		return 0
	}
	var bytes int64
	for _, e := range page {
		bytes += int64(len(e.Payload))
	}
	if len(page) == q.Limit || q.MaxBytes > 0 && bytes >= q.MaxBytes {
		return page[len(page)-1].Seq
	}
	return 0
}

// Untenanted says which entries without a tenant (the server's own, and
// those written before entries named their tenant) a tenant query keeps.
type Untenanted int

const (
	// NoUntenanted keeps none of them.
	NoUntenanted Untenanted = iota
	// UntenantedOfRuns keeps those of the tenant's runs.
	UntenantedOfRuns
	// AllUntenanted keeps all of them: the tenant is the one that owned
	// the state directory before there were tenants.
	AllUntenanted
)

// MaxAuditKinds bounds AuditQuery.Kinds.
const MaxAuditKinds = 16

// AuditUntenantedWindow bounds the entries without a tenant that one page
// of a tenant's entries with UntenantedOfRuns looks at (AuditSelectPage).
// Which of them are the tenant's is known only from the runs table, so the
// query reads each one after After until it has a page: on a log written
// before entries named their tenant (all of it without one) a tenant with
// few entries there had every request read the whole log (a million
// entries: about a second on SQLite, the one connection every write waits
// for held meanwhile), and any tenant could ask for it again and again.
const AuditUntenantedWindow = 10000

// untenantedWindowEnd is the SQL that finds the seq of the
// AuditUntenantedWindow-th entry without a tenant after q.After (up to
// q.Through), from the tenant index alone: no row is read.
func untenantedWindowEnd(q AuditQuery, ph func(n int) string) (string, []any) {
	args := []any{q.After}
	query := "SELECT seq FROM audit WHERE tenant = '' AND seq > " + ph(1)
	if q.Through > 0 {
		args = append(args, q.Through)
		query += " AND seq <= " + ph(2)
	}
	args = append(args, AuditUntenantedWindow-1)
	query += " ORDER BY seq LIMIT 1 OFFSET " + ph(len(args))
	return query, args
}

// gapFrom says whether the page of q, read as page, is checked for
// entries missing from the log (checksGaps), and from which seq on: after
// q.After, or, for the first page of the records of some kinds of one run
// (q.RunID, q.Kinds, q.After 0), from the first of them on the page. It is for
// AuditSelectPage's readers, which take the newest record of a kind or
// check that a run's first record is its submission's: a reader that sums
// or folds every record (AuditSelect's, see auditSelectWhole) needs the
// oldest ones too, and is checked from q.After. One run's
// records begin at its submission, and each reader of them looks for the
// newest (the placement witness) or checks that the first is its
// submission's (the run witness): a record of the run deleted before the
// first found is older than it, so not the newest, and a deleted
// submission record leaves a first one that is not the submission's,
// which that reader refuses. Counted from q.After, a run's first read
// (q.After 0) counted the whole log, about 100 ns an entry, at each run's
// first confirmation; counted from its first record, the entries written
// since the run began. A first page of no records of the run (q.After 0)
// is not checked: there is then no record of the run to take as the
// newest, and each reader refuses a run with none. Later pages are
// checked from q.After, the count going on from where the last one ended.
func gapFrom(q AuditQuery, page []audit.Entry) (int64, bool) {
	if !checksGaps(q) {
		return 0, false
	}
	if q.RunID == "" || len(q.Kinds) == 0 {
		// A tenant's pages of a run's log (every kind) list every record
		// of the run: one deleted before the first found is one of them.
		return q.After, true
	}
	if q.After > 0 {
		return q.After, true
	}
	if len(page) == 0 {
		return 0, false
	}
	return page[0].Seq - 1, true
}

// auditSelectPage is AuditSelectPage over a store's AuditSelect (sel), a
// query of one int64 (one: false when there is no row) and the store's gap
// check (noGap in a snapshot of its own): a server's lookup of the records
// of a kind (checksGaps) fails, with ErrAuditGap, when entries are missing
// from the part of the log it read, after q.After up to the next page, or
// to the log's end on the last page. The check starts at q.After, not at
// the newest record found: the register witness takes each resource's
// newest record from one kind's, and one resource's deleted newest record
// may lie before another's found after it.
func auditSelectPage(q AuditQuery, ph func(n int) string, sel func(AuditQuery) ([]audit.Entry, error), one func(query string, args ...any) (int64, bool, error), gaps func(lo, hi int64) error) ([]audit.Entry, int64, error) {
	if q.Tenant == "" || q.Untenanted != UntenantedOfRuns {
		page, err := sel(q)
		if err != nil {
			return nil, 0, err
		}
		next := q.Next(page)
		if lo, check := gapFrom(q, page); check {
			if err := gaps(lo, gapTo(q, page)); err != nil {
				return nil, 0, err
			}
		}
		return page, next, nil
	}
	if _, _, err := auditSelect(q, ph); err != nil {
		return nil, 0, err
	}
	asked := q
	wq, wargs := untenantedWindowEnd(q, ph)
	end, windowed, err := one(wq, wargs...)
	if err != nil {
		return nil, 0, err
	}
	if windowed {
		q.Through = end
	}
	page, err := sel(q)
	if err != nil {
		return nil, 0, err
	}
	next := q.Next(page)
	if next == 0 && windowed {
		// The window ended the page, not the log: the next page starts
		// after it, holding fewer entries than the limit, or none.
		next = end
	}
	// Checked as asked (the window's Through is the store's, not the
	// caller's), up to where the next page starts, or the log's end.
	if lo, check := gapFrom(asked, page); check {
		hi := next
		if hi == 0 {
			hi = asked.Through
		}
		if err := gaps(lo, hi); err != nil {
			return nil, 0, err
		}
	}
	return page, next, nil
}

// auditSelectWhole is AuditSelect over a store's selection (sel) and its
// gap check (gaps, as for auditSelectPage): a server's read of the records
// of some kinds (checksGaps) fails, with ErrAuditGap, when entries are
// missing from the part of the log it read. Its readers sum or fold every
// record they read (the bytes a tenant's data crossed borders, the copies
// at each site, the register records since the last read): a record
// deleted by whoever writes the database without the audit key left its
// bytes or its copy out of every sum until the log's next verification.
//
// The part read is after q.After up to the last entry selected when the
// selection was cut (Limit entries, or MaxBytes: q.Next), the reader then
// reading on from there, or up to the log's end when it was not: an entry
// deleted after the last one selected, before the log's end, is one the
// reader would have read. It is counted from q.After whatever the run
// (gapFrom's first page of a run counts from the run's first record
// found): a deleted record of the run older than the first found is one a
// sum needs. The count is of the seq index over that range, in its own
// snapshot, after the selection: an entry deleted since fails the read
// too, an entry appended since is counted as there.
func auditSelectWhole(q AuditQuery, sel func(AuditQuery) ([]audit.Entry, error), gaps func(lo, hi int64) error) ([]audit.Entry, error) {
	es, err := sel(q)
	if err != nil {
		return nil, err
	}
	if checksGaps(q) {
		if err := gaps(q.After, gapTo(q, es)); err != nil {
			return nil, err
		}
	}
	return es, nil
}

// auditSelect is q as SQL and its arguments, with the placeholder style
// ph gives (? for SQLite, $n for PostgreSQL).
func auditSelect(q AuditQuery, ph func(n int) string) (string, []any, error) {
	if len(q.Kinds) > MaxAuditKinds {
		return "", nil, fmt.Errorf("audit query: %d kinds, at most %d", len(q.Kinds), MaxAuditKinds)
	}
	if q.Limit < 0 || q.After < 0 || q.Through < 0 || q.MaxEntryBytes < 0 || q.RefuseEntryBytes < 0 {
		return "", nil, fmt.Errorf("audit query: after %d, limit %d, through %d, entry bytes %d, refused entry bytes %d: want 0 or more", q.After, q.Limit, q.Through, q.MaxEntryBytes, q.RefuseEntryBytes)
	}
	if err := tenantScope(q.Tenant, q.AllTenants); err != nil {
		return "", nil, fmt.Errorf("audit query: %w", err)
	}
	if err := payloadsScope(q); err != nil {
		return "", nil, err
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return ph(len(args))
	}
	// where is the query's filter, with own's as the filter on the tenant
	// (own is called in turn: placeholders take their arguments in order).
	where := func(own func() string) string {
		var w []string
		if q.After > 0 {
			w = append(w, "seq > "+arg(q.After))
		}
		if q.Through > 0 {
			w = append(w, "seq <= "+arg(q.Through))
		}
		if q.RunID != "" {
			w = append(w, "run_id = "+arg(q.RunID))
		}
		if len(q.Kinds) > 0 {
			ks := make([]string, len(q.Kinds))
			for i, k := range q.Kinds {
				ks[i] = arg(k)
			}
			w = append(w, "kind IN ("+strings.Join(ks, ", ")+")")
		}
		if q.MaxEntryBytes > 0 {
			// octet_length reads the length SQLite keeps in the row's
			// header and PostgreSQL in a large value's TOAST pointer,
			// not the value.
			w = append(w, "octet_length(payload) <= "+arg(q.MaxEntryBytes))
		}
		if own != nil {
			w = append(w, own())
		}
		if len(w) == 0 {
			return ""
		}
		return " WHERE " + strings.Join(w, " AND ")
	}
	limit := func() string {
		if q.Limit > 0 {
			return " LIMIT " + arg(q.Limit)
		}
		return ""
	}
	const cols = auditCols
	// read is the select list of each query of the table: with
	// RefuseEntryBytes, a payload longer than it is selected as NULL,
	// which scanAudit refuses naming the entry (octet_length reads the
	// length, not the value). The bound is a number, not an argument: the
	// list comes before the filters' placeholders, which SQLite numbers
	// in order.
	read := cols
	if q.RefuseEntryBytes > 0 {
		read = payloadUpTo(cols, q.RefuseEntryBytes)
	}
	if q.PayloadsOf != "" {
		read = payloadsOf(q, arg)
	}
	// Each query is built before args is returned: the calls that build
	// it append to args.
	var query string
	if q.Tenant == "" {
		query = "SELECT " + read + " FROM audit" + where(nil) + " ORDER BY seq" + limit()
		return query, args, nil
	}
	// tenant is the column as the tenant filters compare it. With a run
	// named, it is an expression no index holds, so that the run's index
	// (audit_run, on run_id and seq) is the one read: SQLite, which has
	// no statistics of the table (nothing analyzes it), chose the tenant's
	// index for a run's page and read every entry of the tenant after
	// After to find the run's few, a request costing as much as the
	// tenant's whole log (any tenant may ask, page after page). A run's
	// entries are a part of its tenant's, never more.
	tenant := "tenant"
	if q.RunID != "" {
		tenant = "(tenant || '')"
	}
	mine := func() string { return tenant + " = " + arg(q.Tenant) }
	// order is the order of each query on the tenant. Of several kinds,
	// it is an expression no index holds: the entries are then read from
	// the index on tenant and kind (audit_tenant_kind), a kind at a time,
	// and sorted, as they must be from that index. SQLite, which has no
	// statistics, chose the tenant's index instead, whose order needs no
	// sort, and read every entry of the tenant after After to find the
	// few of those kinds. With one kind, that index has them in order.
	order := " ORDER BY seq"
	if tenant == "tenant" && len(q.Kinds) > 1 {
		order = " ORDER BY +seq"
	}
	if q.Untenanted == NoUntenanted {
		query = "SELECT " + read + " FROM audit" + where(mine) + order + limit()
		return query, args, nil
	}
	// The tenant's entries and the untenanted ones, each read in seq order
	// from the tenant index up to the limit, then merged: one filter with
	// an OR would be read whole and sorted for every page.
	untenanted := func() string {
		if q.Untenanted == UntenantedOfRuns {
			return tenant + " = '' AND run_id <> '' AND run_id IN (SELECT id FROM runs WHERE tenant = " + arg(q.Tenant) + ")"
		}
		return tenant + " = ''"
	}
	first := "SELECT " + read + " FROM audit" + where(mine) + order + limit()
	second := "SELECT " + read + " FROM audit" + where(untenanted) + order + limit()
	query = "SELECT " + cols + " FROM (" + first + ") AS mine UNION ALL SELECT " + cols + " FROM (" + second + ") AS untenanted ORDER BY seq" + limit()
	return query, args, nil
}

// byteBounded is query, which selects cols from the audit table in seq
// order, ended by the database after the entry whose payload brings the
// payloads selected to maxBytes, as scanAudit ends it: the entries whose
// payloads before them sum to less. A client that stops reading rows at
// the bound does not stop PostgreSQL sending them: closing the rows reads
// and drops the rest, so a page cut at 16 MiB of a query allowed 5,000
// rows of megabytes each moved gigabytes. The sizes are of the stored
// values (octet_length reads a large value's size from its TOAST pointer,
// not the value), and a row past the bound is never sent. A NULL payload
// (one RefuseEntryBytes refused) counts as empty: the row is sent, and
// refused by scanAudit, not left out.
func byteBounded(query, cols string, maxBytes int64) string {
	return "SELECT " + cols + " FROM (SELECT " + cols +
		", SUM(COALESCE(octet_length(payload), 0)) OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING) - COALESCE(octet_length(payload), 0) AS bytes_before FROM (" +
		query + ") AS page) AS sized WHERE bytes_before < " + strconv.FormatInt(maxBytes, 10) + " ORDER BY seq"
}

// Verification reads the log a page at a time: at most verifyPage
// entries, cut short after the entry that brings its payloads to
// verifyPageBytes (an entry may be megabytes). What a verification holds
// is a page, whatever the log's length.
const (
	verifyPage      = 1000
	verifyPageBytes = 4 << 20
)

// auditSource is an audit.Source over one snapshot of a database's audit
// table (a transaction of its own): each page is one query whose rows are
// closed before the verification looks at them, so the lookups it makes
// at a break may use the same connection.
type auditSource struct {
	// cols is the select list scanAudit reads.
	cols string
	// ph writes the nth placeholder (? for SQLite, $n for PostgreSQL).
	ph func(n int) string
	// query runs a query in the snapshot; done closes its rows.
	query func(q string, args ...any) (rows rowScanner, done func(), err error)
	// cutInDB has the database end each page at verifyPageBytes
	// (byteBounded): PostgreSQL, which sends every row a query selects
	// whether or not they are read. SQLite reads a row only when asked.
	cutInDB bool
}

// Read implements audit.Source.
func (s auditSource) Read(kind string, fn func([]audit.Entry) error) error {
	// The first page has no lower bound: an entry moved below 1, to the
	// lowest seq there is included, is shown by the log's readers, and
	// must be read, and reported, here too. (A row without a seq, put
	// there by whoever dropped the primary key, fails the scan, or the
	// look for one at the end: the verification errs rather than pass it
	// by.)
	first := "SELECT " + s.cols + " FROM audit"
	if kind != "" {
		first += " WHERE kind = " + s.ph(1)
	}
	first += " ORDER BY seq LIMIT " + strconv.Itoa(verifyPage)
	// A page after the first starts at the last seq read, not after it,
	// past the entries of that seq read already (read, an OFFSET): seqs
	// are unique only while the table keeps its primary key, and whoever
	// rebuilt it without one and put a second entry at the seq that ended
	// a page had it listed by the log's readers and passed over here.
	// Read, it breaks the chain where it is.
	next := "SELECT " + s.cols + " FROM audit WHERE seq >= " + s.ph(1)
	if kind != "" {
		next += " AND kind = " + s.ph(2)
	}
	next += " ORDER BY seq LIMIT " + strconv.Itoa(verifyPage) + " OFFSET "
	var after *int64
	var read int // entries of seq *after read
	for {
		q, args := first, []any{}
		if after != nil {
			q, args = next+strconv.Itoa(read), []any{*after}
		}
		if kind != "" {
			args = append(args, kind)
		}
		if s.cutInDB {
			q = byteBounded(q, s.cols, verifyPageBytes)
		}
		rows, done, err := s.query(q, args...)
		if err != nil {
			return err
		}
		page, err := scanAudit(rows, verifyPageBytes, 0)
		done()
		if err != nil {
			return err
		}
		if len(page) == 0 {
			if kind != "" {
				// A lookup within a verification, which reads the
				// whole log too.
				return nil
			}
			return s.noSeqless()
		}
		if err := fn(page); err != nil {
			return err
		}
		last := page[len(page)-1].Seq
		if after == nil || last != *after {
			read = 0
		}
		for i := len(page) - 1; i >= 0 && page[i].Seq == last; i-- {
			read++
		}
		after = &last
	}
}

// noSeqless fails when the table holds a row without a seq: PostgreSQL sorts a NULL last, where the pages after the
// first (seq >= the last read) never look, and the log's readers that
// list it whole fail on it. The look is its own query, from the primary
// key's index, rather than the first page's order with NULLs first,
// which that index cannot give (the whole table read and sorted).
func (s auditSource) noSeqless() error {
	var one int
	found, err := s.one(&one, "SELECT 1 FROM audit WHERE seq IS NULL LIMIT 1")
	if err != nil {
		return err
	}
	if found {
		return errors.New("the audit table holds an entry without a seq: its primary key was dropped and the table written outside Meridian")
	}
	return nil
}

// SeqOf implements audit.Source, from the audit_hash index.
func (s auditSource) SeqOf(hash string) (int64, bool, error) {
	var seq int64
	ok, err := s.one(&seq, "SELECT seq FROM audit WHERE hash = "+s.ph(1)+" ORDER BY seq DESC LIMIT 1", hash)
	return seq, ok, err
}

// Count implements audit.Source.
func (s auditSource) Count() (int64, error) {
	var n int64
	_, err := s.one(&n, "SELECT COUNT(*) FROM audit")
	return n, err
}

// one scans the first row of q into dst; false when there is none.
func (s auditSource) one(dst any, q string, args ...any) (bool, error) {
	rows, done, err := s.query(q, args...)
	if err != nil {
		return false, err
	}
	defer done()
	if !rows.Next() {
		return false, rows.Err()
	}
	if err := rows.Scan(dst); err != nil {
		return false, err
	}
	return true, rows.Err()
}

// auditCols is the select list of the audit table's columns that
// scanAudit reads.
const auditCols = `seq, time, kind, run_id, payload, prev_hash, hash, tenant, version`

// sqlAuditSnapshot is an audit.Snapshot over a read transaction of db
// (SQLite): the transaction's first read fixes what every later one sees.
// cols is the select list (see auditSource).
func sqlAuditSnapshot(ctx context.Context, db *sql.DB, cols func(tx *sql.Tx) (string, bool, error)) audit.Snapshot {
	return func(fn func(audit.Source) error) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		sel, ok, err := cols(tx)
		if err != nil {
			return err
		}
		if !ok {
			// No audit table: no log.
			return fn(audit.SliceSource(nil))
		}
		return fn(auditSource{cols: sel, ph: func(int) string { return "?" }, query: func(q string, args ...any) (rowScanner, func(), error) {
			rows, err := tx.QueryContext(ctx, q, args...)
			if err != nil {
				return nil, nil, err
			}
			return rows, func() { rows.Close() }, nil
		}})
	}
}

// payloadsScope refuses PayloadsOf where it has no meaning: on a tenant's
// query (every entry it selects is one the tenant may read), and its
// companions without it.
func payloadsScope(q AuditQuery) error {
	if q.PayloadsOf != "" && !q.AllTenants {
		return fmt.Errorf("audit query: payloads of %q: only with every tenant's entries (AllTenants)", q.PayloadsOf)
	}
	if q.PayloadsOf == "" && (q.PayloadsUntenanted != NoUntenanted || q.PayloadsOfServer) {
		return errors.New("audit query: payloads of entries without a tenant, but of no tenant's (PayloadsOf)")
	}
	return nil
}

// auditColsShown is auditCols with the column shown that payloadsOf's
// select list ends with.
const auditColsShown = auditCols + ", shown"

// payloadsOf is the select list of q (auditCols, its payload bounded by
// RefuseEntryBytes as payloadUpTo bounds it) with the payload of an entry
// not q.PayloadsOf's selected as NULL, and a last column, shown: 1 for an
// entry whose payload was read, 0 for one whose was not (scanAudit tells
// a payload refused by RefuseEntryBytes, also NULL, from a withheld one
// by it). Which entries without a tenant are the tenant's is the tenant
// query's rule (untenanted in auditSelect). arg appends an argument and
// returns its placeholder: the list comes before the filters, so its
// placeholders are numbered first, the payload's, then shown's.
func payloadsOf(q AuditQuery, arg func(any) string) string {
	own := func() string {
		w := "tenant = " + arg(q.PayloadsOf)
		var untenanted []string
		if q.PayloadsOfServer {
			untenanted = append(untenanted, "run_id = ''")
		}
		switch q.PayloadsUntenanted {
		case AllUntenanted:
			untenanted = append(untenanted, "1 = 1")
		case UntenantedOfRuns:
			untenanted = append(untenanted, "run_id <> '' AND run_id IN (SELECT id FROM runs WHERE tenant = "+arg(q.PayloadsOf)+")")
		}
		if len(untenanted) > 0 {
			w += " OR tenant = '' AND (" + strings.Join(untenanted, " OR ") + ")"
		}
		return "(" + w + ")"
	}
	payload := "payload"
	if q.RefuseEntryBytes > 0 {
		payload = "CASE WHEN octet_length(payload) <= " + strconv.FormatInt(q.RefuseEntryBytes, 10) + " THEN payload END"
	}
	payload = "CASE WHEN " + own() + " THEN " + payload + " END AS payload"
	shown := "CASE WHEN " + own() + " THEN 1 ELSE 0 END AS shown"
	return strings.Replace(auditCols, "payload", payload, 1) + ", " + shown
}

// payloadUpTo is the column list cols with its payload read only when it
// is at most max bytes long (NULL past it): the length is the database's,
// so a row that holds more is never read into memory. max is written into
// the query, not passed as an argument: the list comes before the
// filters' placeholders, which SQLite numbers in order.
func payloadUpTo(cols string, max int64) string {
	return strings.Replace(cols, "payload", "CASE WHEN octet_length(payload) <= "+strconv.FormatInt(max, 10)+" THEN payload END AS payload", 1)
}
