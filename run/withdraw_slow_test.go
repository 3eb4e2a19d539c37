package run

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/transfer"
)

// TestAttackSlowSiteStoreWithdrawal: a site's store that takes every
// request and never answers holds a withdrawal only until its deadline,
// which says why; nothing is recorded as withdrawn. The law check runs on
// the controller's loop, and such a store held it, and with it every
// run's steps, for as long as the server's requests could wait.
func TestAttackSlowSiteStoreWithdrawal(t *testing.T) {
	var reqs atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		<-r.Context().Done()
	}))
	defer srv.Close()
	e := newEnv(t, nil)
	old := withdrawTimeout
	withdrawTimeout = time.Second
	defer func() { withdrawTimeout = old }()
	site := &catalog.Site{}
	site.Metadata.Name = "slow"
	site.Spec.Country = "SG"
	site.Spec.Store = "s3://bkt?anonymous=true&use_path_style=true&region=us-east-1&endpoint=" + srv.URL
	ds := &catalog.Dataset{}
	ds.Metadata.Name = "corpus"
	ds.Spec.Origin = "CN"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := e.c.withdraw(ctx, stagedCopy{tenant: "t1", dataset: "corpus", site: "slow"}, ds.Spec.Origin, site, policy.Decision{}, 1, ruleDays{})
	took := time.Since(start)
	if !errors.Is(err, errWithdrawSlow) || took > 10*time.Second {
		t.Fatalf("withdrawal from a store that never answers: %v after %v (%d requests); want errWithdrawSlow within seconds", err, took, reqs.Load())
	}
	if reqs.Load() == 0 {
		t.Fatal("the withdrawal sent the store no request")
	}
	// Another copy at the same store in the same pass is not tried: each
	// would hold the controller's loop for the whole deadline in turn.
	before := reqs.Load()
	start = time.Now()
	_, err = e.c.withdraw(ctx, stagedCopy{tenant: "t1", dataset: "corpus-2", site: "slow"}, ds.Spec.Origin, site, policy.Decision{}, 1, ruleDays{})
	if took := time.Since(start); !errors.Is(err, errWithdrawSlow) || took > withdrawTimeout/2 || reqs.Load() != before {
		t.Fatalf("a second copy at the store that timed out: %v after %v (%d more requests); want errWithdrawSlow at once, with no request",
			err, took, reqs.Load()-before)
	}
	// Nor is it refused for ever: a withdrawal in no pass of the law
	// check (the sweep of a run's left site) tries the store again once
	// the mark is older than slowFor.
	time.Sleep(slowFor() + 100*time.Millisecond)
	before = reqs.Load()
	if _, err = e.c.withdraw(ctx, stagedCopy{tenant: "t1", dataset: "corpus-3", site: "slow"}, ds.Spec.Origin, site, policy.Decision{}, 1, ruleDays{}); !errors.Is(err, errWithdrawSlow) || reqs.Load() == before {
		t.Fatalf("a copy at the store after the slow mark's time: %v (%d more requests); want the store tried again", err, reqs.Load()-before)
	}
	es, err := e.st.AuditEntries(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range es {
		if a.Kind == transfer.KindWithdrawn {
			t.Fatalf("a withdrawal that did not complete was recorded: %s", a.Payload)
		}
	}
}
