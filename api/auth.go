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
	// seen holds the hashes of tokens the store said were live within
	// SeenFor, by tenant: such a token is read from the store again past
	// CacheFor, but is not refused for its address's failures (Seen), so
	// the clients behind one address (a load balancer, a NAT) keep being
	// served while something beside them sends tokens that fail.
	seen map[string]seenToken
	// gen counts Forget calls: a lookup that began before one does not
	// cache what it read, which may be a token revoked since.
	gen uint64
	// seq counts forgetTenant calls, and forgot holds, by tenant, seq as
	// of its last one: a lookup of a tenant's token that began before it
	// does not cache what it read. One count for every tenant, as gen
	// was, let a tenant's revoked token, replayed, keep every other
	// tenant's lookups in flight from caching (maxForgot bounds it: past
	// it, forgot is emptied and gen counted instead).
	seq    uint64
	forgot map[string]uint64
	// revoked holds the hashes of tokens the store said were revoked
	// (maxRevoked of them, any one making room when full). A revocation
	// is final (a token's id is its hash's, and is never added again),
	// so such a token is refused without reading the store, and its
	// tenant's tokens are forgotten once, when it is first seen: each
	// request with one read the store, walked the cache and the seen
	// tokens under mu, and made the lookups in flight not cache.
	revoked map[string]struct{}
	// hash is the stored form of a secret (store.HashToken when nil).
	hash func(string) string
}

type cachedPrincipal struct {
	p     Principal
	until time.Time
}

type seenToken struct {
	tenant string
	until  time.Time
}

// DefaultCacheFor is how long a token's principal is trusted unread.
const DefaultCacheFor = 2 * time.Second

// maxCached bounds the cache; when full, expired entries make room, or
// else one entry does.
const maxCached = 10000

// SeenFor is how long a token the store said was live is let past its
// address's failures (Seen); maxSeen bounds how many are, the one seen
// longest ago making room.
const (
	SeenFor = 10 * time.Minute
	maxSeen = 10000
)

// maxRevoked bounds the revoked tokens' hashes kept (Auth.revoked);
// maxForgot the tenants whose last forgetting is kept (Auth.forgot).
const (
	maxRevoked = 10000
	maxForgot  = 10000
)

// NewAuth returns an Auth over st.
func NewAuth(st store.Tokens) *Auth {
	return &Auth{Store: st, CacheFor: DefaultCacheFor, Now: time.Now, cache: map[string]cachedPrincipal{}, seen: map[string]seenToken{}}
}

// Seen says whether the store said secret was live within SeenFor, and no
// revocation of its tenant's tokens was seen since. Its holder is let
// past its address's failures: whether it is still live is then read
// from the store, which costs at most one read a CacheFor for each such
// token, and only its holder can make it.
func (a *Auth) Seen(secret string) bool {
	if secret == "" {
		return false
	}
	return a.seenHash(a.hashOf(secret))
}

// hashOf is the stored form of secret. A request's token is hashed once
// (ServeHTTP) and the hash asked about from then on: the cache, the
// address's failures and the store each hashed it again.
func (a *Auth) hashOf(secret string) string {
	if a.hash != nil {
		return a.hash(secret)
	}
	return store.HashToken(secret)
}

// seenHash is Seen of the secret whose hash is h.
func (a *Auth) seenHash(h string) bool {
	now := a.Now()
	a.mu.Lock()
	s, ok := a.seen[h]
	a.mu.Unlock()
	return ok && now.Before(s.until)
}

// sawLive records that the store said h is tenant's live token; a.mu is
// held.
func (a *Auth) sawLive(h, tenant string, now time.Time) {
	if a.seen == nil {
		a.seen = map[string]seenToken{}
	}
	if _, ok := a.seen[h]; !ok && len(a.seen) >= maxSeen {
		oldest, first := "", true
		for k, v := range a.seen {
			if !now.Before(v.until) {
				delete(a.seen, k)
				continue
			}
			if first || v.until.Before(a.seen[oldest].until) {
				oldest, first = k, false
			}
		}
		if len(a.seen) >= maxSeen {
			delete(a.seen, oldest)
		}
	}
	a.seen[h] = seenToken{tenant: tenant, until: now.Add(SeenFor)}
}

// Cached returns the principal of secret when the cache vouches for it,
// without asking the store.
func (a *Auth) Cached(secret string) (Principal, bool) {
	if secret == "" {
		return Principal{}, false
	}
	return a.cachedHash(a.hashOf(secret))
}

// cachedHash is Cached of the secret whose hash is h.
func (a *Auth) cachedHash(h string) (Principal, bool) {
	now := a.Now()
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
	return a.principalHash(ctx, a.hashOf(secret))
}

