package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite" // also registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"meridian.dev/meridian/audit"
)

// Hot queries, prepared once at open.
const (
	qRunPut = `INSERT INTO runs (id, tenant, job, state, site, attempt, handle, data, version, created_at, updated_at,
		hold_site, hold_pool, hold_accelerator, hold_count)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qRunUpdate = `UPDATE runs SET state = ?, site = ?, attempt = ?, handle = ?, data = ?, version = ?, updated_at = ?,
			hold_site = ?, hold_pool = ?, hold_accelerator = ?, hold_count = ?
			WHERE id = ? AND version = ?`
	// qIdemGet reads the tenant and key as text and as bytes (BLOBs, see
	// idemRun), and counts the rows so read: a key held twice, as text
	// and as bytes, which SQLite keeps apart, is ErrRowTwice. Four seeks
	// of the primary key, and four of it alone for the count.
	qIdemGet = `SELECT run_id, tenant, key, (SELECT COUNT(*) FROM idempotency_keys AS t
		WHERE t.tenant IN (?1, CAST(?1 AS BLOB)) AND t.key IN (?2, CAST(?2 AS BLOB))) FROM idempotency_keys
		WHERE tenant IN (?1, CAST(?1 AS BLOB)) AND key IN (?2, CAST(?2 AS BLOB)) LIMIT 1`
	qIdemPut   = `INSERT INTO idempotency_keys (tenant, key, run_id, created_at) VALUES (?, ?, ?, ?)`
	qEventSeq  = `SELECT COALESCE(MAX(seq), 0) FROM events WHERE run_id = ?`
	qEventPut  = `INSERT INTO events (run_id, seq, time, kind, from_state, to_state, reason, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	qAuditHead = `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`
	qAuditPut  = `INSERT INTO audit (seq, time, kind, run_id, payload, prev_hash, hash, tenant, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qOrderGet  = `SELECT last FROM run_order WHERE id = 1`
	qOrderPut  = `UPDATE run_order SET last = ? WHERE id = 1`
)

var hotQueries = []string{qRunPut, qRunUpdate, qGetRun, qIdemGet, qBlobRunEvent, qIdemPut, qEventSeq, qEventPut, qAuditHead, qAuditPut, qOrderGet, qOrderPut, qTokenByHash, qTenantUID, qFenceGet, qRunVersion}

//go:embed migrations/*.sql migrations/postgres/*.sql
var migrations embed.FS

// SQLite is the embedded Store.
type SQLite struct {
	db *sql.DB
	// gapHead is the last entry a gap check found sealed (noGap).
	gapHead sealedHead
	// sealed is the watermark of the entries a gap check, or the log's
	// verification, found sealed and linked (see sealedTo).
	sealed sealedTo
	// rdb reads without waiting for the writer: WAL readers see the last
	// commit while a transaction (and its fsync) is under way on db. Only
	// reads whose answer is re-checked in the writing transaction, or that
	// may be a commit old, use it (Holds).
	rdb     *sql.DB
	chain   *audit.Chain
	now     func() time.Time
	onAudit func(seq int64, head string)
	// appended is the last audit entry this store appended (notify).
	appended appendedHead

	// creates feeds the group committer: concurrent CreateRun calls share
	// one transaction (and one fsync), each inside its own savepoint.
	creates chan *createReq
	stop    chan struct{}
	stopped chan struct{}

	// stmts holds the hot paths' statements, prepared at open; read only.
	stmts map[string]*sql.Stmt
	// holds is holdsQuery prepared on rdb (every plan asks it); headAt is
	// sqliteAuditHeadAt, prepared on rdb (every ledger read asks it).
	holds, headAt *sql.Stmt

	// res keeps ListResources answers until a resource is written.
	res resourceCache
}

// prepared returns q bound to tx: prepared once at open for the hot
// queries (the single connection is busy with tx, so it cannot be prepared
// here), else prepared within tx.
func (s *SQLite) prepared(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	if st := s.stmts[q]; st != nil {
		return tx.StmtContext(ctx, st), nil
	}
	return tx.PrepareContext(ctx, q)
}

func (s *SQLite) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	st, err := s.prepared(ctx, tx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (s *SQLite) queryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	st, err := s.prepared(ctx, tx, q)
	if err != nil {
		return tx.QueryRowContext(ctx, q, args...) // reports the same error
	}
	return st.QueryRowContext(ctx, args...)
}

type createReq struct {
	ctx  context.Context
	r    *Run
	key  string
	ch   Change
	done chan createRes
}

type createRes struct {
	run     *Run
	created bool
	err     error
}

// maxBatch bounds how many submissions share one transaction.
const maxBatch = 256

// Options configure OpenSQLite.
type Options struct {
	// AuditKey keys the audit chain (see audit.LoadKey).
	AuditKey []byte
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// OnAudit, when set, is called after each commit that appended audit
	// entries, with the new head (for the audit anchor). It must not block.
	OnAudit func(seq int64, head string)
	// GapChecksCountOnly leaves out of the gap checks (see noGap) the read
	// of every entry after the watermark (sealedTo): a server verifies its
	// log at start, and its checks then read only what was written since;
	// a CLI command reads a kind once, without verifying the log first,
	// and its check would read the whole log (about 9 µs an entry). Its
	// checks count the entries, and check the last one's seal, as before.
	GapChecksCountOnly bool
}

// OpenSQLite opens (creating if needed) the database at path, turns on WAL
// and a busy timeout, and applies pending migrations.
func OpenSQLite(ctx context.Context, path string, opts Options) (*SQLite, error) {
	if err := privateFile(path); err != nil {
		return nil, err
	}
	dsn := fileURI(path) + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// One writer at a time is SQLite's model; a single connection also keeps
	// the audit chain's read-then-append inside one serial transaction.
	db.SetMaxOpenConns(1)
	if err := connect(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	rdb, err := sql.Open("sqlite", fileURI(path)+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(4)
	s := &SQLite{db: db, rdb: rdb, chain: audit.NewChain(opts.AuditKey), now: opts.Now, onAudit: opts.OnAudit, sealed: sealedTo{off: opts.GapChecksCountOnly},
		creates: make(chan *createReq), stop: make(chan struct{}), stopped: make(chan struct{}), stmts: map[string]*sql.Stmt{}}
	if s.now == nil {
		s.now = time.Now
	}
	// unprepared closes what was prepared before a prepare that failed,
	// and both handles.
	unprepared := func(q string, err error) error {
		for _, st := range s.stmts {
			st.Close()
		}
		if s.holds != nil {
			s.holds.Close()
		}
		db.Close()
		rdb.Close()
		return fmt.Errorf("prepare %q: %w", q, err)
	}
	for _, q := range hotQueries {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return nil, unprepared(q, err)
		}
		s.stmts[q] = st
	}
	if s.holds, err = rdb.PrepareContext(ctx, holdsQuery); err != nil {
		return nil, unprepared(holdsQuery, err)
	}
	if s.headAt, err = rdb.PrepareContext(ctx, sqliteAuditHeadAt); err != nil {
		return nil, unprepared(sqliteAuditHeadAt, err)
	}
	go s.committer()
	return s, nil
}

// fileURI is the SQLite URI of the file at path: its '%', '?' and '#'
// escaped. As they were, the path ended at a '?' or '#' (the URI's query
// or fragment): a database at "state#1/m.db" was the file "state", shared
// with "state#2/m.db", neither the file privateFile made private nor the
// one beside which a reader looked for a WAL.
func fileURI(path string) string {
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// ErrDatabaseExposed refuses a database file, or a file SQLite keeps
// beside it, that another user than the process's may write.
var ErrDatabaseExposed = errors.New("another user may write it")

// privateFile creates the database file with mode 0600, or narrows an
// existing one (and its WAL and shared-memory files) to 0600: it holds every
// tenant's runs and the audit log. SQLite gives the files it creates beside
// the database the database's own mode. One that another user may write
// is refused (notExposed).
func privateFile(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if err := notExposed(path, fi); err != nil {
		return err
	}
	// A journal is read at open too (a hot one is played back into the
	// database), and so are a WAL and its index.
	for _, p := range []string{path + "-wal", path + "-shm", path + "-journal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		if err := notExposed(p, fi); err != nil {
			return err
		}
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	return nil
}

// notExposed refuses the database's file at path (fi) when another user
// than the process's effective one owns it, or its group or others may
// write it: whoever can write it may have rewritten the law, the runs and
// the audit log's tail. Narrowed to 0600 and opened, as it was, the file
// was believed. The file is left as it is, for the operator to look at.
// (The state directory's owner and mode are statedir's to check.)
func notExposed(path string, fi os.FileInfo) error {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("database file %s is owned by uid %d, not by this process's user (uid %d): %w; check what it holds, then chown it to this user",
			path, st.Uid, os.Geteuid(), ErrDatabaseExposed)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("database file %s has mode %04o: its group or others may write it: %w; check what it holds, then chmod it to 0600",
			path, perm, ErrDatabaseExposed)
	}
	return nil
}

// busyWait is how long a connection waits for another's lock: the
// busy_timeout of OpenSQLite's connections.
const busyWait = 10 * time.Second

// connect makes db's first connection, which turns a new database to WAL.
// SQLite answers SQLITE_BUSY at once, without waiting out the busy
// timeout, to a connection that does that while another process turns the
// same new database to WAL: processes started together on a new state
// directory would fail at random. It is tried again as the busy timeout
// would have waited.
func connect(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyWait)
	for pause := 5 * time.Millisecond; ; pause = min(2*pause, 200*time.Millisecond) {
		err := db.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

func migrate(ctx context.Context, db *sql.DB) error {
	p, err := goose.NewProvider(goose.DialectSQLite3, db, mustSub(migrations, "migrations"))
	if err != nil {
		return err
	}
	// goose reads which migrations a database has, then applies the rest,
	// each in a transaction of its own, without a lock around the two
	// (SQLite has no session lock): processes that open one database at
	// once (a server and a command that opens its state directory) may
	// each read version n, and all but the first then fail to apply n+1
	// ("table already exists"), which the first applied. The failed one
	// is rolled back whole; one that failed while the database moved on
	// tries again from where the database now is. One that failed with
	// the database where it was failed on its own.
	for tries := 0; ; tries++ {
		from, err := p.GetDBVersion(ctx)
		if err != nil {
			return err
		}
		_, err = p.Up(ctx)
		if err == nil {
			break
		}
		if now, verr := p.GetDBVersion(ctx); verr != nil || now <= from || tries >= len(p.ListSources()) {
			return err
		}
	}
	return schemaKnown(ctx, p)
}

// ErrSchemaNewer refuses a database a newer version of Meridian migrated.
var ErrSchemaNewer = errors.New("the database's schema is newer than this version of meridian knows")

// schemaKnown refuses a database whose schema has migrations this binary
// does not have. goose applies nothing to it and says nothing, and the
// binary would then write rows without what the newer schema keeps
// beside them and read its tables without knowing what they now mean.
func schemaKnown(ctx context.Context, p *goose.Provider) error {
	db, known, err := p.GetVersions(ctx)
	if err != nil {
		return err
	}
	if db > known {
		return fmt.Errorf("%w: it is at migration %d, this binary's last is %d; run the version that migrated it, or a newer one", ErrSchemaNewer, db, known)
	}
	return nil
}

// DB exposes the handle for tests and tools that inspect the tables.
func (s *SQLite) DB() *sql.DB { return s.db }

// Close stops the committer and closes the database.
func (s *SQLite) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
		<-s.stopped
	}
	for _, st := range s.stmts {
		st.Close()
	}
	s.holds.Close()
	s.headAt.Close()
	s.rdb.Close()
	return s.db.Close()
}

// ErrClosed is returned by calls after Close.
var ErrClosed = errors.New("store closed")

func (s *SQLite) committer() {
	defer close(s.stopped)
	for {
		var batch []*createReq
		select {
		case <-s.stop:
			return
		case r := <-s.creates:
			batch = append(batch, r)
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-s.creates:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.commitBatch(batch)
	}
}

// commitBatch runs each request in its own savepoint of one transaction,
// so a failing request is undone alone, then commits once.
func (s *SQLite) commitBatch(batch []*createReq) {
	res := make([]createRes, len(batch))
	var head *audit.Entry
	err := s.tx(context.Background(), func(tx *sql.Tx) error {
		for i, req := range batch {
			if err := req.ctx.Err(); err != nil {
				res[i].err = err
				continue
			}
			if _, err := tx.Exec(`SAVEPOINT create_run`); err != nil {
				return err
			}
			// Past the check above the request runs to its end whatever its
			// caller does: an INSERT that SQLite interrupts (its context
			// ending mid-statement) undoes the whole transaction, every
			// other request of the batch with it.
			got, created, last, err := s.createRun(context.WithoutCancel(req.ctx), tx, req.r, req.key, req.ch)
			if err == nil && last != nil {
				head = last
			}
			if err != nil {
				if _, rerr := tx.Exec(`ROLLBACK TO SAVEPOINT create_run`); rerr != nil {
					return rerr
				}
			}
			if _, err := tx.Exec(`RELEASE SAVEPOINT create_run`); err != nil {
				return err
			}
			res[i] = createRes{got, created, err}
		}
		return nil
	})
	if err == nil {
		s.notify(head)
	}
	for i, req := range batch {
		if err != nil {
			res[i] = createRes{err: err}
		}
		req.done <- res[i]
	}
}

// notify tells OnAudit about a committed head, and keeps it as the last
// appended (AuditAppended).
func (s *SQLite) notify(head *audit.Entry) {
	s.appended.raise(head)
	if head != nil && s.onAudit != nil {
		s.onAudit(head.Seq, head.Hash)
	}
}

const timeLayout = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) time.Time {
	t, _ := time.Parse(timeLayout, s)
	return t
}

func (s *SQLite) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return sqliteErr(err)
	}
	return tx.Commit()
}

// sqliteErr maps SQLite's errors to the store's, as pgErr does
// PostgreSQL's: a row whose key is taken (a run's id, a token's hash) is a
// lost race, ErrConflict, with SQLite's message kept. Callers tell a
// conflict by ErrConflict whichever store they run on.
func sqliteErr(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && !errors.Is(err, ErrConflict) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", err, ErrConflict)
		}
	}
	return err
}

// CreateRun implements Store. Concurrent calls are committed together.
func (s *SQLite) CreateRun(ctx context.Context, r *Run, idemKey string, ch Change) (*Run, bool, error) {
	if !pgText(idemKey) {
		return nil, false, ErrKeyNotText
	}
	if err := runText(r, ch); err != nil {
		return nil, false, err
	}
	req := &createReq{ctx: ctx, r: r, key: idemKey, ch: ch, done: make(chan createRes, 1)}
	select {
	case s.creates <- req:
	case <-s.stop:
		return nil, false, ErrClosed
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	res := <-req.done
	return res.run, res.created, sqliteErr(res.err)
}

func (s *SQLite) createRun(ctx context.Context, tx *sql.Tx, r *Run, idemKey string, ch Change) (*Run, bool, *audit.Entry, error) {
	now := s.now()
	if idemKey != "" {
		id, err := idemRun(s.queryRow(ctx, tx, qIdemGet, r.Tenant, idemKey), r.Tenant, idemKey)
		if err == nil {
			got, err := keyRun(getRun(ctx, tx, id))(r.Tenant)
			return got, false, nil, err
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, false, nil, err
		}
		if _, err := s.exec(ctx, tx, qIdemPut,
			r.Tenant, idemKey, r.ID, fmtTime(now)); err != nil {
			return nil, false, nil, err
		}
	}
	// The run's place in the list: the clock, but never before the last
	// creation's, which a reader may have listed already.
	now, err := s.orderTime(ctx, tx, now)
	if err != nil {
		return nil, false, nil, err
	}
	nr := *r
	nr.Version = 1
	nr.CreatedAt, nr.UpdatedAt = now, now
	if _, err := s.exec(ctx, tx, qRunPut,
		nr.ID, nr.Tenant, nr.Job, nr.State, nr.Site, nr.Attempt, nr.Handle, string(nr.Data), nr.Version,
		fmtTime(nr.CreatedAt), fmtTime(nr.UpdatedAt), nr.Hold.Site, nr.Hold.Pool, nr.Hold.Accelerator, nr.Hold.Count); err != nil {
		return nil, false, nil, fmt.Errorf("insert run %s: %w", nr.ID, err)
	}
	last, err := s.applyChange(ctx, tx, nr.ID, nr.Tenant, now, ch)
	if err != nil {
		return nil, false, nil, err
	}
	return &nr, true, last, nil
}

// orderTime takes a new run's created_at: now, or one microsecond after
// the last creation's where the clock has stepped back to or before it, so
// that runs list in the order they were committed. Write transactions are
// serialised (_txlock=immediate), so the row read here is the one updated.
func (s *SQLite) orderTime(ctx context.Context, tx *sql.Tx, now time.Time) (time.Time, error) {
	var last string
	if err := s.queryRow(ctx, tx, qOrderGet).Scan(&last); err != nil {
		return time.Time{}, fmt.Errorf("run order: %w", err)
	}
	t := now.UTC()
	if last != "" {
		prev, err := time.Parse(timeLayout, last)
		if err != nil {
			return time.Time{}, fmt.Errorf("run order: last creation time %q: %w", last, err)
		}
		if floor := prev.Add(time.Microsecond); t.Before(floor) {
			t = floor
		}
	}
	if _, err := s.exec(ctx, tx, qOrderPut, fmtTime(t)); err != nil {
		return time.Time{}, fmt.Errorf("run order: %w", err)
	}
	return t, nil
}

func (s *SQLite) applyChange(ctx context.Context, tx *sql.Tx, runID, tenant string, now time.Time, ch Change) (*audit.Entry, error) {
	// SQLite transactions are serialised (_txlock=immediate): the sums
	// read here cannot change before the commit.
	if len(ch.Limits) > 0 {
		if err := runHoldType(tx.QueryRowContext(ctx, qRunHoldType)); err != nil {
			return nil, fmt.Errorf("check %s: %w", ch.Limits[0].Name, err)
		}
	}
	for _, l := range ch.Limits {
		q, args := limitQuery(l, func(int) string { return "?" })
		var used int
		if err := tx.QueryRowContext(ctx, q, args...).Scan(&used); err != nil {
			return nil, fmt.Errorf("check %s: %w", l.Name, err)
		}
		if used > l.Max {
			return nil, &CapacityError{Limit: l, Used: used}
		}
	}
	for _, i := range writeOrder(len(ch.Register), func(i int) *Resource { return &ch.Register[i] }) {
		r := ch.Register[i]
		r.Tenant = tenant
		if err := s.register(ctx, tx, now, &r); err != nil {
			return nil, err
		}
	}
	if len(ch.Events) > 0 {
		var last int64
		if err := s.queryRow(ctx, tx, qEventSeq, runID).Scan(&last); err != nil {
			return nil, err
		}
		for _, e := range ch.Events {
			last++
			t := e.Time
			if t.IsZero() {
				t = now
			}
			if _, err := s.exec(ctx, tx, qEventPut,
				runID, last, fmtTime(t), e.Kind, e.From, e.To, e.Reason, e.Data); err != nil {
				return nil, fmt.Errorf("insert event: %w", err)
			}
		}
	}
	recs := ch.Audit
	if tenant != "" {
		recs = make([]audit.Record, len(ch.Audit))
		for i, rec := range ch.Audit {
			if rec.Tenant == "" {
				rec.Tenant = tenant
			}
			recs[i] = rec
		}
	}
	return s.appendAudit(ctx, tx, now, recs)
}

// appendAudit seals recs after the chain's head and returns the new head
// (nil when recs is empty). A payload longer than MaxAuditPayloadBytes
// fails it, and the transaction, writing nothing (auditBounded).
func (s *SQLite) appendAudit(ctx context.Context, tx *sql.Tx, now time.Time, recs []audit.Record) (*audit.Entry, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	if err := auditBounded(recs); err != nil {
		return nil, err
	}
	var prev *audit.Entry
	var e audit.Entry
	err := s.queryRow(ctx, tx, qAuditHead).Scan(&e.Seq, &e.Hash)
	switch {
	case err == nil:
		prev = &e
	case !errors.Is(err, sql.ErrNoRows):
		return nil, err
	}
	for _, rec := range recs {
		n := s.chain.Seal(prev, now, rec)
		if _, err := s.exec(ctx, tx, qAuditPut,
			n.Seq, n.Time, n.Kind, n.RunID, string(n.Payload), n.PrevHash, n.Hash, n.Tenant, n.Version); err != nil {
			return nil, fmt.Errorf("append audit: %w", err)
		}
		prev = &n
	}
	return prev, nil
}

// UpdateRun implements Store.
func (s *SQLite) UpdateRun(ctx context.Context, id string, fn func(r *Run) (Change, error)) (*Run, error) {
	var out *Run
	var head *audit.Entry
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if f, ok := FenceOf(ctx); ok {
			if err := s.checkFence(ctx, tx, f); err != nil {
				return err
			}
		}
		r, err := getRun(ctx, tx, id)
		if err != nil {
			return err
		}
		old := r.Version
		ch, err := fn(r)
		if err != nil {
			return err
		}
		if err := runText(r, ch); err != nil {
			return err
		}
		now := s.now()
		r.Version = old + 1
		r.UpdatedAt = now
		res, err := s.exec(ctx, tx, qRunUpdate, r.State, r.Site, r.Attempt, r.Handle, string(r.Data), r.Version, fmtTime(now),
			r.Hold.Site, r.Hold.Pool, r.Hold.Accelerator, r.Hold.Count, id, old)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrConflict
		}
		last, err := s.applyChange(ctx, tx, id, r.Tenant, now, ch)
		if err != nil {
			return err
		}
		head = last
		out = r
		return nil
	})
	if errors.Is(err, ErrNoChange) {
		return s.GetRun(ctx, id)
	}
	if err == nil {
		s.notify(head)
	}
	return out, err
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

const runCols = `id, tenant, job, state, site, attempt, handle, data, version, created_at, updated_at, hold_site, hold_pool, hold_accelerator, hold_count`

// listCols are runCols for a list: with NoDocuments, data without its
// documents, in expr's SQL (each database's JSON function).
func listCols(o ListOptions, expr string) string {
	if !o.NoDocuments {
		return runCols
	}
	return strings.Replace(runCols, " data,", " "+expr+",", 1)
}

// scanRun reads a row of runCols (or listCols). A text field stored as
// bytes (a BLOB, which SQLite keeps as it is in a TEXT column) is an error
// naming the run and the field: the row reads back as the same strings,
// but no query comparing that field with text matches it. A run whose id
// was so rewritten ended every pass of the controller over the live runs
// (each page starts after the last run of the one before, looked up by
// id) before the runs created after it, which went unchecked; one whose
// tenant was, left its tenant's lists and live count while it ran. A read
// that meets one fails, naming it, rather than pass it by.
func scanRun(sc interface{ Scan(...any) error }, extra ...any) (*Run, error) {
	var r Run
	var data auditField
	var id, tenant, job, state, site, handle, ca, ua, holdSite, holdAcc auditField
	if err := sc.Scan(append([]any{&id, &tenant, &job, &state, &site, &r.Attempt, &handle, &data, &r.Version, &ca, &ua,
		&holdSite, &r.Hold.Pool, &holdAcc, &r.Hold.Count}, extra...)...); err != nil {
		return nil, err
	}
	for _, f := range [...]struct {
		name string
		f    *auditField
	}{{"id", &id}, {"tenant", &tenant}, {"job", &job}, {"state", &state}, {"site", &site}, {"handle", &handle},
		{"created_at", &ca}, {"updated_at", &ua}, {"hold_site", &holdSite}, {"hold_accelerator", &holdAcc}} {
		if f.f.null {
			return nil, fmt.Errorf("run %q: its %s is NULL: the row was written outside Meridian", id.s, f.name)
		}
		if f.f.blob {
			return nil, fmt.Errorf("run %q: its %s is stored as bytes (a BLOB), not as text: the row was written outside Meridian, and the queries that select runs by %s do not match it, which would hide the run from them; store it as text again", id.s, f.name, f.name)
		}
	}
	if data.blob {
		return nil, fmt.Errorf("run %q: its data is stored as bytes (a BLOB), not as text: the row was written outside Meridian; store it as text again", id.s)
	}
	r.ID, r.Tenant, r.Job, r.State, r.Site, r.Handle = id.s, tenant.s, job.s, state.s, site.s, handle.s
	r.Hold.Site, r.Hold.Accelerator = holdSite.s, holdAcc.s
	if !data.null {
		r.Data = []byte(data.s)
	} else {
		// Only a list without documents reads NULL: data it could
		// not drop them from.
		r.DataInvalid = true
	}
	r.CreatedAt, r.UpdatedAt = parseTime(ca.s), parseTime(ua.s)
	return &r, nil
}

// qGetRun reads a run by its id as text and as bytes (a BLOB of the same
// bytes, which SQLite keeps under another key of the primary index), and
// counts the rows so read: a copy of a run's row written outside Meridian
// with its id as bytes (another tenant, another state) was passed by, the
// text row read as if alone. Two seeks of the primary key, and two of it
// alone for the count.
const qGetRun = `SELECT ` + runCols + `, 1 + EXISTS (SELECT 1 FROM runs AS t WHERE t.id = CAST(?1 AS BLOB)) FROM runs WHERE id = ?1`

func getRun(ctx context.Context, q querier, id string) (*Run, error) {
	return getRunRow(q.QueryRowContext(ctx, qGetRun, id), id)
}

// getRunRow reads run id from row, a row of qGetRun.
func getRunRow(row interface{ Scan(...any) error }, id string) (*Run, error) {
	var n int
	r, err := scanRun(row, &n)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("run %q: %w", id, ErrNotFound)
	}
	if n > 1 {
		return nil, runTwice(id)
	}
	return r, err
}

// RunByKey implements Store.
func (s *SQLite) RunByKey(ctx context.Context, tenant, key string) (*Run, error) {
	id, err := idemRun(s.hotRow(ctx, qIdemGet, tenant, key), tenant, key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("idempotency key: %w", ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return keyRun(getRunRow(s.hotRow(ctx, qGetRun, id), id))(tenant)
}

// hotRow runs q, one of hotQueries, on its statement prepared at open, or
// on s.db where that fails (the statement is closed with the store: the
// query on s.db tells why, as every other read does). It reads one row,
// as QueryRowContext does.
func (s *SQLite) hotRow(ctx context.Context, q string, args ...any) oneRow {
	var rows *sql.Rows
	err := sql.ErrConnDone
	if st := s.stmts[q]; st != nil {
		rows, err = st.QueryContext(ctx, args...)
	}
	if err != nil {
		rows, err = s.db.QueryContext(ctx, q, args...)
	}
	return oneRow{rows: rows, err: err}
}

// oneRow is hotRow's row.
type oneRow struct {
	rows *sql.Rows
	err  error
}

// Scan implements the Scan of *sql.Row.
func (r oneRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	return r.rows.Close()
}

// idemRun reads a row of qIdemGet: the run the key names. A row whose
// tenant, key or run is stored as bytes (a BLOB) is an error naming it: a
// lookup by text passed it by, and a retried submission with the key
// created a second run.
func idemRun(row interface{ Scan(...any) error }, tenant, key string) (string, error) {
	var id, t, k auditField
	var n int
	if err := row.Scan(&id, &t, &k, &n); err != nil {
		return "", err
	}
	if n > 1 {
		return "", fmt.Errorf("idempotency_keys row (tenant %q, key %q): %w: one row has the tenant and key as text, another the same with its tenant or key stored as bytes (a BLOB), which SQLite keeps apart, each naming a run; the key names no run until the BLOB row is deleted (SELECT rowid FROM idempotency_keys WHERE typeof(tenant) = 'blob' OR typeof(key) = 'blob')", tenant, key, ErrRowTwice)
	}
	if err := rowText("idempotency_keys", fmt.Sprintf("(tenant %q, key %q)", tenant, key),
		textCol{name: "tenant", f: &t}, textCol{name: "key", f: &k}, textCol{name: "run_id", f: &id}); err != nil {
		return "", err
	}
	return id.s, nil
}

// GetRun implements Store.
func (s *SQLite) GetRun(ctx context.Context, id string) (*Run, error) {
	return getRunRow(s.hotRow(ctx, qGetRun, id), id)
}

// qRunVersion reads a run's tenant and version by its id as text, and
// whether a row holds the same id as bytes (a BLOB): two seeks of the
// primary key, the data left unread.
const qRunVersion = `SELECT tenant, version, EXISTS (SELECT 1 FROM runs AS t WHERE t.id = CAST(?1 AS BLOB)) FROM runs WHERE id = ?1`

// RunVersionOf implements Store. A run held twice, its id as text and as
// bytes, is ErrRowTwice, as GetRun has it: the read by text alone gave
// the text row's tenant and version as if alone, to an owner's check and
// to a version compared with the caller's. A tenant stored as bytes is
// refused as scanRun refuses it.
func (s *SQLite) RunVersionOf(ctx context.Context, id string) (string, int64, error) {
	var tenant auditField
	var version int64
	var twin bool
	err := s.hotRow(ctx, qRunVersion, id).Scan(&tenant, &version, &twin)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", 0, fmt.Errorf("run %q: %w", id, ErrNotFound)
	case err != nil:
		return "", 0, err
	case twin:
		return "", 0, runTwice(id)
	}
	if err := rowText("runs", fmt.Sprintf("%q", id), textCol{name: "tenant", f: &tenant}); err != nil {
		return "", 0, err
	}
	return tenant.s, version, nil
}

// qRunVersions reads a tenant's run ids and versions, with each id's
// count of rows read as text and as bytes (two seeks of the primary key a
// run, as a list of runs has them, qRunTwins) where the runs hold an id
// stored as bytes at all, else 1. The primary key orders every BLOB after
// every text, so one seek (id at or above the empty BLOB, evaluated once,
// not once a run) tells whether there is one: a database without one
// lists at the cost it did.
const qRunVersions = qRunVersionsOf + ` ORDER BY created_at, id`

const qRunVersionsOf = `SELECT id, version, CASE WHEN EXISTS (SELECT 1 FROM runs AS b WHERE b.id >= X'')
	THEN (SELECT COUNT(*) FROM runs AS t WHERE t.id IN (CAST(runs.id AS TEXT), CAST(runs.id AS BLOB))) ELSE 1 END
	FROM runs WHERE tenant = ?1`

// qRunVersionsAfter is qRunVersions' page after run ?2 of tenant ?1 (as
// ListRuns' After: a run that does not exist, or is another tenant's,
// lists none), of at most ?3 runs.
const qRunVersionsAfter = qRunVersionsOf + ` AND (created_at, id) > (SELECT created_at, id FROM runs WHERE id = ?2 AND tenant = ?1) ORDER BY created_at, id LIMIT ?3`

// RunVersions implements Store.
func (s *SQLite) RunVersions(ctx context.Context, tenant string) ([]RunVersion, error) {
	return s.RunVersionsAfter(ctx, tenant, "", 0)
}

// RunVersionsAfter implements Store.
func (s *SQLite) RunVersionsAfter(ctx context.Context, tenant, after string, limit int) ([]RunVersion, error) {
	if err := tenantScope(tenant, false); err != nil {
		return nil, fmt.Errorf("run versions: %w", err)
	}
	if err := versionsLimit(limit); err != nil {
		return nil, err
	}
	if err := blobTenantRun(ctx, s.db, tenant); err != nil {
		return nil, err
	}
	var rows *sql.Rows
	var err error
	if after == "" {
		rows, err = s.db.QueryContext(ctx, qRunVersions+` LIMIT ?2`, tenant, readLimit(limit, maxRunVersions))
	} else {
		rows, err = s.db.QueryContext(ctx, qRunVersionsAfter, tenant, after, readLimit(limit, maxRunVersions))
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	// A run held twice, its id as text and as bytes, was listed as if
	// alone (the copy another tenant's) or twice under one id, each row's
	// version: a reader comparing them with the versions it holds passed
	// the copy by. Both fail, as the list of runs fails.
	var out []RunVersion
	for rows.Next() {
		var id auditField
		var v RunVersion
		var n int
		if err := rows.Scan(&id, &v.Version, &n); err != nil {
			return nil, err
		}
		if n > 1 {
			return nil, runTwice(id.s)
		}
		if err := rowText("runs", fmt.Sprintf("%q", id.s), textCol{name: "id", f: &id}); err != nil {
			return nil, err
		}
		v.ID = id.s
		if out = append(out, v); limit == 0 && len(out) > maxRunVersions {
			return nil, tooManyVersions(tenant)
		}
	}
	return out, rows.Err()
}

// sqliteListQuery is the query of ListRuns's opts, and its arguments.
func sqliteListQuery(opts ListOptions) (string, []any, error) {
	// Data that is not a JSON object (a row written by other means)
	// is NULL, which marks that run alone, rather than an error that
	// fails the whole list. Data stored as bytes (a BLOB) is selected as
	// it is, which scanRun refuses as it does with the documents: the
	// JSON functions read it as the text it holds.
	q := `SELECT ` + listCols(opts, `CASE WHEN typeof(data) = 'blob' THEN data WHEN json_valid(data) THEN CASE WHEN json_type(data) = 'object' THEN json_remove(data, '$.documents') END END`) + qRunTwins + ` FROM runs`
	if opts.HeldForKey != "" {
		// Without statistics SQLite reads the tenant's runs in their
		// order (runs_tenant_created) to spare the sort of a page,
		// every held run of the tenant read to find a few.
		q += ` INDEXED BY runs_hold_key`
	}
	var where []string
	var args []any
	if opts.Tenant != "" {
		where = append(where, "tenant = ?")
		args = append(args, opts.Tenant)
	}
	if opts.Active && len(opts.Final) > 0 {
		where = append(where, "state NOT IN (?"+strings.Repeat(", ?", len(opts.Final)-1)+")")
		for _, f := range opts.Final {
			args = append(args, f)
		}
	}
	if len(opts.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(", ?", len(opts.States)-1)+")")
		for _, st := range opts.States {
			args = append(args, st)
		}
	}
	if opts.HeldForKey != "" {
		if err := checkHeldForKey(opts.HeldForKey); err != nil {
			return "", nil, err
		}
		// The terms the partial index runs_hold_key is read by: a
		// held run's key, or the mark of one the database cannot
		// tell, which every key's list reads.
		where = append(where, "state = 'held' AND hold_key IN (?, ?)")
		args = append(args, opts.HeldForKey, HoldKeyUnknown)
	}
	if opts.After != "" {
		// The cursor is a run of the tenant listed: another tenant's run
		// is, to this list, one that does not exist (none listed), not a
		// place in the order that tells its creation time.
		cursor := "SELECT created_at, id FROM runs WHERE id = ?"
		args = append(args, opts.After)
		if opts.Tenant != "" {
			cursor += " AND tenant = ?"
			args = append(args, opts.Tenant)
		}
		where = append(where, "(created_at, id) > ("+cursor+")")
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at, id"
	if opts.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, opts.Limit)
	}
	return q, args, nil
}

// ListRuns implements Store.
func (s *SQLite) ListRuns(ctx context.Context, opts ListOptions) ([]*Run, error) {
	if err := tenantScope(opts.Tenant, opts.AllTenants); err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	if opts.Tenant != "" {
		if err := blobTenantRun(ctx, s.db, opts.Tenant); err != nil {
			return nil, err
		}
	}
	q, args, err := sqliteListQuery(opts)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Run
	for rows.Next() {
		var n int
		var id string
		r, err := scanRun(rows, &n, &id)
		if n > 1 {
			return nil, runTwice(id)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// qRunTwins are the columns a list of runs reads after runCols: the
// count of the rows of each run's id read as text and as bytes (two
// seeks of the primary key a run), and the id as text. A run held twice
// was listed by its tenant as if alone, the copy failing the other
// tenant's list as a row to store as text again, which the primary key
// refuses.
const qRunTwins = `, (SELECT COUNT(*) FROM runs AS t WHERE t.id IN (CAST(runs.id AS TEXT), CAST(runs.id AS BLOB))), CAST(id AS TEXT)`

// runTwice is ErrRowTwice for run id.
func runTwice(id string) error {
	return fmt.Errorf("runs row (id %q): %w: one row has the id as text, another the same id stored as bytes (a BLOB), which SQLite keeps apart; the run is not read until the BLOB row is deleted (SELECT rowid FROM runs WHERE typeof(id) = 'blob')", id, ErrRowTwice)
}

// qBlobTenant finds a run whose tenant is a BLOB of the given bytes.
const qBlobTenant = `SELECT id FROM runs WHERE tenant = CAST(? AS BLOB) LIMIT 1`

// blobTenantRun fails naming a run whose tenant is the tenant's name
// stored as bytes (a BLOB): a tenant's reads select its runs by tenant,
// which a BLOB never equals, so such a run, ended ones included (the pass
// over the live runs selects by state and meets the others), left its
// tenant's lists without a word. One lookup on the tenant's index
// (qBlobTenant).
func blobTenantRun(ctx context.Context, db *sql.DB, tenant string) error {
	var id auditField
	err := db.QueryRowContext(ctx, qBlobTenant, tenant).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	}
	return fmt.Errorf("run %q: its tenant is stored as bytes (a BLOB), not as text: the row was written outside Meridian, and the queries that select runs by tenant do not match it, which would hide the run from its tenant's lists; store it as text again", id.s)
}

// Events implements Store.
func (s *SQLite) Events(ctx context.Context, runID string) ([]Event, error) {
	return s.EventsAfter(ctx, runID, 0, 0)
}

// qBlobRunEvent finds an event of the run whose run_id is stored as bytes
// (a BLOB of the run's id), and whether the run has an event of that seq
// with its run_id as text: one seek of the primary key, two when found.
const qBlobRunEvent = `SELECT e.seq, EXISTS (SELECT 1 FROM events AS t WHERE t.run_id = ?1 AND t.seq = e.seq)
	FROM events AS e WHERE e.run_id = CAST(?1 AS BLOB) LIMIT 1`

// blobRunEvent fails naming an event of the run whose run_id is stored as
// bytes: the reads select a run's events by run_id, which a BLOB never
// equals, so the event was left out of the run's history without a word
// (and, beside an event of the same seq as text, told another story).
func blobRunEvent(row oneRow, runID string) error {
	var seq int64
	var twin bool
	err := row.Scan(&seq, &twin)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	case twin:
		return fmt.Errorf("events row (run %q, seq %d): %w: one row has the run_id as text, another the same run_id stored as bytes (a BLOB), which SQLite keeps apart; the run's events are not read until the BLOB row is deleted (SELECT rowid FROM events WHERE typeof(run_id) = 'blob')", runID, seq, ErrRowTwice)
	}
	return fmt.Errorf("events row (run %q, seq %d): its run_id is stored as bytes (a BLOB), not as text: the row was written outside Meridian, and the reads of the run's events do not match it, which would leave it out of the run's history; store it as text again", runID, seq)
}

// EventsAfter implements Store.
func (s *SQLite) EventsAfter(ctx context.Context, runID string, after int64, limit int) ([]Event, error) {
	if after < 0 || limit < 0 {
		return nil, fmt.Errorf("events: after %d, limit %d: want 0 or more", after, limit)
	}
	if err := eventsLimit(limit); err != nil {
		return nil, err
	}
	if err := blobRunEvent(s.hotRow(ctx, qBlobRunEvent, runID), runID); err != nil {
		return nil, err
	}
	q, args := `SELECT run_id, seq, time, kind, from_state, to_state, reason, data FROM events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?`, []any{runID, after, readLimit(limit, maxEvents)}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	var run, t, kind, from, to, reason, data auditField
	cols := [...]textCol{{name: "run_id", f: &run}, {name: "time", f: &t}, {name: "kind", f: &kind}, {name: "from_state", f: &from},
		{name: "to_state", f: &to}, {name: "reason", f: &reason}, {name: "data", f: &data}}
	for rows.Next() {
		var e Event
		if err := rows.Scan(&run, &e.Seq, &t, &kind, &from, &to, &reason, &data); err != nil {
			return nil, err
		}
		if err := rowText("events", fmt.Sprintf("(run %q, seq %d)", runID, e.Seq), cols[:]...); err != nil {
			return nil, err
		}
		e.RunID, e.Kind, e.From, e.To, e.Reason, e.Data = run.s, kind.s, from.s, to.s, reason.s, data.s
		e.Time = parseTime(t.s)
		if out = append(out, e); len(out) > maxEvents {
			return nil, tooManyEvents(runID)
		}
	}
	return out, rows.Err()
}

// AppendAudit implements Store and audit.Appender.
func (s *SQLite) AppendAudit(ctx context.Context, recs ...audit.Record) error {
	if err := auditText(recs...); err != nil {
		return err
	}
	var head *audit.Entry
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		head, err = s.appendAudit(ctx, tx, s.now(), recs)
		return err
	})
	if err == nil {
		s.notify(head)
	}
	return err
}

// AuditEntries implements Store.
func (s *SQLite) AuditEntries(ctx context.Context, runID string) ([]audit.Entry, error) {
	return s.AuditSelect(ctx, AuditQuery{RunID: runID, AllTenants: true})
}

// AuditSelect implements Store. A server's read of the records of some
// kinds fails when entries are missing from the part of the log it read
// (see auditSelectWhole).
func (s *SQLite) AuditSelect(ctx context.Context, q AuditQuery) ([]audit.Entry, error) {
	return auditSelectWhole(q, func(q AuditQuery) ([]audit.Entry, error) { return s.selectAudit(ctx, q) }, s.auditGaps(ctx))
}

// auditGaps is the store's gap check (noGap), in a snapshot of its own.
func (s *SQLite) auditGaps(ctx context.Context) func(lo, hi int64) error {
	return func(lo, hi int64) error {
		return sqlAuditSnapshot(ctx, s.rdb, func(*sql.Tx) (string, bool, error) { return auditCols, true, nil })(func(src audit.Source) error {
			return src.(auditSource).noGap(s.chain, &s.gapHead, &s.sealed, sqliteUniqueSeq, lo, hi)
		})
	}
}

// selectAudit is the entries q selects, unchecked. It reads on rdb, as
// verification does: a page is up to 16 MiB (and a ledger's records all
// of a tenant's), any tenant may ask, and on db it would wait for, then
// hold, the one connection every write and token check waits for. A read
// on rdb sees every commit made before it began.
func (s *SQLite) selectAudit(ctx context.Context, q AuditQuery) ([]audit.Entry, error) {
	query, args, err := auditSelect(q, func(int) string { return "?" })
	if err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanAuditOf(rows, q)
}

// AuditSelectPage implements Store.
func (s *SQLite) AuditSelectPage(ctx context.Context, q AuditQuery) ([]audit.Entry, int64, error) {
	return auditSelectPage(q, func(int) string { return "?" }, func(q AuditQuery) ([]audit.Entry, error) { return s.selectAudit(ctx, q) },
		func(query string, args ...any) (int64, bool, error) {
			var v int64
			err := s.rdb.QueryRowContext(ctx, query, args...).Scan(&v)
			if errors.Is(err, sql.ErrNoRows) {
				return 0, false, nil
			}
			return v, err == nil, err
		}, s.auditGaps(ctx))
}

// rowScanner is what database/sql's and pgx's result rows have in common.
type rowScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanAudit reads audit entries selected as seq, time, kind, run_id,
// payload, prev_hash, hash, tenant, version, by either store, and stops
// after the entry whose payload brings the total to maxBytes (0: no bound).
//
// A field stored as bytes, not text, is an error naming the entry and the
// field (see auditText), and so is a NULL one. With refuse above 0 (the
// query's RefuseEntryBytes), a NULL payload is one the query selected as
// NULL for being longer than refuse: ErrAuditEntryTooLarge, naming the
// entry.
func scanAudit(rows rowScanner, maxBytes, refuse int64) ([]audit.Entry, error) {
	return scanAuditRows(rows, maxBytes, refuse, false)
}

// scanAuditOf is scanAudit of the rows of q's selection: with
// PayloadsOf, each row ends with shown (payloadsOf), and an entry whose
// payload was not read comes back redacted.
func scanAuditOf(rows rowScanner, q AuditQuery) ([]audit.Entry, error) {
	return scanAuditRows(rows, q.MaxBytes, q.RefuseEntryBytes, q.PayloadsOf != "")
}

// scanAuditRows is scanAudit, of rows that end with the column shown
// when withShown.
func scanAuditRows(rows rowScanner, maxBytes, refuse int64, withShown bool) ([]audit.Entry, error) {
	var out []audit.Entry
	var total int64
	var tm, kind, run, pay, prev, hash, tenant auditField
	var version auditInt
	fields := [...]struct {
		name string
		f    *auditField
	}{{"time", &tm}, {"kind", &kind}, {"run_id", &run}, {"payload", &pay}, {"prev_hash", &prev}, {"hash", &hash}, {"tenant", &tenant}}
	for (maxBytes <= 0 || total < maxBytes) && rows.Next() {
		var e audit.Entry
		dst := []any{&e.Seq, &tm, &kind, &run, &pay, &prev, &hash, &tenant, &version}
		shown := int64(1)
		if withShown {
			dst = append(dst, &shown)
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, err
		}
		for _, f := range fields {
			if f.f == &pay && shown == 0 {
				// Withheld (payloadsOf): NULL, and never read.
				continue
			}
			if f.f.null && f.f == &pay && refuse > 0 {
				return nil, fmt.Errorf("audit entry %d: its payload is longer than %d bytes (or NULL): %w: it was written outside Meridian, and is not read; the operator must restore the log", e.Seq, refuse, ErrAuditEntryTooLarge)
			}
			if f.f.null {
				return nil, fmt.Errorf("audit entry %d: its %s is NULL: %w", e.Seq, f.name, errAuditNotText)
			}
			if f.f.blob {
				return nil, fmt.Errorf("audit entry %d: its %s is stored as bytes (a BLOB), not as text: %w, and the queries that select entries by %s do not match it, which would hide it from them while the chain verified; store it as text again", e.Seq, f.name, errAuditNotText, f.name)
			}
		}
		if version.bad != "" {
			return nil, fmt.Errorf("audit entry %d: its version %s, not an integer: %w", e.Seq, version.bad, errAuditNotText)
		}
		e.Version = int(version.n)
		e.Time, e.Kind, e.RunID, e.PrevHash, e.Hash, e.Tenant = tm.s, kind.s, run.s, prev.s, hash.s, tenant.s
		e.Payload = []byte(pay.s)
		total += int64(len(pay.s))
		if shown == 0 {
			e = e.Redact()
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// auditField scans a text column of the audit table, and notes a value
// stored as bytes: SQLite keeps a BLOB as it is in a TEXT column, and a
// BLOB is never equal to text. An entry whose tenant, run or kind was
// rewritten as a BLOB of the same bytes hashed alike, read back as the
// same string, and verified, while every query comparing that field with
// text (a tenant's entries, a run's, a kind's: ledgers, witnesses of
// records) passed it by. scanRun reads a run's text fields with it too.
type auditField struct {
	s    string
	blob bool
	// null notes a NULL, which scanAudit refuses naming the entry.
	null bool
}

// Scan implements sql.Scanner.
func (f *auditField) Scan(src any) error {
	switch v := src.(type) {
	case string:
		f.s, f.blob, f.null = v, false, false
	case []byte:
		f.s, f.blob, f.null = string(v), true, false
	case nil:
		f.s, f.blob, f.null = "", false, true
	default:
		return fmt.Errorf("audit field holds %T, not text", src)
	}
	return nil
}

// errAuditNotText is scanAudit's error for an entry one of whose fields
// holds what Meridian does not write there: a NULL, bytes (a BLOB) where
// text was written, or a version that is not an integer.
var errAuditNotText = errors.New("it was written outside Meridian")

// auditInt scans an audit entry's version, and notes (bad) a value that
// is not an integer, which scanAudit refuses naming the entry: SQLite
// keeps a BLOB or text as it is in an INTEGER column, and database/sql
// read a BLOB of the digits back as the number.
type auditInt struct {
	n   int64
	bad string
}

// Scan implements sql.Scanner.
func (f *auditInt) Scan(src any) error {
	f.n, f.bad = 0, ""
	switch v := src.(type) {
	case int64:
		f.n = v
	case nil:
		f.bad = "is NULL"
	case []byte:
		f.bad = "is stored as bytes (a BLOB)"
	default:
		f.bad = fmt.Sprintf("holds a %T", src)
	}
	return nil
}

// textCol is a text column read with auditField, and its name.
type textCol struct {
	name string
	f    *auditField
	// nullable lets a NULL through (a column that may hold one).
	nullable bool
}

// rowText refuses a row of table, described by row, one of whose text
// columns holds bytes (a BLOB) or a NULL where text was written: SQLite
// keeps a BLOB as it is in a TEXT column and reads it back as the same
// string, but no query comparing the column with text matches it, so the
// row passes by every read that selects by it while the reads that do not
// believe it. The check is on the values scanned, no cost to the query.
func rowText(table, row string, cols ...textCol) error {
	for _, c := range cols {
		if c.f.null && !c.nullable {
			return fmt.Errorf("%s row %s: its %s is NULL: the row was written outside Meridian", table, row, c.name)
		}
		if c.f.blob {
			return fmt.Errorf("%s row %s: its %s is stored as bytes (a BLOB), not as text: the row was written outside Meridian, and the queries that select %s rows by %s do not match it; store it as text again", table, row, c.name, table, c.name)
		}
	}
	return nil
}

// VerifyAudit implements Store.
func (s *SQLite) VerifyAudit(ctx context.Context) (audit.Result, error) {
	return s.VerifyAuditAnchored(ctx, nil)
}

// VerifyAuditAnchored checks the whole chain and then, when anchors is set
// and holds an anchor, that the log still reaches the anchored head. The
// log is read on rdb: a read of all of it takes a second a gigabyte, and
// on db it would hold the one connection every write and token check
// waits for (any tenant may ask for a verification). One read transaction
// reads one snapshot, a page at a time (see auditSource): the chain as of
// the last commit, which reaches the anchor, written only after the
// commits it covers. A log found whole moves the gap checks' watermark
// to its end (see sealedTo).
func (s *SQLite) VerifyAuditAnchored(ctx context.Context, anchors *audit.Anchors) (audit.Result, error) {
	snap, done := s.sealed.watchVerified(sqlAuditSnapshot(ctx, s.rdb, func(*sql.Tx) (string, bool, error) { return auditCols, true, nil }))
	r, err := s.chain.VerifySnapshot(snap, anchors)
	if err == nil {
		done(r)
	}
	return r, err
}
