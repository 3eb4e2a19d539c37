package store

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"
)

// The store's migrations are run down as well as up: an operator going
// back to an older Meridian runs the newer one's down migrations. Each is
// checked here: from the latest version, with rows seeded in every table,
// down one migration at a time to none, then up again one at a time. At
// each version the schema must be the one the up migrations made at that
// version, and every seeded row must still be there with the values of the
// columns that version has (a down migration drops what its up migration
// added, nothing else). Then, seeded again, down to the first version and
// up again to the latest: the rows each up migration meets must come out
// of it with the values of the columns kept all the way down, and the
// generated columns (computed again by the final up) as seedChecks says.
func TestMigrationsDownSQLite(t *testing.T) {
	_, db := sqliteMigratedTo(t, 0)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectSQLite3, db, mustSub(migrations, "migrations"))
	if err != nil {
		t.Fatal(err)
	}
	checkMigrationsDown(t, p, db, sqliteSchema, sqliteSeed, seedChecks)
}

// TestPostgresMigrationsDown is TestMigrationsDownSQLite on PostgreSQL.
func TestPostgresMigrationsDown(t *testing.T) {
	_, db, p, done := postgresMigratedTo(t, 0)
	defer done()
	checkMigrationsDown(t, p, db, postgresSchema, postgresSeed, seedChecks, postgresFilled...)
}

// seedCheck is a query over the seeded rows and the lines it must answer
// (queryLines' columns joined by " | "), independent of what the
// migrations compute: a generated column compared only with itself, read
// before and after, would pass whatever its expression says.
type seedCheck struct {
	query string
	want  []string
}

// seedChecks hold for sqliteSeed and postgresSeed alike, at the latest
// version and after the final up of the round trip (checkRoundTrip).
var seedChecks = []seedCheck{{
	// hold_key: a held run's keyDataset, '*' for a held run whose data
	// is not an object, NULL for a run that is not held.
	query: `SELECT id, hold_key FROM runs ORDER BY id`,
	want:  []string{"r1 | d1", "r2 | NULL", "r3 | *"},
}}

// dbSchema is what a database's schema is made of: each table's columns
// in order (to read its rows by, generated ones too), and a line for each
// thing the schema holds (column, constraint, index, trigger, function,
// ...), sorted. generated names each table's generated columns, and
// nullable the columns (not generated) that may hold NULL.
type dbSchema struct {
	columns   map[string][]string
	generated map[string][]string
	nullable  map[string][]string
	lines     []string
}

// checkMigrationsDown runs p's migrations up one at a time, recording the
// schema at each version, seeds a row in each table at the latest, then
// runs them down to none and up again, one at a time, comparing the
// schema and the seeded rows at each version.
func checkMigrationsDown(t *testing.T, p *goose.Provider, db *sql.DB, schemaOf func(*testing.T, *sql.DB) dbSchema, seed []string, checks []seedCheck, filled ...string) {
	t.Helper()
	ctx := context.Background()
	versions := []int64{0}
	for _, s := range p.ListSources() {
		versions = append(versions, s.Version)
	}
	up := map[int64]dbSchema{0: schemaOf(t, db)}
	for _, v := range versions[1:] {
		if _, err := p.UpByOne(ctx); err != nil {
			t.Fatalf("up to %d: %v", v, err)
		}
		up[v] = schemaOf(t, db)
	}
	latest := versions[len(versions)-1]
	seeded := seedRows(t, db, seed, up[latest], checks, filled)

	for i := len(versions) - 1; i > 0; i-- {
		from, to := versions[i], versions[i-1]
		if _, err := p.Down(ctx); err != nil {
			t.Fatalf("down from %d to %d: %v", from, to, err)
		}
		got := schemaOf(t, db)
		compareSchema(t, fmt.Sprintf("down from %d to %d", from, to), up[to], got)
		compareRows(t, fmt.Sprintf("down from %d to %d", from, to), seeded, tableRows(t, db, got))
	}
	for _, v := range versions[1:] {
		if _, err := p.UpByOne(ctx); err != nil {
			t.Fatalf("up again to %d: %v", v, err)
		}
		compareSchema(t, fmt.Sprintf("up again to %d", v), up[v], schemaOf(t, db))
	}
	if len(versions) > 2 {
		checkRoundTrip(t, p, db, versions, up, seedRows(t, db, seed, up[latest], checks, filled), checks)
	}
}

