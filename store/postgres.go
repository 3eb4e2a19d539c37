package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"meridian.dev/meridian/audit"
)

// Postgres is the Store for several `meridian serve` replicas sharing one
// PostgreSQL database. Every change is one transaction; audit appends lock
// the chain's head row first, so the chain stays linear whichever replica
// appends; time-based decisions (leases, heartbeats) use the database's
// clock, so replicas' clocks need not agree.
type Postgres struct {
	pool *pgxpool.Pool
	// gapHead is the last entry a gap check found sealed (noGap).
	gapHead sealedHead
	// sealed is the watermark of the entries a gap check, or the log's
	// verification, found sealed and linked (see sealedTo).
	sealed  sealedTo
	chain   *audit.Chain
	onAudit func(seq int64, head string)
	// appended is the last audit entry this store appended (notify).
	appended appendedHead
	ann      *announcer
	mark     *marker
	// markWait, when set, is how the backfill waits before trying a
	// failed batch again (tests); nil waits on a timer.
	markWait func(ctx context.Context, d time.Duration) error
}

// OpenPostgres connects to the database at url (postgres://…), applies
// pending migrations (under an advisory lock, so replicas starting together
// migrate once) and returns the store. Options.Now is not used: the
// database's clock is.
func OpenPostgres(ctx context.Context, url string, opts Options) (*Postgres, error) {
	cfg, err := postgresConfig(url)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", redactURL(url), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres %s: %w", redactURL(url), err)
	}
	if err := migratePostgres(ctx, migrationDB(cfg)); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrate postgres %s: %w", redactURL(url), err)
	}
	s := &Postgres{pool: pool, chain: audit.NewChain(opts.AuditKey), onAudit: opts.OnAudit, sealed: sealedTo{off: opts.GapChecksCountOnly}}
	s.startAnnouncer()
	s.startMarker()
	return s, nil
}

// postgresConfig is the store's pool configuration for url.
func postgresConfig(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres url: %w", err)
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	// A server paused (SIGSTOP, a frozen VM) inside a transaction would
	// hold its row locks, the audit head's among them, and stall every
	// other replica. The store's transactions never wait on anything but
	// the database, so the database ends one idle longer than this, and
	// with it the locks. The URL may set its own values.
	for k, v := range map[string]string{"idle_in_transaction_session_timeout": "2s", "statement_timeout": "60s", "application_name": "meridian"} {
		if _, set := cfg.ConnConfig.RuntimeParams[k]; !set {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
	}
	return cfg, nil
}

// redactURL drops a password from a connection URL for messages.
func redactURL(url string) string {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return "(unparseable url)"
	}
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// migrateLockTimeout bounds how long a migration's statement waits for a
// table's lock. A migration that changes a table waits behind every
// transaction using it, and every statement on the table that comes later
// waits behind the migration: other replicas' reads and writes would stall
// as long as it waited. It fails instead, and the start with it, to be
// tried again.
const migrateLockTimeout = "10s"

// migrationDB is the connections migrations run on: the pool's settings
// but no statement timeout (a migration of a large database, such as an
// index built over every audit entry, may take far longer than any of the
// store's own statements may) and a bounded lock wait. The idle timeout is
// kept: a migrating server paused inside a transaction would hold its
// tables' locks from every replica.
func migrationDB(cfg *pgxpool.Config) *sql.DB {
	mc := cfg.ConnConfig.Copy()
	mc.RuntimeParams["statement_timeout"] = "0"
	mc.RuntimeParams["lock_timeout"] = migrateLockTimeout
	mc.RuntimeParams["application_name"] = "meridian migrate"
	return stdlib.OpenDB(*mc)
}

// migratePostgres applies pending migrations on db, which it closes.
func migratePostgres(ctx context.Context, db *sql.DB) error {
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, mustSub(migrations, "migrations/postgres"), goose.WithSessionLocker(locker))
	if err != nil {
		return err
	}
	if _, err = p.Up(ctx); err != nil {
		return err
	}
	return schemaKnown(ctx, p)
}

// Pool exposes the connection pool for tests and tools.
func (s *Postgres) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool.
func (s *Postgres) Close() error {
	s.stopMarker()
	s.stopAnnouncer()
	s.pool.Close()
	return nil
}

