package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/faillimit"
	"meridian.dev/meridian/store"
)

// countingTokens counts the store reads of each token hash.
type countingTokens struct {
	store.Tokens
	reads map[string]*atomic.Int64
	all   atomic.Int64
}

func (c *countingTokens) TokenByHash(ctx context.Context, h string) (*store.Token, error) {
	c.all.Add(1)
	if n := c.reads[h]; n != nil {
		n.Add(1)
	}
	return c.Tokens.TokenByHash(ctx, h)
}

func get(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/v1/runs", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestUnrecognisedTokensBounded: tokens the server does not recognise each
// cost a read of the token store before any tenant's rate limit applies;
// past a burst, an address sending them is answered 429 without one,
// while a token the cache vouches for is still served from that address.
// A revoked token forgets only its own tenant's cached tokens: it emptied
// the whole cache, so that whoever held one turned every tenant's
// requests into reads of the store.
func TestUnrecognisedTokensBounded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const tokC = "tenant-c-token-0123456789abcdef0123456789"
	addTokens(t, f.st, Token{Tenant: "c", Token: tokC})
	rec, _ := audit.NewRecord(KindTenant, "", map[string]string{"action": "revoked"})
	if _, err := f.st.RevokeTokens(ctx, "c", "", rec); err != nil {
		t.Fatal(err)
	}
	ct := &countingTokens{Tokens: f.st, reads: map[string]*atomic.Int64{store.HashToken(tokA): {}}}
	srv := httptest.NewServer(New(f.c, Options{Tokens: ct, Audit: f.st}))
	defer srv.Close()

	if code := get(t, srv.URL, tokA); code != http.StatusOK {
		t.Fatalf("a's first request: %d", code)
	}
	for range 20 {
		if code := get(t, srv.URL, tokC); code != http.StatusUnauthorized {
			t.Fatalf("revoked token: %d, want 401", code)
		}
		if code := get(t, srv.URL, tokA); code != http.StatusOK {
			t.Fatalf("a beside a revoked token: %d", code)
		}
	}
	if n := ct.reads[store.HashToken(tokA)].Load(); n > 2 {
		t.Errorf("a's token was read %d times beside a revoked one, want it cached (at most 2)", n)
	}

	before := ct.all.Load()
	start := time.Now()
	limited := 0
	for i := range 3 * failBurst {
		switch code := get(t, srv.URL, "not-a-token-"+string(rune('a'+i%26))); code {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("unrecognised token: %d", code)
		}
	}
	reads := ct.all.Load() - before
	if most := int64(failBurst + failRate*time.Since(start).Seconds() + 1); limited == 0 || reads > most {
		t.Errorf("%d unrecognised tokens read the store %d times (%d answered 429), want at most %d", 3*failBurst, reads, limited, most)
	}
	if code := get(t, srv.URL, tokA); code != http.StatusOK {
		t.Errorf("a's cached token from the same address during the flood: %d", code)
	}
}

// TestValidTokensServedBesideAFlood: clients behind one address (the load
// balancer in front of the replicas, a NAT) share its failures. A token
// the store said was live is still served from an address that is
// blocked, after its cached principal lapsed: the cache lasts
// DefaultCacheFor and a blocked address got 429 for any token not in it,
// so twenty garbage tokens a second from beside them refused every valid
// client. A token whose tenant's tokens were revoked is held to the
// address's failures again.
func TestValidTokensServedBesideAFlood(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const tokC = "tenant-c-token-0123456789abcdef0123456789"
	addTokens(t, f.st, Token{Tenant: "c", Token: tokC})
	ct := &countingTokens{Tokens: f.st}
	s := New(f.c, Options{Tokens: ct, Audit: f.st})
	var ahead atomic.Int64 // how far the tokens' clock runs ahead
	s.auth.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	srv := httptest.NewServer(s)
	defer srv.Close()

	for _, tok := range []string{tokA, tokC} {
		if code := get(t, srv.URL, tok); code != http.StatusOK {
			t.Fatalf("first request: %d", code)
		}
	}
	flood := func() {
		t.Helper()
		limited := 0
		for i := range 3 * failBurst {
			if code := get(t, srv.URL, "not-a-token-"+string(rune('a'+i%26))); code == http.StatusTooManyRequests {
				limited++
			}
		}
		if limited == 0 {
			t.Fatalf("%d unrecognised tokens and none answered 429", 3*failBurst)
		}
	}
	flood()
	ahead.Add(int64(3 * DefaultCacheFor / 2))
	flood()
	before := ct.all.Load()
	if code := get(t, srv.URL, tokA); code != http.StatusOK {
		t.Errorf("a's token, past its cache, from the flooded address: %d, want 200", code)
	}
	if n := ct.all.Load() - before; n != 1 {
		t.Errorf("a's token past its cache read the store %d times, want once", n)
	}

	// Revoked on another server: the store says so once, and from then
	// on the token waits with the address.
	rec, _ := audit.NewRecord(KindTenant, "", map[string]string{"action": "revoked"})
	if _, err := f.st.RevokeTokens(ctx, "c", "", rec); err != nil {
		t.Fatal(err)
	}
	ahead.Add(int64(3 * DefaultCacheFor / 2))
	if code := get(t, srv.URL, tokC); code != http.StatusUnauthorized {
		t.Errorf("c's revoked token, seen live before: %d, want 401", code)
	}
	flood()
	before = ct.all.Load()
	refused, limited := 0, 0
	for range 10 {
		switch code := get(t, srv.URL, tokC); code {
		case http.StatusUnauthorized: // the address's bucket refilled by one meanwhile
			refused++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("c's revoked token from the flooded address: %d, want 429", code)
		}
	}
	if n := ct.all.Load() - before; limited < 5 || n != int64(refused) {
		t.Errorf("c's revoked token from the flooded address: %d answered 429, %d read the store (%d reads); want it held to the address's failures", limited, refused, n)
	}
	if code := get(t, srv.URL, tokA); code != http.StatusOK {
		t.Errorf("a's token beside c's revocation: %d, want 200", code)
	}
}

