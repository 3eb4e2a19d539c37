package api

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/dataset"
)

// slowVerify is a Controller whose verifications wait until released, as
// one of a large dataset at a slow store does.
type slowVerify struct {
	Controller
	started chan struct{}
	release chan struct{}
}

func (c *slowVerify) VerifyDataset(ctx context.Context, tenant, name, site string) (*dataset.VerifyReport, error) {
	c.started <- struct{}{}
	select {
	case <-c.release:
	case <-ctx.Done():
	}
	return &dataset.VerifyReport{}, nil
}

// TestLongCallsBounded: a tenant has at most MaxLongCalls stagings and
// verifications under way on a server; one more is answered 429 at once,
// another tenant's are not held back by them, and once one ends the
// tenant may start another. Its rate limit, paid once a call, let it keep
// about twenty verifications (each reading every chunk of a dataset) going
// at once.
func TestLongCallsBounded(t *testing.T) {
	sv := &slowVerify{started: make(chan struct{}, 16), release: make(chan struct{})}
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { sv.Controller = c; return sv }})
	call := func(token string) int {
		code, _ := f.raw(t, "POST", "/v1/datasets/corpus/verify", token, `{"site": "alpha"}`)
		return code
	}
	var wg sync.WaitGroup
	codes := make(chan int, MaxLongCalls)
	for range MaxLongCalls {
		wg.Add(1)
		go func() { defer wg.Done(); codes <- call(tokA) }()
	}
	for range MaxLongCalls {
		select {
		case <-sv.started:
		case <-time.After(10 * time.Second):
			t.Fatal("the first verifications did not start")
		}
	}
	extra := make(chan int, 1)
	wg.Add(1)
	go func() { defer wg.Done(); extra <- call(tokA) }()
	select {
	case code := <-extra:
		if code != http.StatusTooManyRequests {
			t.Errorf("a verification past the tenant's %d under way: %d, want 429", MaxLongCalls, code)
		}
	case <-sv.started:
		t.Errorf("a verification past the tenant's %d under way was let in", MaxLongCalls)
	case <-time.After(5 * time.Second):
		t.Fatal("no answer to a verification past the tenant's limit")
	}
	other := make(chan int, 1)
	go func() { other <- call(tokB) }()
	select {
	case <-sv.started:
	case <-time.After(10 * time.Second):
		t.Fatal("another tenant's verification was held back")
	}
	sv.release <- struct{}{}
	if code := <-codes; code != http.StatusOK {
		t.Errorf("a verification that ran: %d", code)
	}
	go func() { codes <- call(tokA) }()
	select {
	case <-sv.started:
	case <-time.After(10 * time.Second):
		t.Fatal("a verification after one ended did not start")
	}
	close(sv.release)
	wg.Wait()
	<-other
}