// notify tells OnAudit about a committed head, and keeps it as the last
// appended (AuditAppended).
func (s *Postgres) notify(head *audit.Entry) {
	s.appended.raise(head)
	if head != nil && s.onAudit != nil {
		s.onAudit(head.Seq, head.Hash)
	}
}

// tx runs fn in one transaction (read committed; rows it changes are locked
// explicitly).
func (s *Postgres) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// CreateRun implements Store.
func (s *Postgres) CreateRun(ctx context.Context, r *Run, idemKey string, ch Change) (*Run, bool, error) {
	if !pgText(idemKey) {
		return nil, false, ErrKeyNotText
	}
	if err := runText(r, ch); err != nil {
		return nil, false, err
	}
	var out *Run
	created := false
	var head *audit.Entry
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if idemKey != "" {
			// The key is claimed first: a concurrent retry of the same
			// submission waits here for this one and then finds its run.
			tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (tenant, key, run_id, created_at) VALUES ($1, $2, $3, now())
				ON CONFLICT (tenant, key) DO NOTHING`, r.Tenant, idemKey, r.ID)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				var id string
				if err := tx.QueryRow(ctx, `SELECT run_id FROM idempotency_keys WHERE tenant = $1 AND key = $2`, r.Tenant, idemKey).Scan(&id); err != nil {
					return err
				}
				got, err := keyRun(pgGetRun(ctx, tx, id))(r.Tenant)
				out = got
				return err
			}
		}
		nr := *r
		nr.Version = 1
		if err := tx.QueryRow(ctx, `INSERT INTO runs (id, tenant, job, state, site, attempt, handle, data, version, created_at, updated_at,
			hold_site, hold_pool, hold_accelerator, hold_count, data_object)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), now(), $10, $11, $12, $13, `+pgGivenMark(`$14::boolean`)+`) RETURNING created_at`,
			nr.ID, nr.Tenant, nr.Job, nr.State, nr.Site, nr.Attempt, nr.Handle, jsonbSafe(nr.Data), nr.Version,
			nr.Hold.Site, nr.Hold.Pool, nr.Hold.Accelerator, nr.Hold.Count, pgDataObject(nr.Data)).Scan(&nr.CreatedAt); err != nil {
			return fmt.Errorf("insert run %s: %w", nr.ID, err)
		}
		nr.UpdatedAt = nr.CreatedAt
		last, err := s.applyChange(ctx, tx, nr.ID, nr.Tenant, nr.CreatedAt, ch)
		if err != nil {
			return err
		}
		// The run's place in the list is taken last, when nothing is
		// left to wait for (the capacity lock, the audit head): now()
		// is when the transaction began, and a creation that waited
		// would commit after runs that readers had listed, with an
		// earlier time, where a reader paging on from them never looks.
		// The run_order row stays locked until the commit, so the times
		// are in commit order, each after the last.
		if err := tx.QueryRow(ctx, `WITH o AS (UPDATE run_order SET last = GREATEST(clock_timestamp(), last + interval '1 microsecond') WHERE id = 1 RETURNING last)
			UPDATE runs SET created_at = o.last, updated_at = o.last FROM o WHERE runs.id = $1 RETURNING runs.created_at`, nr.ID).Scan(&nr.CreatedAt); err != nil {
			return fmt.Errorf("order run %s: %w", nr.ID, err)
		}
		nr.CreatedAt = nr.CreatedAt.UTC()
		nr.UpdatedAt = nr.CreatedAt
		out, created, head = &nr, true, last
		return nil
	})
	if err != nil {
		return nil, false, pgErr(err)
	}
	s.notify(head)
	if created {
		s.announce(out.Tenant, out.ID)
	}
	return out, created, nil
}

func (s *Postgres) applyChange(ctx context.Context, tx pgx.Tx, runID, tenant string, now time.Time, ch Change) (*audit.Entry, error) {
	if len(ch.Limits) > 0 {
		// Changes with limits take turns (on every replica) until they
		// commit; under read committed each sum below then sees every
		// earlier one. The lock is taken before the audit head's, as
		// everywhere, so that the two cannot deadlock.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, capacityLockKey); err != nil {
			return nil, fmt.Errorf("lock capacity: %w", err)
		}
		for _, l := range ch.Limits {
			q, args := limitQuery(l, func(i int) string { return fmt.Sprintf("$%d", i) })
			var used int
			if err := tx.QueryRow(ctx, q, args...).Scan(&used); err != nil {
				return nil, fmt.Errorf("check %s: %w", l.Name, err)
			}
			if used > l.Max {
				return nil, &CapacityError{Limit: l, Used: used}
			}
		}
	}
	for _, i := range writeOrder(len(ch.Register), func(i int) *Resource { return &ch.Register[i] }) {
		r := ch.Register[i]
		r.Tenant = tenant
		if err := s.register(ctx, tx, &r); err != nil {
			return nil, err
		}
	}
	if len(ch.Events) > 0 {
		var last int64
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events WHERE run_id = $1`, runID).Scan(&last); err != nil {
			return nil, err
		}
		for _, e := range ch.Events {
			last++
			t := e.Time
			if t.IsZero() {
				t = now
			}
			if _, err := tx.Exec(ctx, `INSERT INTO events (run_id, seq, time, kind, from_state, to_state, reason, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				runID, last, t, e.Kind, e.From, e.To, e.Reason, e.Data); err != nil {
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

// appendAudit seals recs after the chain's head. It locks the head row for
// the rest of the transaction: a concurrent append, from this process or
// another replica, waits for this one to commit or roll back, and then
// reads the head this one left. A payload longer than
// MaxAuditPayloadBytes fails it, and the transaction, writing nothing
// (auditBounded).
func (s *Postgres) appendAudit(ctx context.Context, tx pgx.Tx, now time.Time, recs []audit.Record) (*audit.Entry, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	if err := auditBounded(recs); err != nil {
		return nil, err
	}
	// The head row is locked first; the newest entry is read by the next
	// statement, whose snapshot (READ COMMITTED) is taken once the lock is
	// held and so sees what an append it waited for committed. Both go in
	// one round trip. The entries' time is the database's, so entries from
	// several replicas stay in time order along the chain.
	var head, last audit.Entry
	var dbNow time.Time
	hb := &pgx.Batch{}
	hb.Queue(`SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`).QueryRow(func(row pgx.Row) error {
		if err := row.Scan(&head.Seq, &head.Hash); err != nil {
			return fmt.Errorf("lock audit head: %w", err)
		}
		return nil
	})
	hb.Queue(`SELECT COALESCE(a.seq, 0), COALESCE(a.hash, $1), clock_timestamp()
		FROM (VALUES (1)) v LEFT JOIN (SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1) a ON true`, emptyHead).
		QueryRow(func(row pgx.Row) error { return row.Scan(&last.Seq, &last.Hash, &dbNow) })
	if err := tx.SendBatch(ctx, hb).Close(); err != nil {
		return nil, err
	}
	if err := headCheck(head, last); err != nil {
		return nil, err
	}
	var prev *audit.Entry
	if head.Seq > 0 {
		prev = &head
	}
	if dbNow.Before(now) {
		dbNow = now
	}
	b := &pgx.Batch{}
	// The anchor follows a commit's head once the commit returns. With
	// synchronous_commit off (the server's, the database's or the URL's
	// setting) a commit returns before its WAL is on disk: a database
	// that crashed then lost entries the anchor already named, and every
	// start after refused the log as cut. A commit that appends to the
	// log waits for the local flush; others keep the setting.
	b.Queue(`SELECT set_config('synchronous_commit', 'local', true) WHERE current_setting('synchronous_commit') = 'off'`)
	for _, rec := range recs {
		n := s.chain.Seal(prev, dbNow, rec)
		b.Queue(`INSERT INTO audit (seq, time, kind, run_id, payload, prev_hash, hash, tenant, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			n.Seq, n.Time, n.Kind, n.RunID, string(n.Payload), n.PrevHash, n.Hash, n.Tenant, n.Version)
		prev = &n
	}
	b.Queue(`UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, prev.Seq, prev.Hash)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("append audit: %w", err)
	}
	return prev, nil
}

// emptyHead is the hash audit_head holds while the log is empty.
const emptyHead = "0000000000000000000000000000000000000000000000000000000000000000"

// ErrAuditHead refuses an append whose head row (PostgreSQL's audit_head)
// does not name the newest entry of the log.
var ErrAuditHead = errors.New("the audit head row does not name the newest entry of the log")

// headCheck compares the head row with the newest entry (seq 0 and
// emptyHead for an empty log). An append chains from the head row: one
// rewritten by someone who can write the database, without the audit key,
// made the next entries follow whatever it said (a seq already taken, or
// a hash of an entry that is not the last) instead of the log. The append
// is refused, nothing written, until the operator restores the row.
func headCheck(head, last audit.Entry) error {
	if head.Seq != last.Seq || head.Hash != last.Hash {
		return fmt.Errorf("append audit: the head row says seq %d, hash %.16q, the newest entry is seq %d, hash %.16q: %w: it was written outside Meridian; nothing is appended until the operator restores it",
			head.Seq, head.Hash, last.Seq, last.Hash, ErrAuditHead)
	}
	return nil
}

// UpdateRun implements Store. The row is locked for the transaction, so
// concurrent updates of one run (the controller and an agent's report,
// on any replicas) take turns instead of failing.
func (s *Postgres) UpdateRun(ctx context.Context, id string, fn func(r *Run) (Change, error)) (*Run, error) {
	var out *Run
	var head *audit.Entry
	err := s.tx(ctx, func(tx pgx.Tx) error {
		r, err := scanPgRun(pgLookup{tx}.QueryRow(ctx, `SELECT `+runCols+` FROM runs WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("run %q: %w", id, ErrNotFound)
		}
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
		r.Version = old + 1
		if err := tx.QueryRow(ctx, `UPDATE runs SET state = $1, site = $2, attempt = $3, handle = $4, data = $5, version = $6, updated_at = now(),
			hold_site = $9, hold_pool = $10, hold_accelerator = $11, hold_count = $12, data_object = `+pgGivenMark(`$13::boolean`)+`
			WHERE id = $7 AND version = $8 RETURNING updated_at`, r.State, r.Site, r.Attempt, r.Handle, jsonbSafe(r.Data), r.Version, id, old,
			r.Hold.Site, r.Hold.Pool, r.Hold.Accelerator, r.Hold.Count, pgDataObject(r.Data)).Scan(&r.UpdatedAt); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrConflict
			}
			return err
		}
		last, err := s.applyChange(ctx, tx, id, r.Tenant, r.UpdatedAt, ch)
		if err != nil {
			return err
		}
		// The fence is checked last, so that the lease row is share-locked
		// only from here to the commit: a server frozen earlier in the
		// transaction does not hold up another's takeover of the lease.
		if f, ok := FenceOf(ctx); ok {
			if err := pgCheckFence(ctx, tx, f, true); err != nil {
				return err
			}
		}
		head, out = last, r
		return nil
	})
	if f, ok := FenceOf(ctx); ok && err != nil && !errors.Is(err, ErrFenced) {
		// SQLite checks the fence first: a writer whose lease moved on is
		// told so whatever its change came to (none, a refusal, a run
		// that is not there), not answered as if it still held it.
		if ferr := pgCheckFence(ctx, s.pool, f, false); errors.Is(ferr, ErrFenced) {
			return nil, ferr
		}
	}
	if errors.Is(err, ErrNoChange) {
		return s.GetRun(ctx, id)
	}
	if err != nil {
		return nil, pgErr(err)
	}
	s.notify(head)
	s.announce(out.Tenant, out.ID)
	return out, nil
}

