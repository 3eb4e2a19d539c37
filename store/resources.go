package store

import (
	"cmp"
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"meridian.dev/meridian/audit"
)

const resourceCols = `tenant, kind, name, doc, hash, store_key, version, created_at, updated_at`

// writeOrder is the order in which a transaction writes n resources (at
// gives the ith): by tenant, kind and name, whatever order a request lists
// them in. Two transactions that write the same resources then take their
// rows in one order and wait for each other; each in its own request's
// order, each could take one and wait for the other's (a deadlock, which
// PostgreSQL ends by failing one of them). Both stores write in it, so
// that a change that refuses several resources refuses the same one
// first on either.
func writeOrder(n int, at func(i int) *Resource) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		a, b := at(i), at(j)
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	return order
}

func scanResource(sc interface{ Scan(...any) error }) (*Resource, error) {
	var r Resource
	var tenant, kind, name, doc, hash, storeKey, ca, ua auditField
	if err := sc.Scan(&tenant, &kind, &name, &doc, &hash, &storeKey, &r.Version, &ca, &ua); err != nil {
		return nil, err
	}
	if err := rowText("resources", fmt.Sprintf("(tenant %q, kind %q, name %q)", tenant.s, kind.s, name.s),
		textCol{name: "tenant", f: &tenant}, textCol{name: "kind", f: &kind}, textCol{name: "name", f: &name}, textCol{name: "doc", f: &doc},
		textCol{name: "hash", f: &hash}, textCol{name: "store_key", f: &storeKey}, textCol{name: "created_at", f: &ca}, textCol{name: "updated_at", f: &ua}); err != nil {
		for _, c := range []struct {
			name string
			f    *auditField
		}{{"tenant", &tenant}, {"kind", &kind}, {"name", &name}} {
			if c.f.blob {
				return nil, &resourceKeyBlob{err: err, col: c.name, tenant: tenant.s, kind: kind.s, name: name.s}
			}
		}
		return nil, err
	}
	r.Tenant, r.Kind, r.Name, r.Hash, r.StoreKey = tenant.s, kind.s, name.s, hash.s, storeKey.s
	r.Doc = []byte(doc.s)
	r.CreatedAt, r.UpdatedAt = parseTime(ca.s), parseTime(ua.s)
	return &r, nil
}

// ErrRowTwice refuses a row held twice under one key: once as Meridian
// wrote it, as text, and once with a column of the key stored as bytes (a
// BLOB of the same bytes), which SQLite keeps under another key of the
// same primary index.
var ErrRowTwice = errors.New("the row is held twice, and the copy whose key is bytes was written outside Meridian")

// resourceKeyBlob is scanResource's refusal of a row whose tenant, kind
// or name (col, the first) is stored as bytes, with the key as text.
type resourceKeyBlob struct {
	err                error
	col                string
	tenant, kind, name string
}

func (e *resourceKeyBlob) Error() string { return e.err.Error() }
func (e *resourceKeyBlob) Unwrap() error { return e.err }

// resourceTwin turns err, scanResource's refusal, into ErrRowTwice when
// the row refused has its key as bytes and a row of the same key as text
// is there too: told to store the key as text again, the operator would
// meet the primary key's refusal instead. One seek, on the refusal alone.
func resourceTwin(ctx context.Context, q querier, err error) error {
	var kb *resourceKeyBlob
	if !errors.As(err, &kb) {
		return err
	}
	var one int
	switch qerr := q.QueryRowContext(ctx, `SELECT 1 FROM resources WHERE tenant = ? AND kind = ? AND name = ?`, kb.tenant, kb.kind, kb.name).Scan(&one); {
	case errors.Is(qerr, sql.ErrNoRows):
		return err
	case qerr != nil:
		return errors.Join(err, qerr)
	}
	return fmt.Errorf("resources row (tenant %q, kind %q, name %q): %w: one row has the key as text, another the same key with its %s stored as bytes (a BLOB), which SQLite keeps apart; delete the BLOB row (SELECT rowid FROM resources WHERE typeof(%s) = 'blob')",
		kb.tenant, kb.kind, kb.name, ErrRowTwice, kb.col, kb.col)
}

