package api

import (
	"context"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/store"
)

// tokenReads is a token store of a few tokens that counts how often
// each hash is read, and runs during[h] while h is being read (another
// request's lookup in flight meanwhile). Only TokenByHash is served.
type tokenReads struct {
	store.Tokens
	tokens map[string]*store.Token
	during map[string]func()
	mu     sync.Mutex
	reads  map[string]int
}

func (c *tokenReads) TokenByHash(ctx context.Context, h string) (*store.Token, error) {
	c.mu.Lock()
	c.reads[h]++
	c.mu.Unlock()
	if f := c.during[h]; f != nil {
		f()
	}
	t, ok := c.tokens[h]
	if !ok {
		return nil, store.ErrNotFound
	}
	cp := *t
	return &cp, nil
}

func (c *tokenReads) readsOf(h string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads[h]
}

// TestRevokedTokenReplayed: a tenant's revoked token, sent 1,000 times
// beside another tenant's live token, each of whose store reads it races,
// is read from the store once (a revocation is final) and does not keep
// the other tenant's token from being cached: its store is read once.
// Before, each request with the revoked token read the store, walked the
// cache and the seen tokens under the one lock and counted a generation
// shared by every tenant, so that the other tenant's lookup in flight
// cached nothing and its every request read the store.
func TestRevokedTokenReplayed(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	revokedAt := now.Add(-time.Hour)
	hA, hB := store.HashToken(tokA), store.HashToken(tokB)
	ts := &tokenReads{
		tokens: map[string]*store.Token{
			hA: {ID: store.TokenID(hA), Tenant: "alpha", Hash: hA, RevokedAt: &revokedAt},
			hB: {ID: store.TokenID(hB), Tenant: "beta", Hash: hB},
		},
		reads: map[string]int{},
	}
	a := NewAuth(ts)
	a.Now = func() time.Time { return now }
	ts.during = map[string]func(){hB: func() {
		if _, ok, err := a.Principal(ctx, tokA); ok || err != nil {
			t.Errorf("the revoked token, while beta's is read: ok %v, %v; want refused", ok, err)
		}
	}}
	for i := range 1000 {
		if p, ok, err := a.Principal(ctx, tokB); !ok || err != nil || p.Tenant != "beta" {
			t.Fatalf("request %d with beta's token: %+v %v %v", i, p, ok, err)
		}
		if _, ok, err := a.Principal(ctx, tokA); ok || err != nil {
			t.Fatalf("request %d with alpha's revoked token: ok %v, %v; want refused", i, ok, err)
		}
	}
	if n := ts.readsOf(hA); n != 1 {
		t.Errorf("the revoked token was read from the store %d times in 1,000 requests, want once", n)
	}
	if n := ts.readsOf(hB); n != 1 {
		t.Errorf("beta's token was read from the store %d times in 1,000 requests beside the revoked one, want once (then cached)", n)
	}
	if _, ok := a.Cached(tokB); !ok {
		t.Errorf("beta's token is not cached")
	}
}

// TestRevocationSeenForgetsOnlyItsTenant: a revocation first seen while a
// lookup of the same tenant's other token is in flight keeps that lookup
// from caching (the tenant's tokens may have been revoked together),
// while another tenant's lookup in flight caches.
func TestRevocationSeenForgetsOnlyItsTenant(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	revokedAt := now.Add(-time.Hour)
	const tokA2 = "cccccccccccccccccccccccccccccccccccccccc"
	hA, hA2, hB := store.HashToken(tokA), store.HashToken(tokA2), store.HashToken(tokB)
	ts := &tokenReads{
		tokens: map[string]*store.Token{
			hA:  {ID: store.TokenID(hA), Tenant: "alpha", Hash: hA, RevokedAt: &revokedAt},
			hA2: {ID: store.TokenID(hA2), Tenant: "alpha", Hash: hA2},
			hB:  {ID: store.TokenID(hB), Tenant: "beta", Hash: hB},
		},
		reads: map[string]int{},
	}
	a := NewAuth(ts)
	a.Now = func() time.Time { return now }
	ts.during = map[string]func(){
		hA2: func() { a.Principal(ctx, tokA) },
	}
	if _, ok, _ := a.Principal(ctx, tokA2); !ok {
		t.Fatal("alpha's live token refused")
	}
	if _, ok := a.Cached(tokA2); ok {
		t.Errorf("alpha's token read while alpha's revocation was first seen was cached")
	}
	ts.during = map[string]func(){
		hB: func() { a.forgetTenant("alpha") },
	}
	if _, ok, _ := a.Principal(ctx, tokB); !ok {
		t.Fatal("beta's live token refused")
	}
	if _, ok := a.Cached(tokB); !ok {
		t.Errorf("beta's token read while alpha's tokens were forgotten was not cached")
	}
}

// TestForgetClearsRevoked: a token the store said was revoked, then
// brought back in the store (un-revoked by hand, or a restore), is
// accepted after Forget. Before, the revoked hashes kept were never
// dropped: such a token stayed refused until the server restarted.
func TestForgetClearsRevoked(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	revokedAt := now.Add(-time.Hour)
	hA := store.HashToken(tokA)
	ts := &tokenReads{
		tokens: map[string]*store.Token{hA: {ID: store.TokenID(hA), Tenant: "alpha", Hash: hA, RevokedAt: &revokedAt}},
		reads:  map[string]int{},
	}
	a := NewAuth(ts)
	a.Now = func() time.Time { return now }
	if _, ok, err := a.Principal(ctx, tokA); ok || err != nil {
		t.Fatalf("the revoked token: ok %v, %v; want refused", ok, err)
	}
	ts.tokens[hA] = &store.Token{ID: store.TokenID(hA), Tenant: "alpha", Hash: hA}
	a.Forget()
	if p, ok, err := a.Principal(ctx, tokA); !ok || err != nil || p.Tenant != "alpha" {
		t.Errorf("the token un-revoked in the store, after Forget: %+v, ok %v, %v; want alpha's", p, ok, err)
	}
}