func scanPgRun(row pgx.Row) (*Run, error) {
	var r Run
	var data *string
	if err := row.Scan(&r.ID, &r.Tenant, &r.Job, &r.State, &r.Site, &r.Attempt, &r.Handle, &data, &r.Version, &r.CreatedAt, &r.UpdatedAt,
		&r.Hold.Site, &r.Hold.Pool, &r.Hold.Accelerator, &r.Hold.Count); err != nil {
		return nil, err
	}
	if data != nil {
		r.Data = []byte(*data)
	} else {
		// Only a list without documents reads NULL: data it could
		// not drop them from.
		r.DataInvalid = true
	}
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return &r, nil
}

type pgQuerier interface {
	QueryRow(ctx context.Context, q string, args ...any) pgx.Row
}

func pgGetRun(ctx context.Context, q pgReader, id string) (*Run, error) {
	r, err := scanPgRun(pgLookup{q}.QueryRow(ctx, `SELECT `+runCols+` FROM runs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("run %q: %w", id, ErrNotFound)
	}
	return r, err
}

// RunByKey implements Store.
func (s *Postgres) RunByKey(ctx context.Context, tenant, key string) (*Run, error) {
	var id string
	err := pgLookup{s.pool}.QueryRow(ctx, `SELECT run_id FROM idempotency_keys WHERE tenant = $1 AND key = $2`, tenant, key).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("idempotency key: %w", ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return keyRun(pgGetRun(ctx, s.pool, id))(tenant)
}

// GetRun implements Store.
func (s *Postgres) GetRun(ctx context.Context, id string) (*Run, error) {
	return pgGetRun(ctx, s.pool, id)
}

// RunVersionOf implements Store.
func (s *Postgres) RunVersionOf(ctx context.Context, id string) (string, int64, error) {
	var tenant string
	var version int64
	err := pgLookup{s.pool}.QueryRow(ctx, `SELECT tenant, version FROM runs WHERE id = $1`, id).Scan(&tenant, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, fmt.Errorf("run %q: %w", id, ErrNotFound)
	}
	return tenant, version, err
}

// RunVersions implements Store.
func (s *Postgres) RunVersions(ctx context.Context, tenant string) ([]RunVersion, error) {
	return s.RunVersionsAfter(ctx, tenant, "", 0)
}

// RunVersionsAfter implements Store: as SQLite's, the cursor a run of
// the tenant read.
func (s *Postgres) RunVersionsAfter(ctx context.Context, tenant, after string, limit int) ([]RunVersion, error) {
	if err := tenantScope(tenant, false); err != nil {
		return nil, fmt.Errorf("run versions: %w", err)
	}
	if err := versionsLimit(limit); err != nil {
		return nil, err
	}
	q, args := `SELECT id, version FROM runs WHERE tenant = $1 ORDER BY created_at, id LIMIT $2`, []any{tenant, readLimit(limit, maxRunVersions)}
	if after != "" {
		q = `SELECT id, version FROM runs WHERE tenant = $1 AND (created_at, id) > (SELECT created_at, id FROM runs WHERE id = $3 AND tenant = $1) ORDER BY created_at, id LIMIT $2`
		args = append(args, after)
	}
	rows, err := pgLookup{s.pool}.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out, err := scanVersions(rows)
	if err == nil && limit == 0 && len(out) > maxRunVersions {
		return nil, tooManyVersions(tenant)
	}
	return out, err
}

// ListRuns implements Store.
func (s *Postgres) ListRuns(ctx context.Context, opts ListOptions) ([]*Run, error) {
	if err := tenantScope(opts.Tenant, opts.AllTenants); err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	q := ` FROM runs`
	var where []string
	var args []any
	if opts.Tenant != "" {
		args = append(args, opts.Tenant)
		where = append(where, fmt.Sprintf("tenant = $%d", len(args)))
	}
	if opts.Active && len(opts.Final) > 0 {
		args = append(args, opts.Final)
		where = append(where, fmt.Sprintf("state <> ALL($%d)", len(args)))
	}
	if len(opts.States) > 0 {
		args = append(args, opts.States)
		where = append(where, fmt.Sprintf("state = ANY($%d)", len(args)))
	}
	if opts.HeldForKey != "" {
		if err := checkHeldForKey(opts.HeldForKey); err != nil {
			return nil, err
		}
		// As in SQLite's: the terms of the partial index runs_hold_key.
		args = append(args, opts.HeldForKey, HoldKeyUnknown)
		where = append(where, fmt.Sprintf("state = 'held' AND hold_key IN ($%d, $%d)", len(args)-1, len(args)))
	}
	if opts.After != "" {
		// As in SQLite's: the cursor is a run of the tenant listed.
		args = append(args, opts.After)
		cursor := fmt.Sprintf("SELECT created_at, id FROM runs WHERE id = $%d", len(args))
		if opts.Tenant != "" {
			args = append(args, opts.Tenant)
			cursor += fmt.Sprintf(" AND tenant = $%d", len(args))
		}
		where = append(where, "(created_at, id) > ("+cursor+")")
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at, id"
	if opts.Limit > 0 {
		args = append(args, opts.Limit)
		q += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	// Each row's data is read as jsonb only when it was marked a JSON
	// object as it was written (migration 00010): one marked otherwise
	// is NULL, which marks that run alone rather than failing every list
	// it is in, and one not marked yet goes through a function that
	// catches its error (migration 00009, several times the cost of the
	// plain read). A row that meets the list's query once costs it once.
	out, err := s.listRuns(ctx, `SELECT `+listCols(opts, pgListData)+q, args, opts.NoDocuments)
	var pe *pgconn.PgError
	if opts.NoDocuments && errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "54")) {
		// A row marked a JSON object that is not one (data the store
		// was given that starts as an object, see pgDataObject, or a
		// hand edit with the mark's trigger disabled). Read again,
		// every row through the function.
		out, err = s.listRuns(ctx, `SELECT `+listCols(opts, `meridian_list_data(data)`)+q, args, true)
	}
	return out, err
}

// pgGivenMark is the value a write of runs gives the data_object column:
// the mark expr, after telling the table's trigger (migration 00010) that
// the transaction's writes of runs give their data's mark themselves. A
// row's values are computed before the trigger's condition reads the
// setting, so the write makes the setting itself, not a statement of its
// own sent before it (a round trip of every write). The mark is the
// setting's result's CASE: the database cannot leave the call out, as it
// may fold "call AND false" to false without making it.
func pgGivenMark(expr string) string {
	return `CASE WHEN set_config('meridian.data_object', 'given', true) = 'given' THEN ` + expr + ` END`
}

// pgDataObject is the mark the store writes beside a run's data: whether it
// is a JSON object, told from its first byte without parsing it (the data
// is JSON the run package made). Data that starts as an object and is not
// valid JSON fails the list's plain read, which then reads again through
// the function that catches the error (ListRuns): correct, at twice the
// cost.
func pgDataObject(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{"))
}

// pgListData is a run's data without its documents, NULL when the data is
// not a JSON object (see ListRuns).
const pgListData = `CASE WHEN data_object THEN (data::jsonb - 'documents')::text WHEN data_object IS NULL THEN meridian_list_data(data) END`

func (s *Postgres) listRuns(ctx context.Context, q string, args []any, noDocuments bool) ([]*Run, error) {
	rows, err := pgLookup{s.pool}.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Run
	for rows.Next() {
		r, err := scanPgRun(rows)
		if err != nil {
			return nil, err
		}
		if noDocuments && r.Data != nil && !bytes.HasPrefix(r.Data, []byte("{")) {
			// An array (jsonb's text of an object starts with its
			// brace): not a run's data, marked as SQLite's list marks it.
			r.Data, r.DataInvalid = nil, true
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Events implements Store.
func (s *Postgres) Events(ctx context.Context, runID string) ([]Event, error) {
	return s.EventsAfter(ctx, runID, 0, 0)
}

// EventsAfter implements Store.
func (s *Postgres) EventsAfter(ctx context.Context, runID string, after int64, limit int) ([]Event, error) {
	if after < 0 || limit < 0 {
		return nil, fmt.Errorf("events: after %d, limit %d: want 0 or more", after, limit)
	}
	if err := eventsLimit(limit); err != nil {
		return nil, err
	}
	q, args := `SELECT run_id, seq, time, kind, from_state, to_state, reason, data FROM events WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, []any{runID, after, readLimit(limit, maxEvents)}
	rows, err := pgLookup{s.pool}.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		if err := rows.Scan(&e.RunID, &e.Seq, &e.Time, &e.Kind, &e.From, &e.To, &e.Reason, &e.Data); err != nil {
			return nil, err
		}
		e.Time = e.Time.UTC()
		if out = append(out, e); len(out) > maxEvents {
			return nil, tooManyEvents(runID)
		}
	}
	return out, rows.Err()
}

// AppendAudit implements Store and audit.Appender.
func (s *Postgres) AppendAudit(ctx context.Context, recs ...audit.Record) error {
	if err := auditText(recs...); err != nil {
		return err
	}
	var head *audit.Entry
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		head, err = s.appendAudit(ctx, tx, time.Time{}, recs)
		return err
	})
	if err != nil {
		return err
	}
	s.notify(head)
	return nil
}

