package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/store"
)

// tooManyTokens is a store whose token table is past what one read of
// every token returns (store.MaxTokens, revoked tokens included).
type tooManyTokens struct{ store.Store }

func (tooManyTokens) ListTokens(context.Context) ([]*store.Token, error) {
	return nil, fmt.Errorf("tokens: %w", store.ErrTooMany)
}

// TestStartWithMoreTokensThanOneRead: a start whose client.json is gone
// made a new admin token after reading every token to say why; past the
// store's bound on that read the server did not start at all. It now asks
// only whether there is any.
func TestStartWithMoreTokensThanOneRead(t *testing.T) {
	ctx := context.Background()
	dir := statedir.Dir{Path: t.TempDir()}
	st, err := store.OpenSQLite(ctx, filepath.Join(dir.Path, "m.db"), store.Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	many := tooManyTokens{st}
	first, err := bootstrapTokens(ctx, many, dir, "http://127.0.0.1:1", "", log)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(dir.Join(statedir.ClientFile)); err != nil {
		t.Fatal(err)
	}
	next, err := bootstrapTokens(ctx, many, dir, "http://127.0.0.1:1", "", log)
	if err != nil {
		t.Fatalf("a start without client.json on a table past one read's bound: %v", err)
	}
	if next == first {
		t.Fatal("the start without client.json gave the old token back")
	}
	if nt, err := st.TokenByHash(ctx, store.HashToken(next)); err != nil || nt.RevokedAt != nil || !nt.Admin {
		t.Fatalf("the new token: %+v, %v; want a live admin token", nt, err)
	}
}
