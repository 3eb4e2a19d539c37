package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// Principal is who a request's token speaks for.
type Principal struct {
	Tenant string
	// Admin tokens may manage tenants and tokens and the server's rules,
	// and see what a rules change would move across tenants (what-if);
	// through the run and data routes an admin is an ordinary tenant and
	// sees only its own runs and data.
	Admin   bool
	TokenID string
}

type principalKey struct{}

// PrincipalOf returns the authenticated principal of a request that passed
// the Server's authentication (every route but the public ones).
func PrincipalOf(r *http.Request) Principal {
	p, _ := r.Context().Value(principalKey{}).(Principal)
	return p
}

func tenantOf(r *http.Request) string { return PrincipalOf(r).Tenant }

// Auth maps bearer tokens to principals through the store, which keeps only
// tokens' hashes. A live token's principal is cached for CacheFor (so that
// a request does not cost a database read); a revocation takes effect at
// once on the server that revoked and within CacheFor on the others.
type Auth struct {
	Store    store.Tokens
	CacheFor time.Duration
	Now      func() time.Time

	mu    sync.Mutex
	cache map[string]cachedPrincipal
	// gen counts Forget calls: a lookup that began before one does not
	// cache what it read, which may be a token revoked since.
	gen uint64
}

type cachedPrincipal struct {
	p     Principal
	until time.Time
}

// DefaultCacheFor is how long a token's principal is trusted unread.
const DefaultCacheFor = 2 * time.Second

// maxCached bounds the cache; it is emptied when full.
const maxCached = 10000

// NewAuth returns an Auth over st.
func NewAuth(st store.Tokens) *Auth {
	return &Auth{Store: st, CacheFor: DefaultCacheFor, Now: time.Now, cache: map[string]cachedPrincipal{}}
}

// Cached returns the principal of secret when the cache vouches for it,
// without asking the store.
func (a *Auth) Cached(secret string) (Principal, bool) {
	if secret == "" {
		return Principal{}, false
	}
	h, now := store.HashToken(secret), a.Now()
	a.mu.Lock()
	c, hit := a.cache[h]
	a.mu.Unlock()
	if hit && now.Before(c.until) {
		return c.p, true
	}
	return Principal{}, false
}

// Principal returns the principal of secret; ok is false for an unknown or
// revoked token. err is a failure to ask the store.
func (a *Auth) Principal(ctx context.Context, secret string) (Principal, bool, error) {
	if secret == "" {
		return Principal{}, false, nil
	}
	h := store.HashToken(secret)
	now := a.Now()
	a.mu.Lock()
	c, hit := a.cache[h]
	gen := a.gen
	a.mu.Unlock()
	if hit && now.Before(c.until) {
		return c.p, true, nil
	}
	t, err := a.Store.TokenByHash(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, false, nil
	}
	if err != nil {
		return Principal{}, false, err
	}
	if t.RevokedAt != nil {
		// Revoked on another server, which may have revoked the
		// tenant's other tokens with it (a tenant deleted): those are
		// read again. Other tenants' stay cached.
		a.forgetTenant(t.Tenant)
		return Principal{}, false, nil
	}
	p := Principal{Tenant: t.Tenant, Admin: t.Admin, TokenID: t.ID}
	a.mu.Lock()
	if a.gen == gen {
		if len(a.cache) >= maxCached {
			a.cache = map[string]cachedPrincipal{}
		}
		a.cache[h] = cachedPrincipal{p: p, until: now.Add(a.CacheFor)}
	}
	a.mu.Unlock()
	return p, true, nil
}

// forgetTenant drops tenant's cached principals.
func (a *Auth) forgetTenant(tenant string) {
	a.mu.Lock()
	for h, c := range a.cache {
		if c.p.Tenant == tenant {
			delete(a.cache, h)
		}
	}
	a.gen++
	a.mu.Unlock()
}

// Forget drops every cached principal (after a revocation).
func (a *Auth) Forget() {
	a.mu.Lock()
	a.cache = map[string]cachedPrincipal{}
	a.gen++
	a.mu.Unlock()
}

// KindTenant is the audit kind of token and tenant changes.
const KindTenant = "tenant"

// IssueToken creates a new random token for tenant in st, audited, and
// returns its secret, which is shown once and stored nowhere.
func IssueToken(ctx context.Context, st store.Tokens, tenant string, admin bool, note, by string) (string, *store.Token, error) {
	secret := NewToken()
	t, err := AddToken(ctx, st, tenant, secret, admin, note, by)
	return secret, t, err
}

// AddToken stores the hash of a given secret for tenant, audited (for
// tokens brought from an older server's tokens.json, and for tests).
func AddToken(ctx context.Context, st store.Tokens, tenant, secret string, admin bool, note, by string) (*store.Token, error) {
	if !ValidTenant(tenant) {
		return nil, fmt.Errorf("tenant %q: want a DNS label (lowercase letters, digits and '-', at most 63)", tenant)
	}
	if len(secret) < 32 {
		return nil, fmt.Errorf("token for %s: want at least 32 characters", tenant)
	}
	h := store.HashToken(secret)
	rec, err := audit.NewRecord(KindTenant, "", map[string]any{"action": "token-added", "tenant": tenant, "token": store.TokenID(h), "admin": admin, "note": note, "by": by})
	if err != nil {
		return nil, err
	}
	return st.PutToken(ctx, &store.Token{Tenant: tenant, Hash: h, Admin: admin, Note: note}, rec)
}