// AuditEntries implements Store.
func (s *Postgres) AuditEntries(ctx context.Context, runID string) ([]audit.Entry, error) {
	return s.AuditSelect(ctx, AuditQuery{RunID: runID, AllTenants: true})
}

// AuditSelect implements Store. A server's read of the records of some
// kinds fails when entries are missing from the part of the log it read
// (see auditSelectWhole).
func (s *Postgres) AuditSelect(ctx context.Context, q AuditQuery) ([]audit.Entry, error) {
	return auditSelectWhole(q, func(q AuditQuery) ([]audit.Entry, error) { return s.selectAudit(ctx, q) }, s.auditGaps(ctx))
}

// auditGaps is the store's gap check (noGap), in a snapshot of its own.
func (s *Postgres) auditGaps(ctx context.Context) func(lo, hi int64) error {
	return func(lo, hi int64) error {
		return s.auditSnapshot(ctx)(func(src audit.Source) error {
			return src.(auditSource).noGap(s.chain, &s.gapHead, &s.sealed, postgresUniqueSeq, lo, hi)
		})
	}
}

// selectAudit is the entries q selects, unchecked.
func (s *Postgres) selectAudit(ctx context.Context, q AuditQuery) ([]audit.Entry, error) {
	query, args, err := auditSelect(q, func(n int) string { return "$" + strconv.Itoa(n) })
	if err != nil {
		return nil, err
	}
	// The kinds are each an argument of their own (kind IN (...)): one
	// that PostgreSQL's text cannot hold matches no entry, and is left
	// out before pgLookup would find none for all of them.
	if kinds := pgTexts(q.Kinds); len(kinds) < len(q.Kinds) {
		if len(kinds) == 0 {
			return nil, nil
		}
		q.Kinds = kinds
		if query, args, err = auditSelect(q, func(n int) string { return "$" + strconv.Itoa(n) }); err != nil {
			return nil, err
		}
	}
	if q.MaxBytes > 0 {
		cols := auditCols
		if q.PayloadsOf != "" {
			cols = auditColsShown
		}
		query = byteBounded(query, cols, q.MaxBytes)
	}
	rows, err := pgLookup{s.pool}.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanAuditOf(rows, q)
}

