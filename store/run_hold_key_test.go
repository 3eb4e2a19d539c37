package store

import (
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"

	"meridian.dev/meridian/internal/pgtest"
)

// holdKeyBefore is the last migration before the hold_key column
// (SQLite's; PostgreSQL's is pgHoldKeyBefore).
const (
	holdKeyBefore   = 17
	pgHoldKeyBefore = 15
)

// legacyAsk is the reason a key hold was written with before
// Hold.KeyDataset existed, for dataset name.
func legacyAsk(name string) string {
	return fmt.Sprintf("staging attempt 1 to Site/a: send the key of dataset %s again (meridian dataset send-key %s): no key", name, name)
}

// oldHeldRuns are runs of tenant t as a server before the hold_key column
// wrote them (and one row written by other means, whose data is not
// JSON), with whether a list for the key of corpus-c holds each.
var oldHeldRuns = []struct {
	id, state, data string
	want            bool
}{
	{"h1", "held", `{"hold":{"reason":"x","keyDataset":"corpus-c"}}`, true},
	{"h2", "held", `{"hold":{"keyDataset":"corpus-d"}}`, false},
	{"h3", "held", `{"hold":{"reason":"` + legacyAsk("corpus-c") + `"}}`, true},
	{"h4", "held", `{"hold":{"reason":"` + legacyAsk("corpus-c0") + `"}}`, false},
	{"h5", "held", `{"hold":{"reason":"dataset corpus-c may not leave SG","code":"denied"}}`, false},
	{"h6", "held", `{"hold":{"keyDataset":"corpus-c"`, true},
	{"h7", "running", `{"hold":{"keyDataset":"corpus-c"}}`, false},
}

// holdKeyWant is the ids of oldHeldRuns a list for corpus-c holds.
func holdKeyWant() []string {
	var out []string
	for _, r := range oldHeldRuns {
		if r.want {
			out = append(out, r.id)
		}
	}
	return out
}

// checkHeldForCorpusC: tenant t's list for the key of corpus-c, with and
// without documents, holds holdKeyWant, the row that is not JSON marked
// as such when the documents are left out.
func checkHeldForCorpusC(t *testing.T, s Store) {
	t.Helper()
	for _, noDocs := range []bool{false, true} {
		got, err := s.ListRuns(context.Background(), ListOptions{Tenant: "t", HeldForKey: "corpus-c", NoDocuments: noDocs})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range got {
			ids = append(ids, r.ID)
			if r.ID == "h6" && noDocs && !r.DataInvalid {
				t.Errorf("run h6, whose data is not JSON, listed without documents as %q, not marked", r.Data)
			}
		}
		if diff := cmp.Diff(holdKeyWant(), ids); diff != "" {
			t.Errorf("runs held for corpus-c (no documents %v), -want +got:\n%s", noDocs, diff)
		}
	}
}