// TestSeenTokensBounded: the tokens let past their address's failures
// stay bounded however many are seen live, the one seen longest ago
// making room, and lapse after SeenFor.
func TestSeenTokensBounded(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	a := NewAuth(anyToken{})
	a.Now = func() time.Time { return now }
	ctx := context.Background()
	secret := func(i int) string { return fmt.Sprintf("token-%040d", i) }
	for i := range maxSeen + 500 {
		now = now.Add(time.Millisecond)
		if _, ok, err := a.Principal(ctx, secret(i)); !ok || err != nil {
			t.Fatalf("token %d: %v %v", i, ok, err)
		}
	}
	if n := len(a.seen); n > maxSeen {
		t.Errorf("%d tokens seen live remembered, want at most %d", n, maxSeen)
	}
	if a.Seen(secret(0)) || !a.Seen(secret(maxSeen+499)) {
		t.Error("the token seen longest ago stayed, or the newest did not")
	}
	now = now.Add(SeenFor)
	if a.Seen(secret(maxSeen + 499)) {
		t.Errorf("a token seen live %s ago is still let past its address's failures", SeenFor)
	}
}

// anyToken says every token is tenant t's live token.
type anyToken struct{ store.Tokens }

func (anyToken) TokenByHash(ctx context.Context, h string) (*store.Token, error) {
	return &store.Token{ID: store.TokenID(h), Tenant: "t", Hash: h}, nil
}

// countedTokens is anyToken counting its reads.
type countedTokens struct {
	anyToken
	reads *int
}

func (c countedTokens) TokenByHash(ctx context.Context, h string) (*store.Token, error) {
	*c.reads++
	return c.anyToken.TokenByHash(ctx, h)
}

// TestPrincipalCacheFullKeepsTheRest: a full principal cache was emptied
// whole, so one new token sent every client's next request to the store
// at once. It now makes room with expired entries, or else one entry.
func TestPrincipalCacheFullKeepsTheRest(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	reads := 0
	a := NewAuth(countedTokens{reads: &reads})
	a.Now = func() time.Time { return now }
	ctx := context.Background()
	secret := func(i int) string { return fmt.Sprintf("token-%040d", i) }
	for i := range maxCached + 1 {
		if _, ok, err := a.Principal(ctx, secret(i)); !ok || err != nil {
			t.Fatalf("token %d: %v %v", i, ok, err)
		}
	}
	if n := len(a.cache); n > maxCached {
		t.Fatalf("%d principals cached, want at most %d", n, maxCached)
	}
	reads = 0
	for i := range 1000 {
		if _, ok, err := a.Principal(ctx, secret(i)); !ok || err != nil {
			t.Fatalf("token %d again: %v %v", i, ok, err)
		}
	}
	if reads > 2 {
		t.Errorf("1,000 cached tokens asked again after the cache filled: %d store reads, want at most 2", reads)
	}
	// Expired entries make room first: past CacheFor, a new token leaves
	// the cache with only itself.
	now = now.Add(a.CacheFor)
	if _, ok, err := a.Principal(ctx, secret(maxCached+1)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if n := len(a.cache); n != 1 {
		t.Errorf("%d principals cached after every other expired, want 1", n)
	}
}

// TestTokenHashedOncePerRequest: a request's token is hashed once, however
// far its check goes. A token the cache did not vouch for was hashed for
// the cache, again for the store and, from an address past its failures,
// a third time to ask whether it was seen live.
func TestTokenHashedOncePerRequest(t *testing.T) {
	f := newFixture(t)
	s := New(f.c, Options{Tokens: f.st, Audit: f.st})
	// Failures refill an hour apart, not 50 ms: on a loaded machine the
	// requests after the address is blocked came more than one refill
	// later, and an unknown token was answered 401, not 429.
	s.fails = faillimit.New(rate.Every(time.Hour), failBurst)
	var hashes atomic.Int64
	s.auth.hash = func(secret string) string { hashes.Add(1); return store.HashToken(secret) }
	var ahead atomic.Int64 // how far the tokens' clock runs ahead
	s.auth.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	srv := httptest.NewServer(s)
	defer srv.Close()
	check := func(what, tok string, want int) {
		t.Helper()
		before := hashes.Load()
		if code := get(t, srv.URL, tok); code != want {
			t.Fatalf("%s: status %d, want %d", what, code, want)
		}
		if n := hashes.Load() - before; n != 1 {
			t.Errorf("%s: the token was hashed %d times, want once", what, n)
		}
	}
	check("a token the cache has not seen", tokA, http.StatusOK)
	check("a token the cache vouches for", tokA, http.StatusOK)
	check("an unknown token", "not-a-token-0", http.StatusUnauthorized)
	for i := 0; get(t, srv.URL, "not-a-token-1") != http.StatusTooManyRequests; i++ {
		if i > 10*failBurst {
			t.Fatal("the address is not blocked")
		}
	}
	ahead.Add(int64(3 * DefaultCacheFor / 2))
	check("a token seen live, past its cache, from an address past its failures", tokA, http.StatusOK)
	check("an unknown token from an address past its failures", "not-a-token-2", http.StatusTooManyRequests)
	before := hashes.Load()
	resp, err := http.Get(srv.URL + "/v1/runs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || hashes.Load() != before {
		t.Errorf("no token: status %d, %d hashes; want 401 and none", resp.StatusCode, hashes.Load()-before)
	}
}