// qGetResource reads a resource by its tenant, kind and name, each as
// text and as bytes (a BLOB of the same bytes, which SQLite keeps as it is
// in a TEXT column and no comparison with text matches): at most eight
// seeks of the primary key. A row with a BLOB among them comes first, so
// that scanResource refuses it, naming the column: passed by, the
// resource was missing to its tenant (a conflict to the register witness)
// while the table held it.
const qGetResource = `SELECT ` + resourceCols + ` FROM resources
	WHERE tenant IN (?1, CAST(?1 AS BLOB)) AND kind IN (?2, CAST(?2 AS BLOB)) AND name IN (?3, CAST(?3 AS BLOB))
	ORDER BY typeof(tenant) = 'blob' OR typeof(kind) = 'blob' OR typeof(name) = 'blob' DESC LIMIT 1`

func getResource(ctx context.Context, q querier, tenant, kind, name string) (*Resource, error) {
	r, err := scanResource(q.QueryRowContext(ctx, qGetResource, tenant, kind, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s %s of tenant %s: %w", kind, name, tenant, ErrNotFound)
	}
	if err != nil {
		return nil, resourceTwin(ctx, q, err)
	}
	return r, nil
}

// register inserts r unless the tenant registered it already, in which case
// the registered copy must hash the same.
func (s *SQLite) register(ctx context.Context, tx *sql.Tx, now time.Time, r *Resource) error {
	got, err := getResource(ctx, tx, r.Tenant, r.Kind, r.Name)
	switch {
	case err == nil:
		if subtle.ConstantTimeCompare([]byte(got.Hash), []byte(r.Hash)) != 1 {
			return &ResourceConflict{Kind: r.Kind, Name: r.Name, Registered: got,
				Detail: fmt.Sprintf("differs from the copy registered on %s (version %d); change it with an update by its owner, not in a request", got.UpdatedAt.UTC().Format("2006-01-02"), got.Version)}
		}
		return nil
	case !errors.Is(err, ErrNotFound):
		return err
	}
	return s.insertResource(ctx, tx, now, r)
}

func (s *SQLite) insertResource(ctx context.Context, tx *sql.Tx, now time.Time, r *Resource) error {
	s.res.changed()
	if err := s.storeKeyFree(ctx, tx, r); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO resources (`+resourceCols+`) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)`,
		r.Tenant, r.Kind, r.Name, string(r.Doc), r.Hash, r.StoreKey, fmtTime(now), fmtTime(now))
	if err != nil {
		return fmt.Errorf("register %s %s: %w", r.Kind, r.Name, err)
	}
	return nil
}

// qStoreKey finds the rows that hold a store key, as text or as bytes (a
// BLOB of the same bytes, which the unique index on store_key tells apart
// from the text and no comparison with text matches), on that index (the
// term that the key is not empty lets the partial index serve).
const qStoreKey = `SELECT tenant, name, store_key FROM resources WHERE store_key IN (?, CAST(? AS BLOB)) AND store_key <> ''`

// storeKeyFree refuses a dataset whose data another tenant registered. A
// row holding the key as a BLOB is an error naming it: the lookup by text
// passed it by, and another tenant registered the data it claims.
func (s *SQLite) storeKeyFree(ctx context.Context, tx *sql.Tx, r *Resource) error {
	if r.StoreKey == "" {
		return nil
	}
	rows, err := tx.QueryContext(ctx, qStoreKey, r.StoreKey, r.StoreKey)
	if err != nil {
		return err
	}
	defer rows.Close()
	free, held := true, false
	for rows.Next() {
		var owner, name, key auditField
		if err := rows.Scan(&owner, &name, &key); err != nil {
			return err
		}
		if err := rowText("resources", fmt.Sprintf("(tenant %q, name %q)", owner.s, name.s),
			textCol{name: "store_key", f: &key}, textCol{name: "tenant", f: &owner}, textCol{name: "name", f: &name}); err != nil {
			return err
		}
		if owner.s != r.Tenant || name.s != r.Name {
			free = false
		} else {
			held = true
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if !free {
		return &ResourceConflict{Kind: r.Kind, Name: r.Name, Detail: "its store and name are registered already (by another tenant or under another name); data belongs to the tenant that registered it first"}
	}
	if held {
		return nil
	}
	var clashed int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM rekey_clashes WHERE store_key = ?`, r.StoreKey).Scan(&clashed); err != nil {
		return err
	}
	if clashed > 0 {
		return storeKeyClashed(r)
	}
	return nil
}

