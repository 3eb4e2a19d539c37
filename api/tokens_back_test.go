package api

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// TestTokensFileBackAfterAPowerLossRevivesNoToken: the removal of an
// imported tokens.json is not followed by a sync of its directory, so a
// power loss can bring the file back, with secrets revoked since. Its
// tokens must not come back to life: the table keeps every token it
// imported (revoked ones too: there is no delete), so the file is taken
// as an import already made and removed again, and a revoked admin's
// secret is never handed out as client.json's.
func TestTokensFileBackAfterAPowerLossRevivesNoToken(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "m.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	path := filepath.Join(dir, TokensFile)
	b, _ := json.Marshal(map[string]any{"tokens": []Token{
		{Tenant: "default", Token: tokA, Admin: true}, {Tenant: "alpha", Token: tokB, Admin: true}, {Tenant: "alpha", Token: tokC}}})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if n, _, err := ImportTokensFile(ctx, st, dir); err != nil || n != 3 {
		t.Fatalf("import: %d %v", n, err)
	}
	rec, _ := audit.NewRecord(KindTenant, "", map[string]string{"action": "revoked"})
	if _, err := st.RevokeTokens(ctx, "default", "", rec); err != nil {
		t.Fatal(err)
	}
	// The file back, as a power loss after its removal leaves it.
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	n, secret, err := ImportTokensFile(ctx, st, dir)
	if err != nil || n != 0 {
		t.Fatalf("the file back: %d %v; want it taken as imported", n, err)
	}
	if secret != tokB {
		t.Errorf("client.json's token from the file back: %q; want the live admin's, never the revoked one", secret)
	}
	tok, err := st.TokenByHash(ctx, store.HashToken(tokA))
	if err != nil || tok.RevokedAt == nil {
		t.Errorf("the revoked token after the file came back: %+v, %v; want still revoked", tok, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", TokensFile, err)
	}
}
