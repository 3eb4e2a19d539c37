package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// RekeyKey computes a resource's store key from its document (Resource.Doc).
type RekeyKey func(doc []byte) (string, error)

// RekeyRow is a resource that RekeyResources left as it was: its tenant,
// its name and the store key it keeps.
type RekeyRow struct {
	Tenant, Name, Key string
}

// RekeyClash is rows that would all hold Key once re-keyed: registered
// under different spellings of one store before the key became canonical.
// Each keeps its key: the store cannot tell which registered the data
// first, and an operator decides.
type RekeyClash struct {
	Key  string
	Rows []RekeyRow
}

// RekeyUnread is a row whose document gave no key: it keeps its own.
type RekeyUnread struct {
	RekeyRow
	Err string
}

// maxRekeyReported bounds each list of a RekeyReport; the counts are
// whole.
const maxRekeyReported = 100

// RekeyReport is what RekeyResources did.
type RekeyReport struct {
	// Skipped is true where the kind's rows were re-keyed to format
	// before: none was read.
	Skipped bool
	// Rows is how many rows of the kind were read; Changed how many of
	// them now hold a new key.
	Rows, Changed int
	// Clashes and Unread are the rows left with their keys (at most
	// maxRekeyReported of each; ClashCount and UnreadCount count all).
	Clashes                 []RekeyClash
	Unread                  []RekeyUnread
	ClashCount, UnreadCount int
	// clashKeys is every clash's key, reserved until a re-key finds no
	// clash there.
	clashKeys []string
}

// rekeyRow is one row read by RekeyResources.
type rekeyRow struct {
	tenant, name, old, new string
}

// rekeyReader reads the rows RekeyResources plans from, in one
// transaction: each row of the kind (streamed, to fn) and the rows that
// hold a key now (by the unique index, of any kind).
type rekeyReader struct {
	each    func(fn func(tenant, name, key string, doc []byte, unread error)) error
	holders func(key string) ([]string, error) // "tenant\x00kind\x00name"
}

func rekeyID(tenant, kind, name string) string { return tenant + "\x00" + kind + "\x00" + name }

// planRekey reads every row of kind and returns the rows to move to their
// new keys, with the report. A row moves only when no row left where it
// is (unchanged, in a clash, unread, or of another kind) holds its new
// key and no other row would move to it too; a row kept where it is can
// hold another row's new key in turn, so the check repeats until nothing
// more is kept (in memory: each new key's holders are read once).
func planRekey(kind string, key RekeyKey, rd rekeyReader) ([]rekeyRow, RekeyReport, error) {
	var rep RekeyReport
	var moving []rekeyRow
	unread := func(tenant, name, k, why string) {
		rep.UnreadCount++
		if len(rep.Unread) < maxRekeyReported {
			rep.Unread = append(rep.Unread, RekeyUnread{RekeyRow{tenant, name, k}, why})
		}
	}
	err := rd.each(func(tenant, name, old string, doc []byte, rerr error) {
		rep.Rows++
		if rerr != nil {
			unread(tenant, name, old, rerr.Error())
			return
		}
		nk, err := key(doc)
		if err == nil {
			err = fieldText("resource store key", nk)
		}
		if err != nil {
			unread(tenant, name, old, err.Error())
			return
		}
		if nk != old {
			moving = append(moving, rekeyRow{tenant, name, old, nk})
		}
	})
	if err != nil {
		return nil, rep, err
	}
	clash := func(k string, rows ...RekeyRow) {
		rep.ClashCount++
		rep.clashKeys = append(rep.clashKeys, k)
		if len(rep.Clashes) < maxRekeyReported {
			rep.Clashes = append(rep.Clashes, RekeyClash{Key: k, Rows: rows})
		}
	}
	// Rows that would move to one key together: none moves.
	byKey := map[string][]int{}
	for i, r := range moving {
		if r.new != "" {
			byKey[r.new] = append(byKey[r.new], i)
		}
	}
	stay := make([]bool, len(moving))
	for k, is := range byKey {
		if len(is) < 2 {
			continue
		}
		var rows []RekeyRow
		for _, i := range is {
			stay[i] = true
			rows = append(rows, RekeyRow{moving[i].tenant, moving[i].name, moving[i].old})
		}
		clash(k, rows...)
	}
	// The rows that hold each new key now.
	movingAt := map[string]int{}
	for i, r := range moving {
		movingAt[rekeyID(r.tenant, kind, r.name)] = i
	}
	holders := make([][]string, len(moving))
	for i, r := range moving {
		if stay[i] || r.new == "" {
			continue
		}
		hs, err := rd.holders(r.new)
		if err != nil {
			return nil, rep, err
		}
		holders[i] = hs
	}
	for changed := true; changed; {
		changed = false
		for i, r := range moving {
			if stay[i] {
				continue
			}
			for _, h := range holders[i] {
				j, moves := movingAt[h]
				if moves && (j == i || !stay[j]) {
					continue // itself, or a row that moves away
				}
				stay[i], changed = true, true
				ht, hn := h, ""
				if moves {
					ht, hn = moving[j].tenant, moving[j].name
				} else if t, rest, ok := strings.Cut(h, "\x00"); ok {
					_, n, _ := strings.Cut(rest, "\x00")
					ht, hn = t, n
				}
				clash(r.new, RekeyRow{ht, hn, r.new}, RekeyRow{r.tenant, r.name, r.old})
				break
			}
		}
	}
	var out []rekeyRow
	for i, r := range moving {
		if !stay[i] {
			out = append(out, r)
		}
	}
	rep.Changed = len(out)
	return out, rep, nil
}

