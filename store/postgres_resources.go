package store

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"meridian.dev/meridian/audit"
)

func scanPgResource(row pgx.Row) (*Resource, error) {
	var r Resource
	var doc string
	if err := row.Scan(&r.Tenant, &r.Kind, &r.Name, &doc, &r.Hash, &r.StoreKey, &r.Version, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return nil, err
	}
	r.Doc = []byte(doc)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return &r, nil
}

func pgGetResource(ctx context.Context, q pgReader, tenant, kind, name string, lock bool) (*Resource, error) {
	sql := `SELECT ` + resourceCols + ` FROM resources WHERE tenant = $1 AND kind = $2 AND name = $3`
	if lock {
		sql += ` FOR UPDATE`
	}
	r, err := scanPgResource(pgLookup{q}.QueryRow(ctx, sql, tenant, kind, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%s %s of tenant %s: %w", kind, name, tenant, ErrNotFound)
	}
	return r, err
}

// register inserts r unless the tenant registered it already, in which case
// the registered copy must hash the same. Two transactions registering the
// same resource at once: the second waits on the first's row and then
// compares with it.
func (s *Postgres) register(ctx context.Context, tx pgx.Tx, r *Resource) error {
	if r.StoreKey != "" {
		if err := waitForRekey(ctx, tx); err != nil {
			return err
		}
	}
	if err := s.storeKeyFree(ctx, tx, r); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `INSERT INTO resources (`+resourceCols+`) VALUES ($1, $2, $3, $4, $5, $6, 1, now(), now())
		ON CONFLICT (tenant, kind, name) DO NOTHING`, r.Tenant, r.Kind, r.Name, string(r.Doc), r.Hash, r.StoreKey)
	if err != nil {
		return registerErr(r, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	got, err := pgGetResource(ctx, tx, r.Tenant, r.Kind, r.Name, false)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(got.Hash), []byte(r.Hash)) != 1 {
		return &ResourceConflict{Kind: r.Kind, Name: r.Name, Registered: got,
			Detail: fmt.Sprintf("differs from the copy registered on %s (version %d); change it with an update by its owner, not in a request", got.UpdatedAt.UTC().Format("2006-01-02"), got.Version)}
	}
	return nil
}

// storeKeyFree refuses a dataset whose data another tenant registered.
// The caller has taken waitForRekey's lock in tx first.
func (s *Postgres) storeKeyFree(ctx context.Context, tx pgx.Tx, r *Resource) error {
	if r.StoreKey == "" {
		return nil
	}
	var owner, name string
	// By the digest the unique index holds (migration 00012), then the key.
	err := tx.QueryRow(ctx, `SELECT tenant, name FROM resources WHERE meridian_store_key_digest(store_key) = meridian_store_key_digest($1)
		AND store_key = $1 AND store_key <> ''`, r.StoreKey).Scan(&owner, &name)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	case owner == r.Tenant && name == r.Name:
		return nil
	default:
		return storeKeyTaken(r)
	}
	var clashed bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM rekey_clashes WHERE meridian_store_key_digest(store_key) = meridian_store_key_digest($1) AND store_key = $1)`, r.StoreKey).Scan(&clashed); err != nil {
		return err
	}
	if clashed {
		return storeKeyClashed(r)
	}
	return nil
}

// waitForRekey takes, for the rest of tx, the lock on resources that its
// write of a row would take, before the checks of storeKeyFree read who
// holds a key or what is reserved. It conflicts with the lock a re-key
// (RekeyResources) holds from its read of the rows to its commit, and
// with no registration's: the checks that follow read a re-key's
// reservations once it has committed, and a re-key that starts after
// reads this transaction's rows once it has. Taken only at the write, a
// registration that checked while a re-key was open wrote once the re-key
// committed, under a key the re-key had just reserved (no index holds a
// reservation), and the re-key had not read its row.
func waitForRekey(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `LOCK TABLE resources IN ROW EXCLUSIVE MODE`)
	return err
}

// storeKeyTaken is the conflict of a dataset whose store and name another
// registration holds.
func storeKeyTaken(r *Resource) error {
	return &ResourceConflict{Kind: r.Kind, Name: r.Name, Detail: "its store and name are registered already (by another tenant or under another name); data belongs to the tenant that registered it first"}
}

// registerErr is the error of an INSERT of r: one that breaks the unique
// index of store keys lost a race with another registration of the same
// data, which storeKeyFree had not yet seen, and is told as storeKeyFree
// tells it.
func registerErr(r *Resource, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "resources_store" {
		return storeKeyTaken(r)
	}
	return fmt.Errorf("register %s %s: %w", r.Kind, r.Name, pgErr(err))
}

// GetResource implements Store.
func (s *Postgres) GetResource(ctx context.Context, tenant, kind, name string) (*Resource, error) {
	return pgGetResource(ctx, s.pool, tenant, kind, name, false)
}

// ListResources implements Store.
func (s *Postgres) ListResources(ctx context.Context, tenant, kind string) ([]*Resource, error) {
	q := `SELECT ` + resourceCols + ` FROM resources WHERE tenant = $1`
	args := []any{tenant}
	if kind != "" {
		q += ` AND kind = $2`
		args = append(args, kind)
	}
	rows, err := pgLookup{s.pool}.Query(ctx, q+fmt.Sprintf(` ORDER BY kind, name LIMIT %d`, maxListResources+1), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Resource
	for rows.Next() {
		r, err := scanPgResource(rows)
		if err != nil {
			return nil, err
		}
		if out = append(out, r); len(out) > maxListResources {
			return nil, tooManyResources(tenant, kind)
		}
	}
	return out, rows.Err()
}

// PutResource implements Store.
func (s *Postgres) PutResource(ctx context.Context, r *Resource, ifVersion int64, rec audit.Record) (*Resource, error) {
	out, err := s.PutResources(ctx, []ResourcePut{{Resource: r, IfVersion: ifVersion, Audit: rec}})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// PutResources implements Store.
func (s *Postgres) PutResources(ctx context.Context, puts []ResourcePut) ([]*Resource, error) {
	if err := putsText(puts); err != nil {
		return nil, err
	}
	var head *audit.Entry
	var out []*Resource
	err := s.tx(ctx, func(tx pgx.Tx) error {
		out = make([]*Resource, len(puts))
		recs := make([]audit.Record, len(puts))
		// Before any row is locked, whether or not it names a store (the
		// write takes this lock anyway): a re-key that took the table
		// between this transaction's lock of a row and its write would
		// wait for the row while this waited for the table, a deadlock
		// that failed the start's re-key or the owner's update.
		if err := waitForRekey(ctx, tx); err != nil {
			return err
		}
		for _, i := range writeOrder(len(puts), func(i int) *Resource { return puts[i].Resource }) {
			p := puts[i]
			got, rec, err := s.putResource(ctx, tx, p.Resource, p.IfVersion, p.Audit)
			if err != nil {
				return err
			}
			out[i], recs[i] = got, rec
		}
		// The entries are appended together once every resource is
		// written: the audit head is locked once, and only for the
		// commit, not while the batch waits for a resource another
		// transaction holds (every replica's appends would wait too).
		var err error
		head, err = s.appendAudit(ctx, tx, time.Time{}, recs)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.notify(head)
	return out, nil
}

// putResource writes one of PutResources' resources in tx and returns it
// as written and its audit record, owned by the resource's tenant, for the
// caller to append.
func (s *Postgres) putResource(ctx context.Context, tx pgx.Tx, r *Resource, ifVersion int64, rec audit.Record) (*Resource, audit.Record, error) {
	got, err := pgGetResource(ctx, tx, r.Tenant, r.Kind, r.Name, true)
	switch {
	case errors.Is(err, ErrNotFound):
		if ifVersion != 0 {
			return nil, audit.Record{}, fmt.Errorf("%s %s: not registered: %w", r.Kind, r.Name, ErrConflict)
		}
		if err := s.storeKeyFree(ctx, tx, r); err != nil {
			return nil, audit.Record{}, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO resources (`+resourceCols+`) VALUES ($1, $2, $3, $4, $5, $6, 1, now(), now())`,
			r.Tenant, r.Kind, r.Name, string(r.Doc), r.Hash, r.StoreKey); err != nil {
			return nil, audit.Record{}, registerErr(r, err)
		}
	case err != nil:
		return nil, audit.Record{}, err
	default:
		if got.Version != ifVersion {
			return nil, audit.Record{}, fmt.Errorf("%s %s: registered version is %d, not %d: %w", r.Kind, r.Name, got.Version, ifVersion, ErrConflict)
		}
		if err := s.storeKeyFree(ctx, tx, r); err != nil {
			return nil, audit.Record{}, err
		}
		if _, err := tx.Exec(ctx, `UPDATE resources SET doc = $1, hash = $2, store_key = $3, version = version + 1, updated_at = now()
			WHERE tenant = $4 AND kind = $5 AND name = $6`, string(r.Doc), r.Hash, r.StoreKey, r.Tenant, r.Kind, r.Name); err != nil {
			return nil, audit.Record{}, registerErr(r, err)
		}
	}
	if rec.Tenant == "" {
		rec.Tenant = r.Tenant
	}
	out, err := pgGetResource(ctx, tx, r.Tenant, r.Kind, r.Name, false)
	return out, rec, err
}

// TenantUID implements Store. Allocation takes a table lock so that two
// replicas admitting two new tenants at once give them different ids.
func (s *Postgres) TenantUID(ctx context.Context, tenant string, base int) (int, error) {
	if err := fieldText("tenant", tenant); err != nil {
		return 0, err
	}
	var uid, holders int64
	err := s.pool.QueryRow(ctx, tenantUIDQuery+`$1`, tenant).Scan(&uid, &holders)
	if err == nil {
		return tenantUIDCheck(tenant, uid, holders, base)
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, err
	}
	var out int
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE tenants IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, tenantUIDQuery+`$1`, tenant).Scan(&uid, &holders); err == nil {
			out, err = tenantUIDCheck(tenant, uid, holders, base)
			return err
		}
		var max *int64
		if err := tx.QueryRow(ctx, `SELECT MAX(uid) FROM tenants`).Scan(&max); err != nil {
			return err
		}
		var err error
		if out, err = nextTenantUID(max, base); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO tenants (name, uid, created_at) VALUES ($1, $2, now())`, tenant, out)
		return err
	})
	if err != nil {
		return 0, err
	}
	return out, nil
}