// TestSQLiteHoldKeyMigrated: a database whose held runs were written
// before the hold_key column lists, once migrated, those held for a key
// by it: by keyDataset, by the reason of a hold from before keyDataset
// (not a longer name's), and the row whose data is not JSON, which is
// read for every key rather than passed by.
func TestSQLiteHoldKeyMigrated(t *testing.T) {
	ctx := context.Background()
	path, db := sqliteMigratedTo(t, holdKeyBefore)
	for i, r := range oldHeldRuns {
		if _, err := db.ExecContext(ctx, `INSERT INTO runs (`+runCols+`) VALUES (?, 't', 'j', ?, '', 0, '', ?, 1, ?, ?, '', 0, '', 0)`,
			r.id, r.state, r.data, fmt.Sprintf("2026-06-01T12:00:0%d.000000000Z", i), "2026-06-01T12:00:00.000000000Z"); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := OpenSQLite(ctx, path, Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkHeldForCorpusC(t, s)
}

// TestPostgresHoldKeyMigrated is TestSQLiteHoldKeyMigrated on PostgreSQL.
func TestPostgresHoldKeyMigrated(t *testing.T) {
	ctx := context.Background()
	url, db, _, done := postgresMigratedTo(t, pgHoldKeyBefore)
	for i, r := range oldHeldRuns {
		if _, err := db.ExecContext(ctx, `INSERT INTO runs (id, tenant, job, state, site, attempt, handle, data, version, created_at, updated_at)
			VALUES ($1, 't', 'j', $2, '', 0, '', $3, 1, now() + $4 * interval '1 second', now())`, r.id, r.state, r.data, i); err != nil {
			t.Fatal(err)
		}
	}
	done()
	s, err := OpenPostgres(ctx, url, Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkHeldForCorpusC(t, s)
}

// holdKeyWrites are writes of runs by other means than the store (a hand
// edit, a restore) that try to give a run's hold_key a value its data
// does not say: each must be refused by the database.
var holdKeyWrites = map[string]string{
	"insert": `INSERT INTO runs (` + runCols + `, hold_key) VALUES ('x1', 't', 'j', 'held', '', 0, '', '{"hold":{"keyDataset":"corpus-c"}}', 1,
		'2026-06-01T12:00:00.000000000Z', '2026-06-01T12:00:00.000000000Z', '', 0, '', 0, 'corpus-d')`,
	"update": `UPDATE runs SET hold_key = 'corpus-d' WHERE id = 'k1'`,
}

// TestSQLiteHoldKeyFromDataAlone: a run's hold_key is what its state and
// data say, whoever writes the row. A write outside Meridian that gives
// it another value (that would hide a run held for corpus-c from the
// key's list) is refused; a hand edit of the data or the state is listed
// as the new data says; a held run whose data is stored as bytes is
// listed for every key, and the list then refuses it by name.
func TestSQLiteHoldKeyFromDataAlone(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	k1 := &Run{ID: "k1", Tenant: "t", Job: "j", State: "held", Data: []byte(`{"hold":{"keyDataset":"corpus-c"}}`)}
	if _, _, err := s.CreateRun(ctx, k1, "", Change{}); err != nil {
		t.Fatal(err)
	}
	dropRuleRevTriggers(t, s.DB())
	for what, q := range holdKeyWrites {
		if _, err := s.DB().ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "hold_key") {
			t.Errorf("%s of a hold_key the data does not say: %v, want a refusal naming hold_key", what, err)
		}
	}
	wantHeld := func(what string, want ...string) {
		t.Helper()
		got, err := s.ListRuns(ctx, ListOptions{Tenant: "t", HeldForKey: "corpus-c"})
		var ids []string
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		if err != nil || !cmp.Equal(want, ids) {
			t.Errorf("%s: runs held for corpus-c %v %v, want %v", what, ids, err, want)
		}
	}
	wantHeld("as created", "k1")
	if _, err := s.DB().ExecContext(ctx, `UPDATE runs SET data = '{"hold":{"keyDataset":"corpus-d"}}' WHERE id = 'k1'`); err != nil {
		t.Fatal(err)
	}
	wantHeld("its data edited to another key")
	if _, err := s.DB().ExecContext(ctx, `UPDATE runs SET data = '{"hold":{"keyDataset":"corpus-c"}}', state = 'running' WHERE id = 'k1'`); err != nil {
		t.Fatal(err)
	}
	wantHeld("its state edited to running")
	if _, err := s.DB().ExecContext(ctx, `UPDATE runs SET state = 'held' WHERE id = 'k1'`); err != nil {
		t.Fatal(err)
	}
	wantHeld("its state edited back to held", "k1")
	if _, err := s.DB().ExecContext(ctx, `UPDATE runs SET data = CAST('{"hold":{"keyDataset":"corpus-d"}}' AS BLOB) WHERE id = 'k1'`); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ListRuns(ctx, ListOptions{Tenant: "t", HeldForKey: "corpus-c"}); err == nil || !strings.Contains(err.Error(), "k1") {
		t.Errorf("run k1 with its data as bytes: listed %d runs, %v; want a refusal naming it", len(got), err)
	}
}

// TestPostgresHoldKeyFromDataAlone is TestSQLiteHoldKeyFromDataAlone on
// PostgreSQL, whose data is never bytes.
func TestPostgresHoldKeyFromDataAlone(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s, err := OpenPostgres(ctx, url, Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k1 := &Run{ID: "k1", Tenant: "t", Job: "j", State: "held", Data: []byte(`{"hold":{"keyDataset":"corpus-c"}}`)}
	if _, _, err := s.CreateRun(ctx, k1, "", Change{}); err != nil {
		t.Fatal(err)
	}
	for what, q := range map[string]string{
		"insert": `INSERT INTO runs (id, tenant, job, state, site, attempt, handle, data, version, created_at, updated_at, hold_key)
			VALUES ('x1', 't', 'j', 'held', '', 0, '', '{"hold":{"keyDataset":"corpus-c"}}', 1, now(), now(), 'corpus-d')`,
		"update": holdKeyWrites["update"],
	} {
		if _, err := s.pool.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "hold_key") {
			t.Errorf("%s of a hold_key the data does not say: %v, want a refusal naming hold_key", what, err)
		}
	}
	for _, c := range []struct{ what, q, want string }{
		{"its data edited to another key", `UPDATE runs SET data = '{"hold":{"keyDataset":"corpus-d"}}' WHERE id = 'k1'`, ""},
		{"its state edited to running", `UPDATE runs SET data = '{"hold":{"keyDataset":"corpus-c"}}', state = 'running' WHERE id = 'k1'`, ""},
		{"its state edited back to held", `UPDATE runs SET state = 'held' WHERE id = 'k1'`, "k1"},
		{"its data edited to text that is not JSON", `UPDATE runs SET data = '{"hold":' WHERE id = 'k1'`, "k1"},
	} {
		if _, err := s.pool.Exec(ctx, c.q); err != nil {
			t.Fatal(err)
		}
		got, err := s.ListRuns(ctx, ListOptions{Tenant: "t", HeldForKey: "corpus-c", NoDocuments: true})
		ids := ""
		for _, r := range got {
			ids += r.ID
		}
		if err != nil || ids != c.want {
			t.Errorf("%s: runs held for corpus-c %q %v, want %q", c.what, ids, err, c.want)
		}
	}
}

// TestSQLiteHeldForKeyReadsItsIndex: a list for a key (the query
// ListRuns makes) reads the index on (tenant, hold_key), not every run of
// the tenant in its order, which SQLite chose without statistics.
func TestSQLiteHeldForKeyReadsItsIndex(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for i := range 50 {
		r := &Run{ID: fmt.Sprintf("r%02d", i), Tenant: "t", Job: "j", State: "held", Data: []byte(fmt.Sprintf(`{"hold":{"keyDataset":"ds-%d"}}`, i))}
		if _, _, err := s.CreateRun(ctx, r, "", Change{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []ListOptions{
		{Tenant: "t", States: []string{"held"}, HeldForKey: "ds-7", Limit: 100, NoDocuments: true},
		{Tenant: "t", States: []string{"held"}, HeldForKey: "ds-7", Limit: 100, After: "r03"},
	} {
		q, args, err := sqliteListQuery(o)
		if err != nil {
			t.Fatal(err)
		}
		plan := sqlitePlan(t, s.DB(), q, args...)
		if !strings.Contains(plan, "USING INDEX runs_hold_key (tenant=? AND hold_key=?)") {
			t.Errorf("%+v: plan %q, want a search of the index runs_hold_key", o, plan)
		}
		got, err := s.ListRuns(ctx, o)
		if err != nil || len(got) != 1 || got[0].ID != "r07" {
			t.Errorf("%+v: %d runs, %v; want r07", o, len(got), err)
		}
	}
}

// BenchmarkSQLiteHoldKeyMigration is migration 18 on a database of 10,000
// held runs, each held for a dataset's key, their data a few hundred bytes
// with documents of a few kilobytes: the column computed for each and the
// index built.
//
//	go test ./store -run '^$' -bench HoldKeyMigration -benchtime 3x
func BenchmarkSQLiteHoldKeyMigration(b *testing.B) {
	ctx := context.Background()
	doc := strings.Repeat("x", 4000)
	for b.Loop() {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "m.db")
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			b.Fatal(err)
		}
		p, err := goose.NewProvider(goose.DialectSQLite3, db, mustSub(migrations, "migrations"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.UpTo(ctx, holdKeyBefore); err != nil {
			b.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
			INSERT INTO runs (`+runCols+`) SELECT printf('r%05d', i), 't', 'j', 'held', '', 1, '',
				json_object('documents', json_array(json_object('name', 'j.yaml', 'content', ?)),
					'hold', json_object('reason', 'staging attempt 1 to Site/a: the server holds no key', 'code', 'notNow', 'keyDataset', 'ds-' || i)),
				1, '2026-06-01T12:00:00.000000000Z', '2026-06-01T12:00:00.000000000Z', '', 0, '', 0 FROM n`, doc); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := p.UpTo(ctx, holdKeyBefore+1); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE tenant = 't' AND hold_key = 'ds-77'`).Scan(&n); err != nil || n != 1 {
			b.Fatalf("runs held for ds-77 after the migration: %d %v", n, err)
		}
		db.Close()
		b.StartTimer()
	}
}

// TestPostgresHeldForKeyReadsItsIndex: on PostgreSQL, with statistics of
// a tenant's 20,000 held runs each waiting for a key of its own, the
// terms of a list for a key are planned on the index runs_hold_key.
func TestPostgresHeldForKeyReadsItsIndex(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s, err := OpenPostgres(ctx, url, Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.pool.Exec(ctx, `INSERT INTO runs (id, tenant, job, state, site, attempt, handle, data, version, created_at, updated_at)
		SELECT 'r' || i, 't', 'j', 'held', '', 1, '', json_build_object('hold', json_build_object('keyDataset', 'ds-' || i))::text, 1, now(), now()
		FROM generate_series(1, 20000) AS i`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE runs`); err != nil {
		t.Fatal(err)
	}
	plan := postgresPlan(t, s, `SELECT id FROM runs WHERE tenant = $1 AND state = ANY($2) AND state = 'held' AND hold_key IN ($3, $4)
		ORDER BY created_at, id LIMIT $5`, "t", []string{"held"}, "ds-7", HoldKeyUnknown, 100)
	if !strings.Contains(plan, "runs_hold_key") {
		t.Errorf("plan of a list for a key:\n%s\nwant the index runs_hold_key", plan)
	}
	got, err := s.ListRuns(ctx, ListOptions{Tenant: "t", States: []string{"held"}, HeldForKey: "ds-7", Limit: 100, NoDocuments: true})
	if err != nil || len(got) != 1 || got[0].ID != "r7" {
		t.Errorf("runs held for ds-7: %d, %v; want r7", len(got), err)
	}
}

// BenchmarkPostgresHoldKeyMigration is BenchmarkSQLiteHoldKeyMigration on
// PostgreSQL (migration 16): the column computed for each row as it is
// added (the table rewritten), and the index built.
func BenchmarkPostgresHoldKeyMigration(b *testing.B) {
	ctx := context.Background()
	doc := strings.Repeat("x", 4000)
	for b.Loop() {
		b.StopTimer()
		_, db, p, done := postgresMigratedTo(b, pgHoldKeyBefore)
		if _, err := db.ExecContext(ctx, `INSERT INTO runs (id, tenant, job, state, site, attempt, handle, data, version, created_at, updated_at)
			SELECT 'r' || i, 't', 'j', 'held', '', 1, '', json_build_object('documents', json_build_array(json_build_object('name', 'j.yaml', 'content', $1::text)),
				'hold', json_build_object('reason', 'staging attempt 1 to Site/a: the server holds no key', 'code', 'notNow', 'keyDataset', 'ds-' || i))::text,
				1, now(), now() FROM generate_series(1, 10000) AS i`, doc); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := p.UpTo(ctx, pgHoldKeyBefore+1); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE tenant = 't' AND hold_key = 'ds-77'`).Scan(&n); err != nil || n != 1 {
			b.Fatalf("runs held for ds-77 after the migration: %d %v", n, err)
		}
		done()
		b.StartTimer()
	}
}

// holdKeyCases are data of a held run with the hold_key SQLite's
// column gives it (PostgreSQL's meridian_hold_key, with exact keys): the
// documents passed over with quotes, escapes and brackets in their
// strings. A hold or keyDataset spelt in another case, which the run
// package's encoding/json would read, is NULL (no key): the store never
// writes one, and such a run is only left to its own retry timer, as on
// PostgreSQL. Of a key written twice SQLite reads the first.
var holdKeyCases = []struct{ data, want string }{
	{`{"hold":{"keyDataset":"corpus-c"}}`, "corpus-c"},
	{`{` + holdKeyDocs + `,"hold":{"keyDataset":"corpus-c","reason":"r"}}`, "corpus-c"},
	{`{"hold":{"keyDataset":"corpus-c"},` + holdKeyDocs + `}`, "corpus-c"},
	{` { "x" : 1 , "hold" : { "keyDataset" : "corpus-c" } , "y" : [ ] } `, "corpus-c"},
	{`{"Hold":{"KeyDataset":"corpus-c"}}`, "NULL"},
	{`{"HOLD":{"keydataset":"corpus-c"}}`, "NULL"},
	{`{"hold":{"KeyDataset":"corpus-c"}}`, "NULL"},
	{`{"hold":{"keyDataset":"corpus-c"},"hold":{"keyDataset":"corpus-d"}}`, "corpus-c"},
	{`{"hold":{"keyDataset":"corpus-c","keyDataset":""}}`, "corpus-c"},
	{`{"hold":{"reason":"` + legacyAsk("corpus-c") + `"}}`, "corpus-c"},
	{`{"hold":{"reason":"` + legacyAsk("corpus-c") + `","keyDataset":null}}`, "corpus-c"},
	{`{"hold":{"reason":"` + legacyAsk("corpus-c") + `","keyDataset":""}}`, "corpus-c"},
	{`{"hold":{"reason":"` + legacyAsk("corpus-c0") + `"}}`, "corpus-c0"},
	{`{"hold":{"reason":"` + legacyAsk("corpus-c") + " " + legacyAsk("corpus-d") + `"}}`, "*"},
	{`{"hold":{"reason":"send the key of dataset corpus-c again (meridian dataset send-key corpus-d): "}}`, "*"},
	{`{"hold":{"reason":"send the key of dataset corpus-c again (meridian dataset send-key corpus-c)"}}`, "*"},
	{`{"hold":{"reason":"send the key of dataset  again (meridian dataset send-key ): "}}`, "*"},
	{`{"hold":{"reason":" again (meridian dataset send-key x): send the key of dataset corpus-c"}}`, "*"},
	{`{"hold":{"reason":"dataset corpus-c may not leave SG"}}`, "NULL"},
	{`{"hold":{"reason":7}}`, "*"},
	{`{"hold":{"keyDataset":7}}`, "*"},
	{`{"hold":{"keyDataset":["corpus-c"]}}`, "*"},
	{`{"hold":"corpus-c"}`, "*"},
	{`{"hold":null}`, "NULL"},
	{`{"hold":{}}`, "NULL"},
	{`{}`, "NULL"},
	{`{"x":"\u0068old"}`, "*"},
	{`{"\u0068old":{"keyDataset":"corpus-c"}}`, "*"},
	{`{"hold":{"keyD\u0061taset":"corpus-c"}}`, "*"},
	{`{"hold":{"keyDataset":"corpus-c","note":"\\u0041"}}`, "*"},
	{`{"hold":{"keyDataset":"corpus-c"},"x":"\u003c\u0026\u2028\u0000\u001f\ufffd"}`, "corpus-c"},
	{`{"hold":{"keyDataset":"corpus\u002dc"}}`, "corpus-c"},
	{`[{"hold":{"keyDataset":"corpus-c"}}]`, "*"},
	{`{"hold":{"keyDataset":"corpus-c"}`, "*"},
	{`{"hold":{"keyDataset":"corpus-c"}} x`, "*"},
	{`{hold:{keyDataset:"corpus-c"}}`, "*"},
	{`not json`, "*"},
	{``, "*"},
}

// holdKeyDocs are documents whose strings hold quotes, escapes, brackets
// and a hold of their own.
const holdKeyDocs = `"documents":[{"name":"j.yaml","content":"a \"hold\": {\"keyDataset\":\"x\"} [}{ \\\\"},{"n":[1,2.5e3,true,null,{"hold":{}}]}]`

// TestSQLiteHoldKeyColumn: the hold_key SQLite computes for a held run's
// data is holdKeyCases' (PostgreSQL's, with exact keys), NULL for a run
// in another state, and '*' for data stored as bytes.
func TestSQLiteHoldKeyColumn(t *testing.T) {
	ctx := context.Background()
	path, db := sqliteMigratedTo(t, holdKeyBefore+1)
	defer db.Close()
	insert := func(id, state string, data any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, `INSERT INTO runs (`+runCols+`) VALUES (?, 't', 'j', ?, '', 0, '', ?, 1, ?, ?, '', 0, '', 0)`,
			id, state, data, "2026-06-01T12:00:00.000000000Z", "2026-06-01T12:00:00.000000000Z"); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{}
	for i, c := range holdKeyCases {
		id := fmt.Sprintf("c%02d", i)
		insert(id, "held", c.data)
		want[id] = c.want
		insert(id+"-running", "running", c.data)
		want[id+"-running"] = "NULL"
	}
	insert("bytes", "held", []byte(`{"hold":{"keyDataset":"corpus-c"}}`))
	want["bytes"] = "*"
	rows, err := db.QueryContext(ctx, `SELECT id, data, coalesce(hold_key, 'NULL') FROM runs`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, data, got string
		if err := rows.Scan(&id, &data, &got); err != nil {
			t.Fatal(err)
		}
		if got != want[id] {
			t.Errorf("%s %s: hold_key %q, want %q", id, data, got, want[id])
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if out, ok := runSQLiteTool(t, path, "PRAGMA integrity_check;"); ok && out != "ok\n" {
		t.Errorf("sqlite3 tool's integrity_check of these runs: %q, want ok", out)
	}
}

// pgHoldKeyDiffers are the holdKeyCases whose data PostgreSQL's
// meridian_hold_key reads otherwise than SQLite's column, and what it
// reads. Of a key written twice jsonb keeps the last, as the run
// package's encoding/json does (SQLite reads the first); an escape is
// decoded, as encoding/json decodes it (SQLite's column gives '*' for any
// \u00 escape of a letter, which it cannot tell from the key); a \u0000
// does not fit in jsonb, which gives '*'. Either reading is one the run
// package's own check of each listed run makes safe: a run listed that
// is not held for the key is passed by; one not listed (a key written
// twice, SQLite; a hold object written twice whose last has no
// keyDataset, PostgreSQL; a key in another case, both) waits for its own
// next try. Neither store writes such data; only a hand edit does.
var pgHoldKeyDiffers = map[string]string{
	`{"hold":{"keyDataset":"corpus-c"},"hold":{"keyDataset":"corpus-d"}}`: "corpus-d",
	`{"hold":{"keyDataset":"corpus-c","keyDataset":""}}`:                  "NULL",
	`{"x":"\u0068old"}`:                                                             "NULL",
	`{"\u0068old":{"keyDataset":"corpus-c"}}`:                                       "corpus-c",
	`{"hold":{"keyD\u0061taset":"corpus-c"}}`:                                       "corpus-c",
	`{"hold":{"keyDataset":"corpus-c","note":"\\u0041"}}`:                           "corpus-c",
	`{"hold":{"keyDataset":"corpus-c"},"x":"\u003c\u0026\u2028\u0000\u001f\ufffd"}`: "*",
}

// TestPostgresHoldKeyColumn: the hold_key PostgreSQL computes for a held
// run's data is holdKeyCases' but for pgHoldKeyDiffers, NULL for a run in
// another state. No test read PostgreSQL's function against the cases
// SQLite's column is held to.
func TestPostgresHoldKeyColumn(t *testing.T) {
	ctx := context.Background()
	s, err := OpenPostgres(ctx, pgtest.NewDatabase(t), Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	used := 0
	for i, c := range holdKeyCases {
		want := c.want
		if w, ok := pgHoldKeyDiffers[c.data]; ok {
			want = w
			used++
		}
		for _, state := range []string{"held", "running"} {
			id := fmt.Sprintf("c%02d-%s", i, state)
			if _, err := s.pool.Exec(ctx, `INSERT INTO runs (id, tenant, job, state, site, attempt, handle, data, version, created_at, updated_at)
				VALUES ($1, 't', 'j', $2, '', 0, '', $3, 1, now(), now())`, id, state, c.data); err != nil {
				t.Fatalf("%s %s: %v", id, c.data, err)
			}
			var got *string
			if err := s.pool.QueryRow(ctx, `SELECT hold_key FROM runs WHERE id = $1`, id).Scan(&got); err != nil {
				t.Fatal(err)
			}
			g, w := "NULL", want
			if got != nil {
				g = *got
			}
			if state != "held" {
				w = "NULL"
			}
			if g != w {
				t.Errorf("%s %s: hold_key %q, want %q", id, c.data, g, w)
			}
		}
	}
	if used != len(pgHoldKeyDiffers) {
		t.Errorf("%d of pgHoldKeyDiffers are holdKeyCases, want all %d", used, len(pgHoldKeyDiffers))
	}
}

// TestSQLiteHoldKeyPlainConnection: a database the store has written
// (migration 18 among them) is checked, read and written by a program
// that has registered nothing with SQLite: a plain connection of the
// driver and, where it is installed, the sqlite3 tool an operator uses
// after a crash. A column computed by a function the store registered
// made all of these fail with "unknown function".
func TestSQLiteHoldKeyPlainConnection(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s, err := OpenSQLite(ctx, path, Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	for i, data := range []string{`{"hold":{"keyDataset":"corpus-c"}}`, `{"hold":{"reason":"` + legacyAsk("corpus-c") + `"}}`} {
		r := &Run{ID: fmt.Sprintf("k%d", i), Tenant: "t", Job: "j", State: "held", Data: []byte(data)}
		if _, _, err := s.CreateRun(ctx, r, "", Change{}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check on a plain connection: %q %v, want ok", check, err)
	}
	rows, err := db.QueryContext(ctx, `SELECT * FROM runs`)
	if err != nil {
		t.Fatalf("SELECT * FROM runs on a plain connection: %v", err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Err(); err != nil || n != 2 {
		t.Errorf("SELECT * FROM runs on a plain connection: %d rows, %v; want 2", n, err)
	}
	rows.Close()
	if _, err := db.ExecContext(ctx, `UPDATE runs SET data = '{"hold":{"keyDataset":"corpus-d"}}' WHERE id = 'k0'`); err != nil {
		t.Errorf("UPDATE of runs on a plain connection: %v", err)
	}
	var key string
	if err := db.QueryRowContext(ctx, `SELECT hold_key FROM runs WHERE id = 'k1'`).Scan(&key); err != nil || key != "corpus-c" {
		t.Errorf("hold_key of k1 on a plain connection: %q %v, want corpus-c", key, err)
	}
	db.Close()
	checkWithSQLiteTool(t, path)
}

// checkWithSQLiteTool runs the sqlite3 tool, where it is installed, on the
// database at path: the checks, a read of every column, an update and a
// VACUUM must all succeed.
func checkWithSQLiteTool(t *testing.T, path string) {
	t.Helper()
	script := `PRAGMA integrity_check;
PRAGMA quick_check;
SELECT count(*) FROM (SELECT * FROM runs);
UPDATE runs SET data = '{"hold":{"keyDataset":"corpus-e"}}' WHERE id = 'k0';
SELECT hold_key FROM runs WHERE id = 'k0';
VACUUM;
PRAGMA integrity_check;
`
	if out, ok := runSQLiteTool(t, path, script); ok && out != "ok\nok\n2\ncorpus-e\nok\n" {
		t.Errorf("sqlite3 tool on the store's database: %q, want %q", out, "ok\nok\n2\ncorpus-e\nok\n")
	}
}

// runSQLiteTool is the output of the sqlite3 tool given script on the
// database at path, ok false where the tool is not installed. The tool
// may be an older SQLite than the store's (whose JSON functions read
// escaped keys): the column must be computed alike by both.
func runSQLiteTool(t *testing.T, path, script string) (string, bool) {
	t.Helper()
	tool, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Log("no sqlite3 tool on PATH: its part of the test not run")
		return "", false
	}
	cmd := exec.Command(tool, "-bail", path)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("sqlite3 tool: %v\n%s", err, out)
	}
	return string(out), true
}
