package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/store"
)

// TestStartRevokesAnExposedClientToken: a client.json other users could
// read holds an admin token whoever read it holds too. The start used to
// leave that token live (it wrote a new file with a new token beside it);
// now it revokes it, and the new file is the owner's alone.
func TestStartRevokesAnExposedClientToken(t *testing.T) {
	ctx := context.Background()
	dir := statedir.Dir{Path: t.TempDir()}
	st, err := store.OpenSQLite(ctx, filepath.Join(dir.Path, "m.db"), store.Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	first, err := bootstrapTokens(ctx, st, dir, "http://127.0.0.1:1", "", log)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := bootstrapTokens(ctx, st, dir, "http://127.0.0.1:1", "", log); err != nil || again != first {
		t.Fatalf("a second start with client.json kept: token changed %v, %v", again != first, err)
	}
	if err := os.Chmod(dir.Join(statedir.ClientFile), 0o644); err != nil {
		t.Fatal(err)
	}
	next, err := bootstrapTokens(ctx, st, dir, "http://127.0.0.1:1", "", log)
	if err != nil {
		t.Fatal(err)
	}
	if next == first {
		t.Fatal("the start kept the token of a client.json others could read")
	}
	old, err := st.TokenByHash(ctx, store.HashToken(first))
	if err != nil {
		t.Fatal(err)
	}
	if old.RevokedAt == nil {
		t.Error("the token of a client.json others could read is still live")
	}
	c, err := dir.ReadClient()
	if err != nil || c.Token != next {
		t.Fatalf("client.json after the start: %v (holds the new token: %v)", err, c.Token == next)
	}
	if nt, err := st.TokenByHash(ctx, store.HashToken(next)); err != nil || nt.RevokedAt != nil || !nt.Admin {
		t.Fatalf("the new token: %+v, %v; want a live admin token", nt, err)
	}
}