// AuditSelectPage implements Store.
func (s *Postgres) AuditSelectPage(ctx context.Context, q AuditQuery) ([]audit.Entry, int64, error) {
	return auditSelectPage(q, func(n int) string { return "$" + strconv.Itoa(n) }, func(q AuditQuery) ([]audit.Entry, error) { return s.selectAudit(ctx, q) },
		func(query string, args ...any) (int64, bool, error) {
			var v int64
			err := pgLookup{s.pool}.QueryRow(ctx, query, args...).Scan(&v)
			if errors.Is(err, pgx.ErrNoRows) {
				return 0, false, nil
			}
			return v, err == nil, err
		}, s.auditGaps(ctx))
}

// VerifyAudit implements Store.
func (s *Postgres) VerifyAudit(ctx context.Context) (audit.Result, error) {
	return s.VerifyAuditAnchored(ctx, nil)
}

// VerifyAuditAnchored implements Store. The log is read a page at a time
// (see auditSource) in one read-only repeatable-read transaction: every
// page, and every lookup at a break, sees the same snapshot. A log found
// whole moves the gap checks' watermark to its end (see sealedTo).
func (s *Postgres) VerifyAuditAnchored(ctx context.Context, anchors *audit.Anchors) (audit.Result, error) {
	snap, done := s.sealed.watchVerified(s.auditSnapshot(ctx))
	r, err := s.chain.VerifySnapshot(snap, anchors)
	if err == nil {
		done(r)
	}
	return r, err
}

