package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// slowOutput is a run's output of 16 MiB whose opening waits for release,
// as one read from a site's scheduler of unknown size does, or a page
// held by a client that reads it slowly. started says each opening began.
type slowOutput struct {
	longLogs
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *slowOutput) OpenLogs(ctx context.Context, tenant, id string, off, limit int64) (io.ReadCloser, int64, error) {
	s.started <- struct{}{}
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	return s.longLogs.OpenLogs(ctx, tenant, id, off, limit)
}

// TestOutputReadsBounded: a tenant's pages of a run's output (no follow)
// under way are held to MaxOutputReads; one more is answered 429
// too_many_output_reads with a Retry-After, without opening the output,
// while another tenant's page is served. Before, the route took no slot
// but with follow=1, and a tenant's thousands of slow page reads each
// held a read of the site's output and up to 16 MiB of it.
func TestOutputReadsBounded(t *testing.T) {
	s := &slowOutput{longLogs: longLogs{size: 16 << 20}, started: make(chan struct{}, 64), release: make(chan struct{})}
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { s.Controller = c; return s }, RateLimit: DefaultRateLimit})
	get := func(tok string) (int, string, Error) {
		req, _ := http.NewRequest("GET", f.srv.URL+"/v1/runs/run-x/logs?limit=1", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, "", Error{}
		}
		defer resp.Body.Close()
		var e struct {
			Error Error `json:"error"`
		}
		if resp.StatusCode >= 400 {
			json.NewDecoder(resp.Body).Decode(&e)
		}
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After"), e.Error
	}
	wg, codes := fillThenOverflow(t, MaxOutputReads, s.started, func() int {
		code, _, _ := get(tokA)
		return code
	}, "page of a run's output")
	code, retry, e := get(tokA)
	if code != http.StatusTooManyRequests || e.Code != "too_many_output_reads" || retry == "" {
		t.Errorf("a page beside %d under way: %d %+v (Retry-After %q), want 429 too_many_output_reads with a Retry-After", MaxOutputReads, code, e, retry)
	}
	other := make(chan int, 1)
	wg.Add(1)
	go func() { defer wg.Done(); c, _, _ := get(tokB); other <- c }()
	select {
	case <-s.started:
	case c := <-other:
		t.Errorf("another tenant's page beside a's: %d, want it let in", c)
	case <-time.After(10 * time.Second):
		t.Errorf("another tenant's page beside a's was not let in")
	}
	close(s.release)
	wg.Wait()
	for range MaxOutputReads {
		if code := <-codes; code != http.StatusOK {
			t.Errorf("a page let in: %d, want 200", code)
		}
	}
	if c := <-other; c != http.StatusOK {
		t.Errorf("another tenant's page: %d, want 200", c)
	}
}
