package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// slowAudit is a store whose pages of the audit log for tenant a (or for
// every tenant) wait for release, and say when they start.
type slowAudit struct {
	fixtureStore
	started chan struct{}
	release chan struct{}
}

func (s *slowAudit) AuditSelectPage(ctx context.Context, q store.AuditQuery) ([]audit.Entry, int64, error) {
	if q.Tenant == "a" || q.AllTenants {
		s.started <- struct{}{}
		<-s.release
	}
	return s.fixtureStore.AuditSelectPage(ctx, q)
}

// TestLogReadsBounded: a tenant has at most MaxLogReads pages of the audit
// log and the ledger being read on a server; one more is answered 429 at
// once, and another tenant's page is not held back. Only the rate bounded
// them: a page reads up to MaxAuditPageBytes of entries (with all=1,
// every tenant's, whose payloads it then leaves out), and 100 pages at
// once of one tenant's (its rate's burst) over 16 MiB of another's
// entries held 2.1 GB of the server's heap for 20 s.
func TestLogReadsBounded(t *testing.T) {
	sa := &slowAudit{started: make(chan struct{}, 16), release: make(chan struct{})}
	f := newFixtureWith(t, fixtureOptions{Store: func(st fixtureStore) fixtureStore { sa.fixtureStore = st; return sa }, RateLimit: DefaultRateLimit})
	wg, codes := fillThenOverflow(t, MaxLogReads, sa.started, func() int {
		code, _ := f.raw(t, "GET", "/v1/audit?all=1", tokA, "")
		return code
	}, "page of the whole chain")
	// A page let in waits for the release, which comes once these are
	// answered or found waiting.
	for _, path := range []string{"/v1/audit", "/v1/ledger"} {
		type answer struct {
			code int
			e    Error
		}
		got := make(chan answer, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, e := f.raw(t, "GET", path, tokA, "")
			got <- answer{code, e}
		}()
		select {
		case a := <-got:
			if a.code != http.StatusTooManyRequests || a.e.Code != "too_many_log_reads" {
				t.Errorf("GET %s beside %d pages under way: %d %+v, want 429 too_many_log_reads", path, MaxLogReads, a.code, a.e)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("GET %s beside %d pages under way was let in", path, MaxLogReads)
		}
	}
	if code, e := f.raw(t, "GET", "/v1/audit", tokB, ""); code != http.StatusOK {
		t.Errorf("another tenant's page beside a's: %d %+v, want 200", code, e)
	}
	close(sa.release)
	wg.Wait()
	for range MaxLogReads {
		if code := <-codes; code != http.StatusOK {
			t.Errorf("a page let in: %d, want 200", code)
		}
	}
}
