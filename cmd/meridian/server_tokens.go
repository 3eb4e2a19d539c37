package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"syscall"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/audit"
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
	// exposed is the live token of a client.json that others may read:
	// whoever read it holds an admin token, so it is replaced and revoked.
	var exposed *store.Token
	if token == "" {
		cur, err := dir.ReadClient()
		if errors.Is(err, statedir.ErrExposed) {
			log.Warn("client.json may be read by other users; its token is revoked and a new one written (mode 0600)", "clientFile", dir.Join(statedir.ClientFile), "err", err)
			cur, err = dir.ReadExposedClient()
			if err == nil && cur.Token != "" {
				t, err := st.TokenByHash(ctx, store.HashToken(cur.Token))
				switch {
				case err == nil && t.RevokedAt == nil:
					exposed = t
				case err != nil && !errors.Is(err, store.ErrNotFound):
					return "", err
				}
			}
		} else if err == nil && cur.Token != "" {
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
		// One tenant's tokens say whether there are any: the whole
		// table (revoked tokens too) may be more than one read takes.
		list, err := st.TenantTokens(ctx, "", 1)
		if err != nil {
			return "", err
		}
		note := "first start"
		switch {
		case exposed != nil:
			note = "client.json could be read by other users"
		case len(list) > 0:
			note = "client.json missing or its token not live"
		}
		secret, t, err := api.IssueToken(ctx, st, "default", true, note, "server start")
		if err != nil {
			return "", fmt.Errorf("admin token: %w", err)
		}
		log.Info("made an admin token for tenant default", "token", t.ID, "note", note, "clientFile", dir.Join(statedir.ClientFile))
		token = secret
	}
	if exposed != nil {
		// After the new admin token is made (revoking first could revoke
		// the last admin) and before the file is replaced: a start that
		// dies in between leaves the exposed file, its token revoked, and
		// the next start writes it anew.
		id := exposed.ID
		rec, err := audit.NewRecord(api.KindTenant, "", map[string]any{"action": "tokens-revoked", "tenant": exposed.Tenant, "token": id, "by": "server start (client.json could be read by other users)"})
		if err != nil {
			return "", err
		}
		if _, err := st.RevokeTokens(ctx, exposed.Tenant, id, rec); err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("revoke the token of an exposed client.json: %w", err)
		}
		log.Warn("revoked the admin token client.json held while other users could read it", "token", id, "tenant", exposed.Tenant)
	}
	if err := dir.WriteClient(statedir.Client{Server: url, Token: token, Fingerprint: fingerprint}); err != nil {
		return "", err
	}
	return token, nil
}
