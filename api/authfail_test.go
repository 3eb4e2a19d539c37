package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
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