// rekeyDone reports whether a re-key left every row under the key its
// document gives: only then is its format recorded. A clash or a row
// left unread is re-keyed (and reported again) at each start until an
// operator settles it.
func rekeyDone(rep RekeyReport) bool { return rep.ClashCount == 0 && rep.UnreadCount == 0 }

// rekeyWriter writes a re-key's plan in the transaction that read it,
// on either database: the statements that differ between the two, and
// the rest written with ph.
type rekeyWriter struct {
	// ph writes the nth placeholder (? for SQLite, $n for PostgreSQL).
	ph func(n int) string
	// record records kind re-keyed to format (args kind, format);
	// reserve reserves a clash's key for kind (args kind, key).
	record, reserve string
	// moved is called before the first row moves.
	moved func()
	// exec runs a statement and returns the rows it wrote.
	exec func(q string, args ...any) (int64, error)
}

// writeRekey writes what planRekey planned: the format when the re-key
// left every row where its document puts it (rekeyDone), kind's clash
// keys as rep holds them, and the moving rows' new keys, through the
// empty key, which the unique index leaves out (a row may move to a key
// another moving row leaves). rep.Changed counts the rows moved.
func writeRekey(kind, format string, moving []rekeyRow, rep *RekeyReport, w rekeyWriter) error {
	if rekeyDone(*rep) {
		if _, err := w.exec(w.record, kind, format); err != nil {
			return err
		}
	}
	if _, err := w.exec(`DELETE FROM rekey_clashes WHERE kind = `+w.ph(1), kind); err != nil {
		return err
	}
	for _, k := range rep.clashKeys {
		if _, err := w.exec(w.reserve, kind, k); err != nil {
			return err
		}
	}
	if len(moving) == 0 {
		return nil
	}
	w.moved()
	leave := `UPDATE resources SET store_key = '' WHERE tenant = ` + w.ph(1) + ` AND kind = ` + w.ph(2) + ` AND name = ` + w.ph(3) + ` AND store_key = ` + w.ph(4)
	for _, m := range moving {
		if _, err := w.exec(leave, m.tenant, kind, m.name, m.old); err != nil {
			return err
		}
	}
	move := `UPDATE resources SET store_key = ` + w.ph(1) + ` WHERE tenant = ` + w.ph(2) + ` AND kind = ` + w.ph(3) + ` AND name = ` + w.ph(4) + ` AND store_key = ''`
	rep.Changed = 0
	for _, m := range moving {
		n, err := w.exec(move, m.new, m.tenant, kind, m.name)
		if err != nil {
			return err
		}
		rep.Changed += int(n)
	}
	return nil
}

// RekeyResources recomputes the store key of each resource of kind from
// its document with key, in one transaction, and writes the keys that
// changed (the document, hash and version stay). Rows that would share a
// key keep theirs and are reported, as are rows whose document gives no
// key: the store never picks an owner. A clash's key is reserved: no
// registration takes it (the rows of the clash keep their keys) until a
// re-key finds no clash there. Run again, it changes nothing.
//
// format names the key format key computes; the store records it with a
// re-key that left no clash and no unread row, and a later call with the
// same format reads no row (Skipped):
// each start would otherwise read every row of the kind (and, on
// PostgreSQL, hold every server's registrations for it), and a key that
// reads the server's surroundings (a relative file URL's working
// directory) would move rows at each start. A caller changes format
// whenever key's result for a document may change.
func (s *SQLite) RekeyResources(ctx context.Context, kind, format string, key RekeyKey) (RekeyReport, error) {
	if err := fieldText("re-key kind", kind, "re-key format", format); err != nil {
		return RekeyReport{}, err
	}
	var last sql.NullString
	if err := s.db.QueryRowContext(ctx, `SELECT format FROM rekeys WHERE kind = ?`, kind).Scan(&last); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return RekeyReport{}, fmt.Errorf("re-key %s resources: %w", kind, err)
	}
	if last.Valid && last.String == format {
		return RekeyReport{Skipped: true}, nil
	}
	var rep RekeyReport
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rd := rekeyReader{
			each: func(fn func(tenant, name, key string, doc []byte, unread error)) error {
				rows, err := tx.QueryContext(ctx, `SELECT tenant, name, doc, store_key FROM resources WHERE kind = ?`, kind)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var tenant, name, doc, k auditField
					if err := rows.Scan(&tenant, &name, &doc, &k); err != nil {
						return err
					}
					// A column stored as bytes is left as it is: the
					// update by text would not find the row.
					rerr := rowText("resources", fmt.Sprintf("(tenant %q, kind %q, name %q)", tenant.s, kind, name.s),
						textCol{name: "tenant", f: &tenant}, textCol{name: "name", f: &name}, textCol{name: "doc", f: &doc}, textCol{name: "store_key", f: &k})
					fn(tenant.s, name.s, k.s, []byte(doc.s), rerr)
				}
				return rows.Err()
			},
			holders: func(k string) ([]string, error) {
				rows, err := tx.QueryContext(ctx, `SELECT tenant, kind, name, typeof(tenant) = 'blob' OR typeof(kind) = 'blob' OR typeof(name) = 'blob' FROM resources
					WHERE store_key IN (?1, CAST(?1 AS BLOB)) AND store_key <> ''`, k)
				if err != nil {
					return nil, err
				}
				defer rows.Close()
				var out []string
				for rows.Next() {
					var t, kd, n auditField
					var blob bool
					if err := rows.Scan(&t, &kd, &n, &blob); err != nil {
						return nil, err
					}
					id := rekeyID(t.s, kd.s, n.s)
					if blob {
						id += "\x00blob" // never a row that moves
					}
					out = append(out, id)
				}
				return out, rows.Err()
			},
		}
		moving, r, err := planRekey(kind, key, rd)
		rep = r
		if err != nil {
			return err
		}
		return writeRekey(kind, format, moving, &rep, rekeyWriter{
			ph:      func(int) string { return "?" },
			record:  `INSERT INTO rekeys (kind, format) VALUES (?1, ?2) ON CONFLICT (kind) DO UPDATE SET format = ?2`,
			reserve: `INSERT INTO rekey_clashes (kind, store_key) VALUES (?, ?) ON CONFLICT DO NOTHING`,
			moved:   s.res.changed,
			exec: func(q string, args ...any) (int64, error) {
				res, err := tx.ExecContext(ctx, q, args...)
				if err != nil {
					return 0, err
				}
				return res.RowsAffected()
			},
		})
	})
	if err != nil {
		return RekeyReport{}, fmt.Errorf("re-key %s resources: %w", kind, err)
	}
	return rep, nil
}