// storeKeyClashed is the conflict of a dataset whose store and name
// registrations under other spellings claim (RekeyResources' clash).
func storeKeyClashed(r *Resource) error {
	return &ResourceConflict{Kind: r.Kind, Name: r.Name, Detail: "its store and name are registered by more than one tenant under different spellings; an operator decides which owns the data"}
}

// GetResource implements Store.
func (s *SQLite) GetResource(ctx context.Context, tenant, kind, name string) (*Resource, error) {
	return getResource(ctx, s.db, tenant, kind, name)
}

// ListResources implements Store. Every submission asks for its tenant's
// resources, and they rarely change: the answer is kept per tenant and kind
// until a transaction of this store inserts or updates a resource, or
// another connection commits to the database (another process, or SQL by
// hand: the table is not this store's alone). SQLite's data_version tells
// the latter: read on the connection the answer is read on, it changes
// when another connection commits, and only then. The database has one
// connection, so a query never overlaps a transaction; the version is
// read before the rows, so a commit between the two is seen at the next
// call, and a connection the pool replaced is a change too (two
// connections' versions are not comparable). A check costs one PRAGMA.
func (s *SQLite) ListResources(ctx context.Context, tenant, kind string) ([]*Resource, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	v, err := dataVersionOf(ctx, conn)
	if err != nil {
		return nil, err
	}
	s.res.observe(v)
	key := tenant + "\x00" + kind
	if rows, ok := s.res.get(key); ok {
		return rows, nil
	}
	gen := s.res.generation()
	// The tenant and kind are read as text and as bytes (a BLOB, see
	// qGetResource), so that scanResource refuses a row so rewritten,
	// naming the column, rather than leave it out of the list.
	q := `SELECT ` + resourceCols + ` FROM resources WHERE tenant IN (?1, CAST(?1 AS BLOB))`
	args := []any{tenant}
	if kind != "" {
		q += ` AND kind IN (?2, CAST(?2 AS BLOB))`
		args = append(args, kind)
	}
	rows, err := conn.QueryContext(ctx, q+fmt.Sprintf(` ORDER BY kind, name LIMIT %d`, maxListResources+1), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Resource
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			rows.Close()
			return nil, resourceTwin(ctx, conn, err)
		}
		if out = append(out, r); len(out) > maxListResources {
			return nil, tooManyResources(tenant, kind)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.res.put(key, gen, out)
	return copyResources(out), nil
}

// dataVersion is a connection's PRAGMA data_version and the connection it
// was read on: versions read on two connections are not comparable. The
// driver's connection is kept, so that its address is not another's.
type dataVersion struct {
	conn any
	v    int64
}

// dataVersionOf reads conn's data_version.
func dataVersionOf(ctx context.Context, conn *sql.Conn) (dataVersion, error) {
	var d dataVersion
	if err := conn.Raw(func(dc any) error {
		// Compared with ==, which a value of a type without it panics on.
		if reflect.TypeOf(dc).Comparable() {
			d.conn = dc
		}
		return nil
	}); err != nil {
		return d, err
	}
	if err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&d.v); err != nil {
		return d, fmt.Errorf("read the database's data_version: %w", err)
	}
	return d, nil
}

// resourceCache holds ListResources answers, each tagged with the
// generation it was read at; a resource write moves the generation on,
// and so does another connection's commit (a new data version).
type resourceCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[string]cachedResources
	// dv is the data version the answers were read at.
	dv dataVersion
}

type cachedResources struct {
	gen  uint64
	rows []*Resource
}

// maxCachedLists bounds the cache: past it, it starts again empty.
const maxCachedLists = 4096

// changed is called inside a transaction that writes a resource, before
// it commits; answers read before it are stale from then on (a rollback
// only costs a read).
func (c *resourceCache) changed() {
	c.mu.Lock()
	c.gen++
	c.m = nil
	c.mu.Unlock()
}

// observe drops every answer when v is not the data version they were
// read at: another connection committed, or the connection is another
// (one whose version is unknown counts as another each time).
func (c *resourceCache) observe(v dataVersion) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v.conn == nil || v != c.dv {
		c.dv = v
		c.gen++
		c.m = nil
	}
}