// seedRows runs seed at the latest version (s its schema) and returns
// every row the tables then hold. Each table must have a row, each column
// that may hold NULL a NULL in one (but those filled names, "table.column",
// which a trigger fills on every insert), and checks must hold.
func seedRows(t *testing.T, db *sql.DB, seed []string, s dbSchema, checks []seedCheck, filled []string) map[string][]map[string]string {
	t.Helper()
	for _, q := range seed {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("seed: %s: %v", q, err)
		}
	}
	seeded := tableRows(t, db, s)
	for table, rows := range seeded {
		if len(rows) == 0 {
			t.Errorf("table %s has no seeded row: add one to the test's seed", table)
		}
		for _, c := range s.nullable[table] {
			if !slices.Contains(filled, table+"."+c) && !slices.ContainsFunc(rows, func(r map[string]string) bool { return r[c] == nullText }) {
				t.Errorf("column %s.%s may hold NULL, and no seeded row has one: add one to the test's seed", table, c)
			}
		}
	}
	checkSeed(t, db, "seeded at the latest version", checks)
	return seeded
}

// checkSeed reports each check whose query does not answer its lines.
func checkSeed(t *testing.T, db *sql.DB, step string, checks []seedCheck) {
	t.Helper()
	for _, c := range checks {
		var got []string
		for _, l := range queryLines(t, db, c.query) {
			got = append(got, strings.Join(l, " | "))
		}
		if c.want != nil && !slices.Equal(got, c.want) {
			t.Errorf("%s: %s answers\n%s\nwant\n%s", step, c.query, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
}

// checkRoundTrip runs the migrations down from the latest version, with
// seeded's rows in the tables, to the first version, and up again one at a
// time, comparing after each up the rows with seeded's, as far as the
// columns kept at every version (what no down dropped); after the final
// up, the generated columns too, which it computes again from them, and
// checks.
func checkRoundTrip(t *testing.T, p *goose.Provider, db *sql.DB, versions []int64, up map[int64]dbSchema, seeded map[string][]map[string]string, checks []seedCheck) {
	t.Helper()
	ctx := context.Background()
	latest := versions[len(versions)-1]
	kept := map[string][]string{}
	for table, cols := range up[latest].columns {
		for _, c := range cols {
			if slices.Contains(up[latest].generated[table], c) {
				continue
			}
			all := true
			for _, v := range versions[1:] {
				all = all && slices.Contains(up[v].columns[table], c)
			}
			if all {
				kept[table] = append(kept[table], c)
			}
		}
	}
	for i := len(versions) - 1; i > 1; i-- {
		if _, err := p.Down(ctx); err != nil {
			t.Fatalf("down again from %d to %d: %v", versions[i], versions[i-1], err)
		}
	}
	for _, v := range versions[2:] {
		if _, err := p.UpByOne(ctx); err != nil {
			t.Fatalf("up after the round trip to %d: %v", v, err)
		}
		step := fmt.Sprintf("up after the round trip to %d", v)
		got := tableRows(t, db, up[v])
		for table, cols := range kept {
			if v == latest {
				cols = append(slices.Clone(cols), up[latest].generated[table]...)
			}
			compareKept(t, step, table, seeded[table], got[table], cols)
		}
	}
	checkSeed(t, db, fmt.Sprintf("up after the round trip to %d", latest), checks)
}

// compareKept reports table's rows got that are not want's, compared on
// cols.
func compareKept(t *testing.T, step, table string, want, got []map[string]string, cols []string) {
	t.Helper()
	w, g := projectRows(want, slices.Clone(cols)), projectRows(got, slices.Clone(cols))
	if !slices.Equal(w, g) {
		t.Errorf("%s: %s holds\n%s\nwant\n%s", step, table, strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
}

// compareSchema reports the lines of want missing from got, and those of
// got that want has not.
func compareSchema(t *testing.T, step string, want, got dbSchema) {
	t.Helper()
	for _, l := range want.lines {
		if !slices.Contains(got.lines, l) {
			t.Errorf("%s: schema lacks %s", step, l)
		}
	}
	for _, l := range got.lines {
		if !slices.Contains(want.lines, l) {
			t.Errorf("%s: schema has %s, which the up migrations did not make at this version", step, l)
		}
	}
}

// compareRows reports each table of got whose rows are not the seeded
// ones, as far as the columns it still has.
func compareRows(t *testing.T, step string, seeded, got map[string][]map[string]string) {
	t.Helper()
	for table, rows := range got {
		want, ok := seeded[table]
		if !ok {
			continue
		}
		var keep []string
		if len(rows) > 0 {
			for c := range rows[0] {
				keep = append(keep, c)
			}
		} else if len(want) > 0 {
			t.Errorf("%s: the seeded rows of %s are gone", step, table)
			continue
		}
		w, g := projectRows(want, keep), projectRows(rows, keep)
		if !slices.Equal(w, g) {
			t.Errorf("%s: %s holds\n%s\nwant\n%s", step, table, strings.Join(g, "\n"), strings.Join(w, "\n"))
		}
	}
}

// projectRows is rows as sorted lines of their columns keep.
func projectRows(rows []map[string]string, keep []string) []string {
	slices.Sort(keep)
	var out []string
	for _, r := range rows {
		var b strings.Builder
		for _, c := range keep {
			v, ok := r[c]
			if !ok {
				v = "<no column>"
			}
			fmt.Fprintf(&b, "%s=%q ", c, v)
		}
		out = append(out, b.String())
	}
	slices.Sort(out)
	return out
}

// tableRows is every row of each table of s, column by column, as text.
func tableRows(t *testing.T, db *sql.DB, s dbSchema) map[string][]map[string]string {
	t.Helper()
	out := map[string][]map[string]string{}
	for table, cols := range s.columns {
		quoted := make([]string, len(cols))
		for i, c := range cols {
			quoted[i] = `"` + c + `"` // time and key are keywords
		}
		rows, err := db.Query("SELECT " + strings.Join(quoted, ", ") + ` FROM "` + table + `"`)
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		out[table] = []map[string]string{}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("read %s: %v", table, err)
			}
			row := map[string]string{}
			for i, c := range cols {
				if b, ok := vals[i].([]byte); ok {
					vals[i] = string(b)
				}
				row[c] = fmt.Sprint(vals[i])
				if vals[i] == nil {
					row[c] = nullText
				}
			}
			out[table] = append(out[table], row)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		rows.Close()
	}
	return out
}

// nullText is a NULL as tableRows writes it.
const nullText = "<NULL>"

// queryLines is each row of query's answer as one line, its columns
// joined by " | ".
func queryLines(t *testing.T, db *sql.DB, query string) [][]string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		line := make([]string, len(cols))
		for i, v := range vals {
			line[i] = "NULL"
			if v.Valid {
				line[i] = v.String
			}
		}
		out = append(out, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}

// spaces matches a run of white space, and the space around punctuation,
// that SQLite's ALTER TABLE may write otherwise than the CREATE did.
var (
	spaces     = regexp.MustCompile(`\s+`)
	punctSpace = regexp.MustCompile(` ?([(),]) ?`)
)

// normalSQL is a schema object's SQL text with its white space and
// quoting made even, so that texts SQLite rewrote compare equal when they
// say the same.
func normalSQL(s string) string {
	s = strings.ReplaceAll(s, `"`, "")
	return strings.TrimSpace(punctSpace.ReplaceAllString(spaces.ReplaceAllString(s, " "), "$1"))
}

// sqliteSchema is an SQLite database's schema: each table's columns (all
// of them, generated ones too) and foreign keys, and the SQL of each
// table, index and trigger.
func sqliteSchema(t *testing.T, db *sql.DB) dbSchema {
	t.Helper()
	s := dbSchema{columns: map[string][]string{}, generated: map[string][]string{}, nullable: map[string][]string{}}
	for _, o := range queryLines(t, db, `SELECT type, name, tbl_name, sql FROM sqlite_master
		WHERE name NOT LIKE 'sqlite_%' AND tbl_name <> 'goose_db_version'`) {
		s.lines = append(s.lines, fmt.Sprintf("%s %s on %s: %s", o[0], o[1], o[2], normalSQL(o[3])))
		if o[0] != "table" {
			continue
		}
		// table_xinfo has the generated columns (hidden 2: virtual, 3:
		// stored), which table_info leaves out: their values are read
		// and compared as the others.
		for _, c := range queryLines(t, db, `SELECT name, hidden, "notnull" = 0 AND pk = 0 FROM pragma_table_xinfo('`+o[1]+`') WHERE hidden <> 1 ORDER BY cid`) {
			s.columns[o[1]] = append(s.columns[o[1]], c[0])
			switch {
			case c[1] != "0":
				s.generated[o[1]] = append(s.generated[o[1]], c[0])
			case c[2] == "1":
				s.nullable[o[1]] = append(s.nullable[o[1]], c[0])
			}
		}
		for _, c := range queryLines(t, db, `SELECT name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo('`+o[1]+`')`) {
			s.lines = append(s.lines, fmt.Sprintf("column %s.%s: %s", o[1], c[0], strings.Join(c[1:], " | ")))
		}
		for _, c := range queryLines(t, db, `SELECT "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list('`+o[1]+`')`) {
			s.lines = append(s.lines, fmt.Sprintf("foreign key %s: %s", o[1], strings.Join(c, " | ")))
		}
	}
	slices.Sort(s.lines)
	return s
}

// postgresSchema is a PostgreSQL database's schema (its current schema's):
// each table's columns, constraints, indexes, triggers, functions and
// extended statistics, as the server's own functions write them.
func postgresSchema(t *testing.T, db *sql.DB) dbSchema {
	t.Helper()
	s := dbSchema{columns: map[string][]string{}, generated: map[string][]string{}, nullable: map[string][]string{}}
	for _, c := range queryLines(t, db, `SELECT table_name::text, column_name::text, data_type::text, is_nullable::text,
			column_default::text, is_generated::text, generation_expression::text
		FROM information_schema.columns WHERE table_schema = current_schema() AND table_name <> 'goose_db_version'
		ORDER BY table_name, ordinal_position`) {
		s.columns[c[0]] = append(s.columns[c[0]], c[1])
		switch {
		case c[5] == "ALWAYS":
			s.generated[c[0]] = append(s.generated[c[0]], c[1])
		case c[3] == "YES":
			s.nullable[c[0]] = append(s.nullable[c[0]], c[1])
		}
		s.lines = append(s.lines, fmt.Sprintf("column %s.%s: %s", c[0], c[1], strings.Join(c[2:], " | ")))
	}
	for _, q := range []string{
		`SELECT 'constraint', conrelid::regclass::text, conname::text, pg_get_constraintdef(oid) FROM pg_constraint
			WHERE connamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) AND conrelid::regclass::text <> 'goose_db_version'`,
		`SELECT 'index', tablename::text, indexname::text, indexdef FROM pg_indexes
			WHERE schemaname = current_schema() AND tablename <> 'goose_db_version'`,
		`SELECT 'trigger', tgrelid::regclass::text, tgname::text, pg_get_triggerdef(oid) FROM pg_trigger
			WHERE NOT tgisinternal AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()))`,
		`SELECT 'function', proname::text, pg_get_function_identity_arguments(oid), pg_get_functiondef(oid) FROM pg_proc
			WHERE pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())`,
		`SELECT 'statistics', stxrelid::regclass::text, stxname::text, pg_get_statisticsobjdef(oid) FROM pg_statistic_ext
			WHERE stxnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())`,
	} {
		for _, l := range queryLines(t, db, q) {
			s.lines = append(s.lines, fmt.Sprintf("%s %s %s: %s", l[0], l[1], l[2], l[3]))
		}
	}
	slices.Sort(s.lines)
	return s
}

// sqliteSeed is rows for each table of the latest SQLite schema that the
// migrations leave empty (run_order has its row from migration 8): a held
// run and others (seedChecks), a NULL in each column that allows one.
var sqliteSeed = []string{
	`INSERT INTO runs (id, tenant, job, state, site, attempt, handle, data, version, created_at, updated_at, hold_site, hold_pool, hold_accelerator, hold_count)
		VALUES ('r1', 't1', 'j1', 'held', 's1', 2, 'h1', '{"hold":{"keyDataset":"d1"}}', 3, '2026-01-01T00:00:00.000001Z', '2026-01-02T00:00:00.000001Z', 's1', 1, 'a100', 4)`,
	`INSERT INTO runs (id, tenant, job, state, site, attempt, handle, data, version, created_at, updated_at, hold_site, hold_pool, hold_accelerator, hold_count)
		VALUES ('r2', 't1', 'j2', 'running', 's2', 1, 'h2', '{"hold":{"keyDataset":"d2"}}', 5, '2026-01-03T00:00:00Z', '2026-01-04T00:00:00Z', 's2', 0, 'h100', 8)`,
	`INSERT INTO runs (id, tenant, job, state, data, version, created_at, updated_at) VALUES ('r3', 't2', 'j3', 'held', '[]', 1, '2026-01-05T00:00:00Z', '2026-01-05T00:00:00Z')`,
	`INSERT INTO events (run_id, seq, time, kind, from_state, to_state, reason, data) VALUES ('r1', 1, '2026-01-01T00:00:00Z', 'created', '', 'held', 'why', '{}')`,
	`INSERT INTO idempotency_keys (tenant, key, run_id, created_at) VALUES ('t1', 'k1', 'r1', '2026-01-01T00:00:00Z')`,
	`INSERT INTO audit (seq, time, kind, run_id, payload, prev_hash, hash, tenant, version) VALUES (1, '2026-01-01T00:00:00Z', 'plan', 'r1', '{}', 'p0', 'h1', 't1', 2)`,
	`INSERT INTO resources (tenant, kind, name, doc, hash, store_key, version, created_at, updated_at) VALUES ('t1', 'Dataset', 'd1', '{}', 'h', 's3://b/d1', 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`,
	`INSERT INTO tenants (name, uid, created_at) VALUES ('t1', 20001, '2026-01-01T00:00:00Z')`,
	`INSERT INTO rule_revisions (rev, hash, who, reason, created_at, listing, files) VALUES (1, 'h', 'admin', 'first', '2026-01-01T00:00:00Z', '[{"name":"a.yaml","bytes":2}]', '{"a.yaml":"x:"}')`,
	`INSERT INTO law_checks (id, rev, day, checked_at) VALUES (1, 1, '2026-01-01', '2026-01-01T00:00:00Z')`,
	`INSERT INTO leases (name, holder, epoch, expires_at) VALUES ('controller', 'host', 7, '2026-01-01T00:00:00Z')`,
	`INSERT INTO heartbeats (run_id, attempt, at) VALUES ('r1', 2, '2026-01-01T00:00:00Z')`,
	`INSERT INTO tokens (id, tenant, hash, admin, note, created_at, revoked_at) VALUES ('tok1', 't1', 'th', 1, 'n', '2026-01-01T00:00:00Z', '2026-01-03T00:00:00Z')`,
	`INSERT INTO tokens (id, tenant, hash, admin, note, created_at, revoked_at) VALUES ('tok2', 't2', 'th2', 0, '', '2026-01-02T00:00:00Z', NULL)`,
	`INSERT INTO rekeys (kind, format) VALUES ('Dataset', 'f2')`,
	`INSERT INTO rekey_clashes (kind, store_key) VALUES ('Dataset', 's3://b/d2')`,
}

// postgresFilled is the columns of the latest PostgreSQL schema that allow
// NULL and that a trigger fills on every insert: whether a run's data is
// an object (migration 10).
var postgresFilled = []string{"runs.data_object"}

// postgresSeed is sqliteSeed on PostgreSQL (audit_head and run_order have
// their rows from migrations 1 and 8).
var postgresSeed = []string{
	`INSERT INTO runs (id, tenant, job, state, site, attempt, handle, data, version, created_at, updated_at, hold_site, hold_pool, hold_accelerator, hold_count)
		VALUES ('r1', 't1', 'j1', 'held', 's1', 2, 'h1', '{"hold":{"keyDataset":"d1"}}', 3, '2026-01-01 00:00:00.000001+00', '2026-01-02 00:00:00.000001+00', 's1', 1, 'a100', 4)`,
	`INSERT INTO runs (id, tenant, job, state, site, attempt, handle, data, version, created_at, updated_at, hold_site, hold_pool, hold_accelerator, hold_count)
		VALUES ('r2', 't1', 'j2', 'running', 's2', 1, 'h2', '{"hold":{"keyDataset":"d2"}}', 5, '2026-01-03 00:00:00+00', '2026-01-04 00:00:00+00', 's2', 0, 'h100', 8)`,
	`INSERT INTO runs (id, tenant, job, state, data, version, created_at, updated_at) VALUES ('r3', 't2', 'j3', 'held', '[]', 1, '2026-01-05 00:00:00+00', '2026-01-05 00:00:00+00')`,
	`INSERT INTO events (run_id, seq, time, kind, from_state, to_state, reason, data) VALUES ('r1', 1, '2026-01-01 00:00:00+00', 'created', '', 'held', 'why', '{}')`,
	`INSERT INTO idempotency_keys (tenant, key, run_id, created_at) VALUES ('t1', 'k1', 'r1', '2026-01-01 00:00:00+00')`,
	`INSERT INTO audit (seq, time, kind, run_id, payload, prev_hash, hash, tenant, version) VALUES (1, '2026-01-01T00:00:00Z', 'plan', 'r1', '{}', 'p0', 'h1', 't1', 2)`,
	`INSERT INTO resources (tenant, kind, name, doc, hash, store_key, version, created_at, updated_at) VALUES ('t1', 'Dataset', 'd1', '{}', 'h', 's3://b/d1', 1, '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00')`,
	`INSERT INTO tenants (name, uid, created_at) VALUES ('t1', 20001, '2026-01-01 00:00:00+00')`,
	`INSERT INTO rule_revisions (rev, hash, files, who, reason, created_at, listing) VALUES (1, 'h', '{"a.yaml":"x:"}', 'admin', 'first', '2026-01-01 00:00:00+00', '[{"name":"a.yaml","bytes":2}]')`,
	`INSERT INTO law_checks (id, rev, day, checked_at) VALUES (1, 1, '2026-01-01', '2026-01-01 00:00:00+00')`,
	`INSERT INTO leases (name, holder, epoch, expires_at) VALUES ('controller', 'host', 7, '2026-01-01 00:00:00+00')`,
	`INSERT INTO heartbeats (run_id, attempt, at) VALUES ('r1', 2, '2026-01-01 00:00:00+00')`,
	`INSERT INTO tokens (id, tenant, hash, admin, note, created_at, revoked_at) VALUES ('tok1', 't1', 'th', true, 'n', '2026-01-01 00:00:00+00', '2026-01-03 00:00:00+00')`,
	`INSERT INTO tokens (id, tenant, hash, admin, note, created_at, revoked_at) VALUES ('tok2', 't2', 'th2', false, '', '2026-01-02 00:00:00+00', NULL)`,
	`INSERT INTO rekeys (kind, format) VALUES ('Dataset', 'f2')`,
	`INSERT INTO rekey_clashes (kind, store_key) VALUES ('Dataset', 's3://b/d2')`,
}