// RekeyResources implements SQLite.RekeyResources on PostgreSQL. The
// table is locked against writes for the transaction: a registration
// between the read and the write would take a key the plan thought free.
func (s *Postgres) RekeyResources(ctx context.Context, kind, format string, key RekeyKey) (RekeyReport, error) {
	if err := fieldText("re-key kind", kind, "re-key format", format); err != nil {
		return RekeyReport{}, err
	}
	var last string
	switch err := s.pool.QueryRow(ctx, `SELECT format FROM rekeys WHERE kind = $1`, kind).Scan(&last); {
	case err == nil && last == format:
		return RekeyReport{Skipped: true}, nil
	case err != nil && !errors.Is(err, pgx.ErrNoRows):
		return RekeyReport{}, fmt.Errorf("re-key %s resources: %w", kind, err)
	}
	var rep RekeyReport
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE resources IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		// Another server may have re-keyed since the read above; the
		// lock orders it before this one.
		var last string
		switch err := tx.QueryRow(ctx, `SELECT format FROM rekeys WHERE kind = $1 FOR UPDATE`, kind).Scan(&last); {
		case err == nil && last == format:
			rep.Skipped = true
			return nil
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		rd := rekeyReader{
			each: func(fn func(tenant, name, key string, doc []byte, unread error)) error {
				rows, err := tx.Query(ctx, `SELECT tenant, name, doc, store_key FROM resources WHERE kind = $1`, kind)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var tenant, name, doc, k string
					if err := rows.Scan(&tenant, &name, &doc, &k); err != nil {
						return err
					}
					fn(tenant, name, k, []byte(doc), nil)
				}
				return rows.Err()
			},
			holders: func(k string) ([]string, error) {
				rows, err := tx.Query(ctx, `SELECT tenant, kind, name FROM resources WHERE meridian_store_key_digest(store_key) = meridian_store_key_digest($1)
					AND store_key = $1 AND store_key <> ''`, k)
				if err != nil {
					return nil, err
				}
				defer rows.Close()
				var out []string
				for rows.Next() {
					var t, kd, n string
					if err := rows.Scan(&t, &kd, &n); err != nil {
						return nil, err
					}
					out = append(out, rekeyID(t, kd, n))
				}
				return out, rows.Err()
			},
		}
		moving, r, err := planRekey(kind, key, rd)
		rep = r
		if err != nil {
			return err
		}
		return writeRekey(kind, format, moving, &rep, rekeyWriter{
			ph:      func(n int) string { return "$" + strconv.Itoa(n) },
			record:  `INSERT INTO rekeys (kind, format) VALUES ($1, $2) ON CONFLICT (kind) DO UPDATE SET format = EXCLUDED.format`,
			reserve: `INSERT INTO rekey_clashes (kind, store_key) VALUES ($1, $2)`,
			moved:   func() {},
			exec: func(q string, args ...any) (int64, error) {
				tag, err := tx.Exec(ctx, q, args...)
				return tag.RowsAffected(), err
			},
		})
	})
	if err != nil {
		return RekeyReport{}, fmt.Errorf("re-key %s resources: %w", kind, err)
	}
	return rep, nil
}
