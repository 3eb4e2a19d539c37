package api

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/store"
)

const tokC = "cccccccccccccccccccccccccccccccccccccccc"

// TestImportTokensFileAllOrNothing: an import that fails partway (here the
// database refuses the third token) leaves the token table empty and the file
// in place, so that the next start imports the whole file instead of
// refusing a half-filled table.
func TestImportTokensFileAllOrNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "m.db")
	st, err := store.OpenSQLite(ctx, dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A second connection to the same database file makes the insert of
	// tenant gamma fail, as a full disk or an I/O error would.
	raw, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TRIGGER fail_gamma BEFORE INSERT ON tokens WHEN NEW.tenant = 'gamma' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"tokens": []Token{
		{Tenant: "default", Token: tokA, Admin: true}, {Tenant: "alpha", Token: tokB}, {Tenant: "gamma", Token: tokC},
	}})
	path := filepath.Join(dir, TokensFile)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ImportTokensFile(ctx, st, dir); err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("import with a failing insert: %v", err)
	}
	if list, err := st.ListTokens(ctx); err != nil || len(list) != 0 {
		t.Fatalf("a failed import left %d tokens in the table (%v)", len(list), err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("a failed import removed %s: %v", TokensFile, err)
	}
	if _, err := raw.Exec(`DROP TRIGGER fail_gamma`); err != nil {
		t.Fatal(err)
	}
	n, secret, err := ImportTokensFile(ctx, st, dir)
	if err != nil || n != 3 || secret != tokA {
		t.Fatalf("import after the failure was fixed: %d %q %v", n, secret, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", TokensFile, err)
	}
}

// TestImportTokensFileLeftAfterCommit: a server stopped after the import
// committed but before it removed the file finds its own tokens in the
// table on the next start; it removes the file rather than refusing to
// start, and still refuses a file with any token the table lacks.
func TestImportTokensFileLeftAfterCommit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "m.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	path := filepath.Join(dir, TokensFile)
	b, _ := json.Marshal(map[string]any{"tokens": []Token{{Tenant: "alpha", Token: tokA}, {Tenant: "default", Token: tokB}}})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if n, _, err := ImportTokensFile(ctx, st, dir); err != nil || n != 2 {
		t.Fatalf("import: %d %v", n, err)
	}
	// The same file back, as if the removal had not happened.
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	n, secret, err := ImportTokensFile(ctx, st, dir)
	if err != nil || n != 0 || secret != tokB {
		t.Fatalf("finishing an import already committed: %d %q %v", n, secret, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", TokensFile, err)
	}
	if list, _ := st.ListTokens(ctx); len(list) != 2 {
		t.Errorf("table has %d tokens, want 2", len(list))
	}
	// A file that adds a token is another table, not a leftover: refused.
	b2, _ := json.Marshal(map[string]any{"tokens": []Token{{Tenant: "alpha", Token: tokA}, {Tenant: "default", Token: tokB}, {Tenant: "gamma", Token: tokC}}})
	os.WriteFile(path, b2, 0o600)
	if _, _, err := ImportTokensFile(ctx, st, dir); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a tokens.json with a new token beside a filled table: %v", err)
	}
	// So is one that gives a stored token another tenant.
	b3, _ := json.Marshal(map[string]any{"tokens": []Token{{Tenant: "beta", Token: tokA}, {Tenant: "default", Token: tokB}}})
	os.WriteFile(path, b3, 0o600)
	if _, _, err := ImportTokensFile(ctx, st, dir); err == nil {
		t.Error("a tokens.json that moves a token to another tenant was accepted")
	}
}