func (c *resourceCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *resourceCache) get(key string) ([]*Resource, bool) {
	c.mu.Lock()
	e, ok := c.m[key]
	ok = ok && e.gen == c.gen
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	return copyResources(e.rows), true
}

// put keeps rows read at generation gen, unless a write came since.
func (c *resourceCache) put(key string, gen uint64, rows []*Resource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil || len(c.m) >= maxCachedLists {
		c.m = map[string]cachedResources{}
	}
	c.m[key] = cachedResources{gen: gen, rows: copyResources(rows)}
}

// copyResources copies the rows, so that no caller shares one with the
// cache or with another caller.
func copyResources(rows []*Resource) []*Resource {
	out := make([]*Resource, len(rows))
	for i, r := range rows {
		c := *r
		c.Doc = append([]byte(nil), r.Doc...)
		out[i] = &c
	}
	return out
}

// PutResource implements Store.
func (s *SQLite) PutResource(ctx context.Context, r *Resource, ifVersion int64, rec audit.Record) (*Resource, error) {
	out, err := s.PutResources(ctx, []ResourcePut{{Resource: r, IfVersion: ifVersion, Audit: rec}})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// PutResources implements Store.
func (s *SQLite) PutResources(ctx context.Context, puts []ResourcePut) ([]*Resource, error) {
	if err := putsText(puts); err != nil {
		return nil, err
	}
	var head *audit.Entry
	var out []*Resource
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		out = make([]*Resource, len(puts))
		recs := make([]audit.Record, len(puts))
		for _, i := range writeOrder(len(puts), func(i int) *Resource { return puts[i].Resource }) {
			p := puts[i]
			rec, err := s.putResource(ctx, tx, now, p.Resource, p.IfVersion, p.Audit)
			if err != nil {
				return err
			}
			recs[i] = rec
		}
		// Each is read back as this transaction wrote it: read after the
		// commit, it may be another's write that came in between.
		for i, p := range puts {
			got, err := getResource(ctx, tx, p.Resource.Tenant, p.Resource.Kind, p.Resource.Name)
			if err != nil {
				return err
			}
			out[i] = got
		}
		// The entries are appended together, after one read of the
		// chain's head, in the order of the resources.
		var err error
		head, err = s.appendAudit(ctx, tx, now, recs)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.notify(head)
	return out, nil
}

// putResource writes one of PutResources' resources in tx and returns its
// audit record, owned by the resource's tenant, for the caller to append.
func (s *SQLite) putResource(ctx context.Context, tx *sql.Tx, now time.Time, r *Resource, ifVersion int64, rec audit.Record) (audit.Record, error) {
	got, err := getResource(ctx, tx, r.Tenant, r.Kind, r.Name)
	switch {
	case errors.Is(err, ErrNotFound):
		if ifVersion != 0 {
			return audit.Record{}, fmt.Errorf("%s %s: not registered: %w", r.Kind, r.Name, ErrConflict)
		}
		if err := s.insertResource(ctx, tx, now, r); err != nil {
			return audit.Record{}, err
		}
	case err != nil:
		return audit.Record{}, err
	default:
		if got.Version != ifVersion {
			return audit.Record{}, fmt.Errorf("%s %s: registered version is %d, not %d: %w", r.Kind, r.Name, got.Version, ifVersion, ErrConflict)
		}
		if err := s.storeKeyFree(ctx, tx, r); err != nil {
			return audit.Record{}, err
		}
		s.res.changed()
		if _, err := tx.ExecContext(ctx, `UPDATE resources SET doc = ?, hash = ?, store_key = ?, version = version + 1, updated_at = ?
			WHERE tenant = ? AND kind = ? AND name = ?`, string(r.Doc), r.Hash, r.StoreKey, fmtTime(now), r.Tenant, r.Kind, r.Name); err != nil {
			return audit.Record{}, err
		}
	}
	if rec.Tenant == "" {
		rec.Tenant = r.Tenant
	}
	return rec, nil
}

// maxTenantUID is the highest user id a tenant is given: PostgreSQL's
// INTEGER holds no more, and past 2^32-1 a Unix user id wraps (2^32 is
// root's).
const maxTenantUID = 1<<31 - 1

// tenantUIDQuery reads a tenant's user id and how many tenants hold it.
const tenantUIDQuery = `SELECT uid, (SELECT COUNT(*) FROM tenants AS o WHERE o.uid = t.uid) FROM tenants AS t WHERE name = `

// tenantUIDCheck refuses a tenant's recorded user id that the store would
// not have given it: below base (root's, or the server's own user's) or
// past maxTenantUID, or held by another tenant too (the unique index
// dropped). The tenants table is outside the audit chain, and a workload
// runs as this user: a row changed by hand would otherwise run a tenant's
// workloads as root, or as another tenant, with its files.
func tenantUIDCheck(tenant string, uid, holders int64, base int) (int, error) {
	if uid < int64(base) || uid > maxTenantUID || holders != 1 {
		return 0, fmt.Errorf("tenant %s's recorded user id %d is not one the store gives (at least %d, at most %d, held by one tenant; %d hold it): the tenants table was changed outside Meridian", tenant, uid, base, maxTenantUID, holders)
	}
	return int(uid), nil
}

// nextTenantUID is the user id a new tenant is given after max, the
// highest recorded (nil: none).
func nextTenantUID(max *int64, base int) (int, error) {
	uid := int64(base)
	if max != nil && *max >= uid {
		uid = *max + 1
	}
	if uid > maxTenantUID {
		return 0, fmt.Errorf("no user id left for a new tenant: the highest recorded is %d", *max)
	}
	return int(uid), nil
}

// TenantUID implements Store.
func (s *SQLite) TenantUID(ctx context.Context, tenant string, base int) (int, error) {
	if err := fieldText("tenant", tenant); err != nil {
		return 0, err
	}
	// The lookup reads the tenant's name as text and as bytes: see
	// sqliteTenantUID.
	uid, found, err := sqliteTenantUID(ctx, s.db, s.stmts[qTenantUID], tenant, base)
	if found || err != nil {
		return uid, err
	}
	var out int
	err = s.tx(ctx, func(tx *sql.Tx) error {
		st, err := s.prepared(ctx, tx, qTenantUID)
		if err != nil {
			return err
		}
		var found bool
		if out, found, err = sqliteTenantUID(ctx, nil, st, tenant, base); found || err != nil {
			return err
		}
		var max sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(uid) FROM tenants`).Scan(&max); err != nil {
			return err
		}
		if out, err = nextTenantUID(nullInt(max), base); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO tenants (name, uid, created_at) VALUES (?, ?, ?)`, tenant, out, fmtTime(s.now()))
		return err
	})
	if err != nil {
		return 0, err
	}
	return out, nil
}