// verifyIdleTimeout is how long a verification's transaction may sit idle
// between its reads: the verification hashes each page between them, and
// at a break looks for where the broken entry was written, hashing up to
// 256 MiB, which takes more than the store's idle timeout (2 s) on a busy
// host. The transaction is read-only and holds no row lock, so a server
// paused inside it stalls no other replica's writes.
const verifyIdleTimeout = "60s"

// auditSnapshot is the log as one read-only repeatable-read transaction
// sees it.
func (s *Postgres) auditSnapshot(ctx context.Context) audit.Snapshot {
	return func(fn func(audit.Source) error) error {
		tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, "SET LOCAL idle_in_transaction_session_timeout = '"+verifyIdleTimeout+"'"); err != nil {
			return err
		}
		return fn(auditSource{cols: auditCols, ph: func(n int) string { return "$" + strconv.Itoa(n) }, query: func(q string, args ...any) (rowScanner, func(), error) {
			rows, err := tx.Query(ctx, q, args...)
			if err != nil {
				return nil, nil, err
			}
			return rows, rows.Close, nil
		}, cutInDB: true})
	}
}

// AuditHead implements Store: the last entry, not the head row, so that a
// head row edited by hand cannot hide entries.
func (s *Postgres) AuditHead(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := s.pool.QueryRow(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, audit.Genesis, nil
	}
	return seq, hash, err
}