// principalHash is Principal of the secret whose hash is h.
func (a *Auth) principalHash(ctx context.Context, h string) (Principal, bool, error) {
	now := a.Now()
	a.mu.Lock()
	c, hit := a.cache[h]
	_, revoked := a.revoked[h]
	gen, seq := a.gen, a.seq
	a.mu.Unlock()
	if hit && now.Before(c.until) {
		return c.p, true, nil
	}
	if revoked {
		return Principal{}, false, nil
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
		a.sawRevoked(h, t.Tenant)
		return Principal{}, false, nil
	}
	p := Principal{Tenant: t.Tenant, Admin: t.Admin, TokenID: t.ID}
	a.mu.Lock()
	if a.gen == gen && a.forgot[p.Tenant] <= seq {
		if len(a.cache) >= maxCached {
			a.makeRoom(now)
		}
		a.cache[h] = cachedPrincipal{p: p, until: now.Add(a.CacheFor)}
		a.sawLive(h, p.Tenant, now)
	}
	a.mu.Unlock()
	return p, true, nil
}

// makeRoom frees a place in the full cache: the expired entries, or else
// one entry. Emptying it whole, as before, sent every client's next
// request to the store at once. Called with a.mu held.
func (a *Auth) makeRoom(now time.Time) {
	for h, c := range a.cache {
		if !now.Before(c.until) {
			delete(a.cache, h)
		}
	}
	if len(a.cache) < maxCached {
		return
	}
	for h := range a.cache { // map order: an arbitrary entry
		delete(a.cache, h)
		return
	}
}

// sawRevoked records that the store said h, a token of tenant's, is
// revoked; the first time, it forgets tenant's tokens (forgetTenant).
func (a *Auth) sawRevoked(h, tenant string) {
	a.mu.Lock()
	if _, ok := a.revoked[h]; ok {
		a.mu.Unlock()
		return
	}
	if a.revoked == nil {
		a.revoked = map[string]struct{}{}
	}
	if len(a.revoked) >= maxRevoked {
		for k := range a.revoked { // map order: an arbitrary entry
			delete(a.revoked, k)
			break
		}
	}
	a.revoked[h] = struct{}{}
	a.mu.Unlock()
	a.forgetTenant(tenant)
}

// forgetTenant drops tenant's cached principals, and its tokens seen
// live: after a revocation they are held to their address's failures
// again until the store says they are live. The lookups of tenant's
// tokens in flight do not cache what they read; other tenants' do.
func (a *Auth) forgetTenant(tenant string) {
	a.mu.Lock()
	for h, c := range a.cache {
		if c.p.Tenant == tenant {
			delete(a.cache, h)
		}
	}
	for h, s := range a.seen {
		if s.tenant == tenant {
			delete(a.seen, h)
		}
	}
	if len(a.forgot) >= maxForgot {
		// Emptied, the lookups in flight of the tenants it held are
		// told apart no more: none of them caches.
		a.forgot = nil
		a.gen++
	}
	if a.forgot == nil {
		a.forgot = map[string]uint64{}
	}
	a.seq++
	a.forgot[tenant] = a.seq
	a.mu.Unlock()
}

// Forget drops every cached principal and token seen live, and the
// revoked tokens' hashes kept: a revocation is final through the API, but
// a token brought back by hand in the store, or by a restore, is read
// from the store again after a Forget rather than refused until restart.
func (a *Auth) Forget() {
	a.mu.Lock()
	a.cache = map[string]cachedPrincipal{}
	a.seen = map[string]seenToken{}
	a.revoked = nil
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
	out, err := putTokens(ctx, st, []Token{{Tenant: tenant, Token: secret, Admin: admin}}, note, by)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// putTokens stores the hashes of list's secrets, each audited, in one
// transaction: all of them or none.
func putTokens(ctx context.Context, st store.Tokens, list []Token, note, by string) ([]*store.Token, error) {
	ts := make([]*store.Token, len(list))
	recs := make([]audit.Record, len(list))
	for i, t := range list {
		if !ValidTenant(t.Tenant) {
			return nil, fmt.Errorf("tenant %q: want a DNS label (lowercase letters, digits and '-', at most 63)", t.Tenant)
		}
		if len(t.Token) < 32 {
			return nil, fmt.Errorf("token for %s: want at least 32 characters", t.Tenant)
		}
		h := store.HashToken(t.Token)
		rec, err := audit.NewRecord(KindTenant, "", map[string]any{"action": "token-added", "tenant": t.Tenant, "token": store.TokenID(h), "admin": t.Admin, "note": note, "by": by})
		if err != nil {
			return nil, err
		}
		ts[i] = &store.Token{Tenant: t.Tenant, Hash: h, Admin: t.Admin, Note: note}
		recs[i] = rec
	}
	return st.PutTokens(ctx, ts, recs)
}
