package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// blobRows writes a run with an event and an idempotency key, a
// registered resource and a token, then rewrites one text column of table
// as a BLOB of the same bytes (SQLite keeps a BLOB as it is in a TEXT
// column too): the row reads back as the same strings, but no query
// comparing the column with text matches it.
func blobRows(t *testing.T, table, col string) (*SQLite, *Token) {
	t.Helper()
	ctx := context.Background()
	s := openTest(t)
	if _, _, err := s.CreateRun(ctx, &Run{ID: "r1", Tenant: "acme", Job: "j", State: "succeeded", Data: []byte(`{}`)}, "k1",
		Change{Events: []Event{{Kind: "state", From: "running", To: "succeeded", Reason: "done", Data: `{"x":1}`}}}); err != nil {
		t.Fatal(err)
	}
	doc := []byte(`{"kind":"Dataset","metadata":{"name":"d1"}}`)
	sum := sha256.Sum256(doc)
	if _, err := s.PutResource(ctx, &Resource{Tenant: "acme", Kind: "Dataset", Name: "d1", Doc: doc, Hash: hex.EncodeToString(sum[:]), StoreKey: "s3/d1"}, 0,
		rec(t, "resource", "", map[string]string{"name": "d1"})); err != nil {
		t.Fatal(err)
	}
	tok, err := s.PutToken(ctx, &Token{ID: "tok1", Tenant: "acme", Hash: HashToken("secret"), Note: "ci"}, rec(t, "token", "", map[string]string{"id": "tok1"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET %s = CAST(%s AS BLOB)`, table, col, col)); err != nil {
		t.Fatal(err)
	}
	return s, tok
}

// wantBlobErr checks that err names the table and the column.
func wantBlobErr(t *testing.T, what string, err error, table, col string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, with %s.%s stored as a BLOB", what, table, col)
		return
	}
	if !strings.Contains(err.Error(), table) || !strings.Contains(err.Error(), col) || !strings.Contains(err.Error(), "BLOB") {
		t.Errorf("%s: the error does not name %s and its %s as a BLOB: %v", what, table, col, err)
	}
}

// TestSQLiteEventTextStoredAsBlob: a run's history (an ended run's as
// well) read back an event whose text was rewritten as a BLOB as if
// Meridian had written it; the read fails naming the table and column.
func TestSQLiteEventTextStoredAsBlob(t *testing.T) {
	for _, col := range []string{"time", "kind", "from_state", "to_state", "reason", "data"} {
		t.Run(col, func(t *testing.T) {
			s, _ := blobRows(t, "events", col)
			_, err := s.Events(context.Background(), "r1")
			wantBlobErr(t, "the run's events", err, "events", col)
		})
	}
}

// TestSQLiteRunDataStoredAsBlob: an ended run's data (its documents)
// rewritten as a BLOB read back as text; the read fails naming it.
func TestSQLiteRunDataStoredAsBlob(t *testing.T) {
	s, _ := blobRows(t, "runs", "data")
	_, err := s.GetRun(context.Background(), "r1")
	wantBlobErr(t, "the run", err, "run", "data")
	_, err = s.ListRuns(context.Background(), ListOptions{Tenant: "acme"})
	wantBlobErr(t, "the tenant's runs", err, "run", "data")
	// Without documents too: the JSON functions read a BLOB as text.
	_, err = s.ListRuns(context.Background(), ListOptions{Tenant: "acme", NoDocuments: true})
	wantBlobErr(t, "the tenant's runs without documents", err, "run", "data")
}

// TestSQLiteIdemKeyStoredAsBlob: an idempotency key's row whose tenant
// or key was rewritten as a BLOB no longer matched the lookup, so a
// retried submission with the key created a second run; one whose run was
// read back as text. The lookup now fails naming the table and column,
// and the retry creates nothing.
func TestSQLiteIdemKeyStoredAsBlob(t *testing.T) {
	ctx := context.Background()
	for _, col := range []string{"tenant", "key", "run_id"} {
		t.Run(col, func(t *testing.T) {
			s, _ := blobRows(t, "idempotency_keys", col)
			_, err := s.RunByKey(ctx, "acme", "k1")
			wantBlobErr(t, "the key's run", err, "idempotency_keys", col)
			got, created, err := s.CreateRun(ctx, &Run{ID: "r2", Tenant: "acme", Job: "j", State: "planned", Data: []byte(`{}`)}, "k1", Change{})
			wantBlobErr(t, "a retried submission", err, "idempotency_keys", col)
			if created {
				t.Errorf("a retried submission created run %s", got.ID)
			}
		})
	}
	s := openTest(t)
	if p := sqlitePlan(t, s.DB(), qIdemGet, "acme", "k1"); !strings.Contains(p, "INDEX sqlite_autoindex_idempotency_keys_1") {
		t.Errorf("the key's lookup is not planned on the primary key:\n%s", p)
	}
}

// TestSQLiteResourceTextStoredAsBlob: a registered resource's document,
// hash, store key or times rewritten as a BLOB. A store key so rewritten
// no longer matched the lookup that keeps a dataset's store and name to
// the tenant that registered it first. The read fails naming the table
// and the column.
func TestSQLiteResourceTextStoredAsBlob(t *testing.T) {
	for _, col := range []string{"doc", "hash", "store_key", "created_at", "updated_at"} {
		t.Run(col, func(t *testing.T) {
			s, _ := blobRows(t, "resources", col)
			_, err := s.GetResource(context.Background(), "acme", "Dataset", "d1")
			wantBlobErr(t, "the resource", err, "resources", col)
			_, err = s.ListResources(context.Background(), "acme", "")
			wantBlobErr(t, "the tenant's resources", err, "resources", col)
		})
	}
}

// TestSQLiteResourceKeyStoredAsBlob: a registered resource whose tenant,
// kind or name was rewritten as a BLOB of the same bytes no longer
// matched its tenant's reads (they compare those columns with text): it
// was missing, and the register witness took it for one changed. Its
// tenant's get and lists (all kinds, and its kind) now fail naming the
// table and the column; another tenant's reads do not see it.
func TestSQLiteResourceKeyStoredAsBlob(t *testing.T) {
	ctx := context.Background()
	for _, col := range []string{"tenant", "kind", "name"} {
		t.Run(col, func(t *testing.T) {
			s, _ := blobRows(t, "resources", col)
			r, err := s.GetResource(ctx, "acme", "Dataset", "d1")
			wantBlobErr(t, "the resource", err, "resources", col)
			if err == nil {
				t.Errorf("the resource read: %+v", r)
			}
			for _, kind := range []string{"", "Dataset"} {
				rs, err := s.ListResources(ctx, "acme", kind)
				wantBlobErr(t, fmt.Sprintf("the tenant's resources of kind %q (%d read)", kind, len(rs)), err, "resources", col)
			}
			if rs, err := s.ListResources(ctx, "other", ""); err != nil || len(rs) != 0 {
				t.Errorf("another tenant's resources: %d, %v; want none", len(rs), err)
			}
			if _, err := s.GetResource(ctx, "other", "Dataset", "d1"); !errors.Is(err, ErrNotFound) {
				t.Errorf("another tenant's d1: %v, want not found", err)
			}
		})
	}
	// Each read is a search of the primary key, not a scan of the table.
	s := openTest(t)
	for _, p := range []string{sqlitePlan(t, s.DB(), qGetResource, "acme", "Dataset", "d1"),
		sqlitePlan(t, s.DB(), `SELECT `+resourceCols+` FROM resources WHERE tenant IN (?1, CAST(?1 AS BLOB)) AND kind IN (?2, CAST(?2 AS BLOB)) ORDER BY kind, name`, "acme", "Dataset")} {
		if !strings.Contains(p, "INDEX sqlite_autoindex_resources_1") {
			t.Errorf("a resource read is not planned on the primary key:\n%s", p)
		}
	}
}

// TestSQLiteTokenTextStoredAsBlob: a token whose tenant or id was
// rewritten as a BLOB still matched its hash, so it authenticated, while
// a revocation of its tenant's tokens or of its id (queries comparing
// those columns with text) passed it by. The token's lookup now fails
// (it grants nothing) and so does the list, naming the table and column.
func TestSQLiteTokenTextStoredAsBlob(t *testing.T) {
	ctx := context.Background()
	for _, col := range []string{"id", "tenant", "hash", "note", "created_at"} {
		t.Run(col, func(t *testing.T) {
			s, tok := blobRows(t, "tokens", col)
			got, err := s.TokenByHash(ctx, tok.Hash)
			if col == "hash" {
				// The lookup by hash misses it: it grants nothing.
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("the token's lookup: %v, %v; want not found", got, err)
				}
			} else {
				wantBlobErr(t, "the token's lookup", err, "tokens", col)
			}
			_, err = s.ListTokens(ctx)
			wantBlobErr(t, "the token list", err, "tokens", col)
		})
	}
	t.Run("revoked_at", func(t *testing.T) {
		s, tok := blobRows(t, "tokens", "note")
		if _, err := s.DB().ExecContext(ctx, `UPDATE tokens SET note = 'ci', revoked_at = CAST('2026-12-01T00:00:00Z' AS BLOB)`); err != nil {
			t.Fatal(err)
		}
		_, err := s.TokenByHash(ctx, tok.Hash)
		wantBlobErr(t, "the token's lookup", err, "tokens", "revoked_at")
	})
}

// TestSQLiteEndedRunTenantStoredAsBlob: an ended run whose tenant was
// rewritten as a BLOB of the same bytes left its tenant's lists without a
// word (they select by tenant; the pass over the live runs, which would
// meet it, selects by state). The tenant's list and versions fail naming
// the run and its tenant.
func TestSQLiteEndedRunTenantStoredAsBlob(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for _, id := range []string{"r1", "r2"} {
		if _, _, err := s.CreateRun(ctx, &Run{ID: id, Tenant: "acme", Job: "j", State: "succeeded", Data: []byte(`{}`)}, "", Change{}); err != nil {
			t.Fatal(err)
		}
	}
	dropRunHoldTypeTriggers(t, s.DB())
	if _, err := s.DB().ExecContext(ctx, `UPDATE runs SET tenant = CAST(tenant AS BLOB) WHERE id = 'r1'`); err != nil {
		t.Fatal(err)
	}
	runs, err := s.ListRuns(ctx, ListOptions{Tenant: "acme"})
	if err == nil {
		t.Errorf("the tenant's list, with run r1's tenant a BLOB: %d runs, no error", len(runs))
	} else if !strings.Contains(err.Error(), `run "r1"`) || !strings.Contains(err.Error(), "tenant") {
		t.Errorf("the list's error does not name run r1 and its tenant: %v", err)
	}
	vs, err := s.RunVersions(ctx, "acme")
	if err == nil {
		t.Errorf("the tenant's versions, with run r1's tenant a BLOB: %v, no error", vs)
	} else if !strings.Contains(err.Error(), `run "r1"`) || !strings.Contains(err.Error(), "tenant") {
		t.Errorf("the versions' error does not name run r1 and its tenant: %v", err)
	}
	if runs, err := s.ListRuns(ctx, ListOptions{Tenant: "other"}); err != nil || len(runs) != 0 {
		t.Errorf("another tenant's list: %d runs, %v", len(runs), err)
	}
	// The lookup is one search of the tenant's index, not a scan.
	if p := sqlitePlan(t, s.DB(), qBlobTenant, "acme"); !strings.Contains(p, "INDEX runs_tenant_created") {
		t.Errorf("the lookup of a run whose tenant is a BLOB is not planned on runs_tenant_created:\n%s", p)
	}
}

// TestSQLiteStoreKeyStoredAsBlob: a dataset's store key rewritten as a
// BLOB of the same bytes no longer matched the lookup that keeps a store
// and name to the tenant that registered it first, nor the unique index
// (a BLOB is not the text), so another tenant registered the same data
// as its own, through Meridian, with a sealed record. The registration
// now fails naming the row's store_key.
func TestSQLiteStoreKeyStoredAsBlob(t *testing.T) {
	ctx := context.Background()
	s, _ := blobRows(t, "resources", "store_key")
	doc := []byte(`{"kind":"Dataset","metadata":{"name":"mine"}}`)
	sum := sha256.Sum256(doc)
	_, err := s.PutResource(ctx, &Resource{Tenant: "evil", Kind: "Dataset", Name: "mine", Doc: doc, Hash: hex.EncodeToString(sum[:]), StoreKey: "s3/d1"}, 0,
		rec(t, "resource", "", map[string]string{"name": "mine"}))
	wantBlobErr(t, "another tenant's registration of the same store key", err, "resources", "store_key")
	if _, err := s.GetResource(ctx, "evil", "Dataset", "mine"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the other tenant's dataset: %v, want none", err)
	}
	if p := sqlitePlan(t, s.DB(), qStoreKey, "s3/d1", "s3/d1"); !strings.Contains(p, "INDEX resources_store") {
		t.Errorf("the store key's lookup is not planned on resources_store:\n%s", p)
	}
}

// TestSQLiteTenantNameStoredAsBlob: a tenant's row in the tenants table
// whose name was rewritten as a BLOB no longer matched the lookup of the
// tenant's user id, and the tenant was given a second row with a new id,
// not the one its files on the sites are owned by. The lookup now fails
// naming the table and the column.
func TestSQLiteTenantNameStoredAsBlob(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	const base = 3000000
	if uid, err := s.TenantUID(ctx, "acme", base); err != nil || uid != base {
		t.Fatalf("uid %d, %v", uid, err)
	}
	if _, err := s.DB().ExecContext(ctx, `UPDATE tenants SET name = CAST(name AS BLOB)`); err != nil {
		t.Fatal(err)
	}
	uid, err := s.TenantUID(ctx, "acme", base)
	if err == nil {
		t.Fatalf("the tenant's user id, with its row's name a BLOB: %d, no error", uid)
	}
	wantBlobErr(t, "the tenant's user id", err, "tenants", "name")
	if uid, err := s.TenantUID(ctx, "other", base); err != nil || uid != base+1 {
		t.Errorf("another tenant: uid %d, %v; want %d", uid, err, base+1)
	}
}
