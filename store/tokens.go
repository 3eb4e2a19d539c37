package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"meridian.dev/meridian/audit"
)

// Token is an API token as the store keeps it: only the SHA-256 of the
// secret, never the secret. Tokens are 256-bit random values, so a plain
// hash is enough: nothing can be guessed from it.
type Token struct {
	// ID names the token in listings and revocations (the first 12 hex
	// digits of its hash); it grants nothing.
	ID     string
	Tenant string
	Hash   string
	// Admin tokens may manage tenants and the server's rules; they see no
	// other tenant's runs or data for it.
	Admin     bool
	Note      string
	CreatedAt time.Time
	// RevokedAt is set once the token is revoked; it then grants nothing.
	RevokedAt *time.Time
}

// HashToken is the stored form of a token secret.
func HashToken(secret string) string {
	s := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(s[:])
}

// TokenID is the public id of a token with hash h.
func TokenID(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// Tokens keeps the API's tokens.
type Tokens interface {
	// PutToken adds t (t.Hash set; ID and CreatedAt are filled in) with its
	// audit record, in one transaction.
	PutToken(ctx context.Context, t *Token, rec audit.Record) (*Token, error)
	// PutTokens adds every token of ts, with recs (one audit record each),
	// in one transaction: all of them or, on an error, none.
	PutTokens(ctx context.Context, ts []*Token, recs []audit.Record) ([]*Token, error)
	// TokenByHash returns the token with hash h, revoked or not, or
	// ErrNotFound.
	TokenByHash(ctx context.Context, h string) (*Token, error)
	// ListTokens returns every token, revoked ones too, oldest first.
	ListTokens(ctx context.Context) ([]*Token, error)
	// RevokeTokens revokes the live tokens of tenant (all of them when id is
	// empty, else the one with that id) with its audit record, and returns
	// how many it revoked; none is ErrNotFound. It revokes nothing, and
	// returns ErrLastAdmin, when that would revoke the last live admin
	// tokens: the test and the change are one transaction, so two
	// revocations at once cannot each leave the other's admin as the last.
	RevokeTokens(ctx context.Context, tenant, id string, rec audit.Record) (int, error)
}

// liveAdminsQuery counts the live admin tokens, before and after a
// revocation (ErrLastAdmin).
const liveAdminsQuery = `SELECT COUNT(*) FROM tokens WHERE admin AND revoked_at IS NULL`

// ErrLastAdmin is RevokeTokens' refusal to leave no live admin token.
var ErrLastAdmin = errors.New("that would revoke the last live admin token")