// AuditHashAt implements Store.
func (s *Postgres) AuditHashAt(ctx context.Context, seq int64) (string, bool, error) {
	var hash string
	err := s.pool.QueryRow(ctx, `SELECT hash FROM audit WHERE seq = $1`, seq).Scan(&hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return hash, err == nil, err
}

// pgAuditHeadAt is auditHeadAtQuery for PostgreSQL.
var pgAuditHeadAt = auditHeadAtQuery("$1")

// AuditHeadAt implements Store: the last entry, as AuditHead reads it,
// and the entry at seq, in one statement (one snapshot).
func (s *Postgres) AuditHeadAt(ctx context.Context, seq int64) (AuditHeadRead, error) {
	var r AuditHeadRead
	var at *string
	err := s.pool.QueryRow(ctx, pgAuditHeadAt, seq).Scan(&r.Seq, &r.Hash, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return AuditHeadRead{Hash: audit.Genesis}, nil
	}
	if at != nil {
		r.At, r.AtOK = *at, true
	}
	return r, err
}

// Holds implements Store.
func (s *Postgres) Holds(ctx context.Context) ([]TenantHold, error) {
	rows, err := s.pool.Query(ctx, holdsQuery)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanHolds(rows)
}

// CountRuns implements Store.
func (s *Postgres) CountRuns(ctx context.Context) ([]RunCount, error) {
	rows, err := s.pool.Query(ctx, countRunsQuery)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanRunCounts(rows)
}

// pgErr maps PostgreSQL's errors to the store's: a unique violation is a
// lost race (ErrConflict), with the database's message kept.
// capacityLockKey is the advisory lock that serialises changes with limits.
const capacityLockKey = 0x6d65726964 // "merid"

func pgErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return fmt.Errorf("%s: %w", pe.Message, ErrConflict)
	}
	return err
}

// jsonbSafe is a run's JSON data as the runs table keeps it: each escaped
// NUL (\u0000) in a string becomes U+FFFD. The list reads the data as
// jsonb, which refuses that escape, and a run's data carries what sites
// and workloads said (a pod's termination message, a scheduler's reason):
// one NUL from them would fail every list of the tenant's runs. A
// backslash that is itself escaped (\\u0000, the text "\u0000") is kept.
func jsonbSafe(data []byte) string {
	const nul = `\u0000`
	if !bytes.Contains(data, []byte(nul)) {
		return string(data)
	}
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			out = append(out, data[i])
			continue
		}
		if bytes.HasPrefix(data[i:], []byte(nul)) {
			out = append(out, `\ufffd`...)
			i += len(nul) - 1
			continue
		}
		// Any other escape: the backslash and the character it escapes
		// (a second backslash among them) go as they are.
		out = append(out, data[i])
		if i+1 < len(data) {
			i++
			out = append(out, data[i])
		}
	}
	return string(out)
}