func nullInt(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	return &n.Int64
}

// AuditHead implements Store. It reads on rdb, as AuditSelect does: the
// ledger indexes read the head on every plan, law check, staging and
// read of a tenant's ledger, and on db each of those waited for every
// write transaction (and its fsync) under way. A read on rdb sees every
// commit made before it began, which is what a caller that read the head
// before its read of the log, or after its own append, relies on.
func (s *SQLite) AuditHead(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := s.rdb.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, audit.Genesis, nil
	}
	return seq, hash, err
}

// sqliteAuditHeadAt is auditHeadAtQuery for SQLite.
var sqliteAuditHeadAt = auditHeadAtQuery("?")

// AuditHeadAt implements Store. It reads on rdb, as AuditHead does, with
// the statement prepared at open; one statement reads one snapshot (WAL).
func (s *SQLite) AuditHeadAt(ctx context.Context, seq int64) (AuditHeadRead, error) {
	var r AuditHeadRead
	var at sql.NullString
	err := s.headAt.QueryRowContext(ctx, seq).Scan(&r.Seq, &r.Hash, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return AuditHeadRead{Hash: audit.Genesis}, nil
	}
	r.At, r.AtOK = at.String, at.Valid
	return r, err
}

// AuditHashAt implements Store. It reads on rdb, as AuditHead does.
func (s *SQLite) AuditHashAt(ctx context.Context, seq int64) (string, bool, error) {
	var hash string
	err := s.rdb.QueryRowContext(ctx, `SELECT hash FROM audit WHERE seq = ?`, seq).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return hash, err == nil, err
}
