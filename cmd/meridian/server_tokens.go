package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"syscall"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/store"
)

// bootstrapTokens makes sure the token table has an admin and the CLI on
// this machine a token, and returns that token. On the first start it moves
// an old tokens.json into the table (hashed) or makes an admin token for
// tenant "default"; on later starts it keeps client.json's token when the
// table knows it, and otherwise makes a new admin token (audited), since
// the table keeps only hashes and cannot give an old secret back. Servers
// sharing the state directory take turns here (a file lock), so that they
// agree on one client.json.
func bootstrapTokens(ctx context.Context, st store.Store, dir statedir.Dir, url, fingerprint string, log *slog.Logger) (string, error) {
	lock, err := openLockFile(dir.Join("client.lock"))
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	n, token, err := api.ImportTokensFile(ctx, st, dir.Path)
	if err != nil {
		return "", err
	}
	if n > 0 {
		log.Warn("imported tokens.json into the token table, stored hashed, and removed it; manage tokens with `meridian tenant`", "tokens", n)
	}
	if token == "" {
		if cur, err := dir.ReadClient(); err == nil && cur.Token != "" {
			t, err := st.TokenByHash(ctx, store.HashToken(cur.Token))
			switch {
			case err == nil && t.RevokedAt == nil:
				token = cur.Token
			case err != nil && !errors.Is(err, store.ErrNotFound):
				return "", err
			}
		}
	}
	if token == "" {
		list, err := st.ListTokens(ctx)
		if err != nil {
			return "", err
		}
		note := "first start"
		if len(list) > 0 {
			note = "client.json missing or its token not live"
		}
		secret, t, err := api.IssueToken(ctx, st, "default", true, note, "server start")
		if err != nil {
			return "", fmt.Errorf("admin token: %w", err)
		}
		log.Info("made an admin token for tenant default", "token", t.ID, "note", note, "clientFile", dir.Join(statedir.ClientFile))
		token = secret
	}
	if err := dir.WriteClient(statedir.Client{Server: url, Token: token, Fingerprint: fingerprint}); err != nil {
		return "", err
	}
	return token, nil
}
