package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// RunShared runs what two handles on one database must show: what two
// server replicas, each with its own handle, rely on. open returns two
// handles on one fresh, empty database (cleanup is the caller's).
func RunShared(t *testing.T, open func(t *testing.T) (a, b store.Store)) {
	t.Run("AuditAppendsFromTwoHandles", func(t *testing.T) { a, b := open(t); sharedAudit(t, a, b) })
	t.Run("LeaseHasOneHolder", func(t *testing.T) { a, b := open(t); sharedLease(t, a, b) })
	t.Run("LeaseReleasedWhileContended", func(t *testing.T) { a, b := open(t); releasedWhileContended(t, a, b) })
	t.Run("FencedWriterLosesToNewHolder", func(t *testing.T) { a, b := open(t); sharedFence(t, a, b) })
	t.Run("UpdatesFromTwoHandles", func(t *testing.T) { a, b := open(t); sharedUpdates(t, a, b) })
	t.Run("IdempotentCreateFromTwoHandles", func(t *testing.T) { a, b := open(t); sharedIdempotency(t, a, b) })
	t.Run("RuleRevisionsFromTwoHandles", func(t *testing.T) { a, b := open(t); sharedRuleRevisions(t, a, b) })
	t.Run("FencedLawCheck", func(t *testing.T) { a, b := open(t); sharedLawCheck(t, a, b) })
	t.Run("LimitsFromTwoHandles", func(t *testing.T) { a, b := open(t); racingLimits(t, a, b) })
	t.Run("LastAdminFromTwoHandles", func(t *testing.T) { a, b := open(t); racingAdmins(t, a, b) })
	t.Run("StoreKeyFromTwoHandles", func(t *testing.T) { a, b := open(t); racingStoreKey(t, a, b) })
	t.Run("ResourcesInEitherOrder", func(t *testing.T) { a, b := open(t); resourcesInEitherOrder(t, a, b) })
	t.Run("PutResourceReturnsItsWrite", func(t *testing.T) { a, b := open(t); putReturnsItsWrite(t, a, b) })
	t.Run("RekeyClashFromTwoHandles", func(t *testing.T) { a, b := open(t); racingRekeyClash(t, a, b) })
}

// either is a for even i and b for odd: contenders spread over two
// handles.
func either(a, b store.Store, i int) store.Store {
	if i%2 == 1 {
		return b
	}
	return a
}

func lease(t *testing.T, s store.Store) {
	ctx := context.Background()
	const ttl = 300 * time.Millisecond
	l, err := s.TryLease(ctx, store.ControllerLease, "r1", ttl)
	if err != nil || l.Holder != "r1" || l.Epoch != 1 {
		t.Fatalf("first take: %+v %v", l, err)
	}
	// Renewing keeps the epoch; another holder is refused while it lives.
	l2, err := s.TryLease(ctx, store.ControllerLease, "r1", ttl)
	if err != nil || l2.Holder != "r1" || l2.Epoch != 1 || l2.Expires.Before(l.Expires) {
		t.Fatalf("renew: %+v (was %+v) %v", l2, l, err)
	}
	other, err := s.TryLease(ctx, store.ControllerLease, "r2", ttl)
	if err != nil || other.Holder != "r1" || other.Epoch != 1 {
		t.Fatalf("take while held: %+v %v", other, err)
	}
	// Leases are independent by name.
	if x, err := s.TryLease(ctx, "other", "r2", ttl); err != nil || x.Holder != "r2" || x.Epoch != 1 {
		t.Fatalf("second lease: %+v %v", x, err)
	}
	// Once it expires, another takes it with the next epoch.
	time.Sleep(2 * ttl)
	got, err := s.TryLease(ctx, store.ControllerLease, "r2", ttl)
	if err != nil || got.Holder != "r2" || got.Epoch != 2 {
		t.Fatalf("take after expiry: %+v %v", got, err)
	}
	if back, _ := s.TryLease(ctx, store.ControllerLease, "r1", ttl); back.Holder != "r2" {
		t.Errorf("old holder renewed a lease it lost: %+v", back)
	}
	// A release by a non-holder does nothing; the holder's release frees it.
	if err := s.ReleaseLease(ctx, store.ControllerLease, "r1", 2); err != nil {
		t.Fatal(err)
	}
	if x, _ := s.TryLease(ctx, store.ControllerLease, "r3", ttl); x.Holder != "r2" {
		t.Errorf("release by a non-holder freed the lease: %+v", x)
	}
	if err := s.ReleaseLease(ctx, store.ControllerLease, "r2", 2); err != nil {
		t.Fatal(err)
	}
	if x, err := s.TryLease(ctx, store.ControllerLease, "r3", ttl); err != nil || x.Holder != "r3" || x.Epoch != 3 {
		t.Errorf("take after release: %+v %v", x, err)
	}
}

func fence(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, _, err := s.CreateRun(ctx, newRun("r1", "a"), "", store.Change{}); err != nil {
		t.Fatal(err)
	}
	noLease := store.WithFence(ctx, store.Fence{Lease: "ctl", Epoch: 1})
	if _, err := s.UpdateRun(noLease, "r1", func(r *store.Run) (store.Change, error) { r.State = "x"; return store.Change{}, nil }); !errors.Is(err, store.ErrFenced) {
		t.Errorf("write fenced on a lease nobody holds: %v", err)
	}
	l, err := s.TryLease(ctx, "ctl", "me", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	cur := store.WithFence(ctx, store.Fence{Lease: "ctl", Epoch: l.Epoch})
	if err := s.CheckFence(ctx, store.Fence{Lease: "ctl", Epoch: l.Epoch}); err != nil {
		t.Errorf("check current fence: %v", err)
	}
	if _, err := s.UpdateRun(cur, "r1", func(r *store.Run) (store.Change, error) {
		r.State = "staging"
		return store.Change{Audit: []audit.Record{rec(t, audit.KindState, "r1", 1)}}, nil
	}); err != nil {
		t.Fatalf("write at the current epoch: %v", err)
	}
	stale := store.WithFence(ctx, store.Fence{Lease: "ctl", Epoch: l.Epoch - 1})
	_, err = s.UpdateRun(stale, "r1", func(r *store.Run) (store.Change, error) {
		r.State = "queued"
		return store.Change{Events: []store.Event{{Kind: "state"}}, Audit: []audit.Record{rec(t, audit.KindState, "r1", 2)}}, nil
	})
	if !errors.Is(err, store.ErrFenced) {
		t.Fatalf("stale write: %v", err)
	}
	if err := s.CheckFence(ctx, store.Fence{Lease: "ctl", Epoch: l.Epoch - 1}); !errors.Is(err, store.ErrFenced) {
		t.Errorf("check stale fence: %v", err)
	}
	r, _ := s.GetRun(ctx, "r1")
	es, _ := s.AuditEntries(ctx, "")
	evs, _ := s.Events(ctx, "r1")
	if r.State != "staging" || r.Version != 2 || len(es) != 1 || len(evs) != 0 {
		t.Errorf("a fenced write changed something: state %s version %d, %d audit entries, %d events", r.State, r.Version, len(es), len(evs))
	}
	// Unfenced writes (a tenant's cancel, an agent's report) need no lease.
	if _, err := s.UpdateRun(ctx, "r1", func(r *store.Run) (store.Change, error) { r.Handle = "h"; return store.Change{}, nil }); err != nil {
		t.Errorf("unfenced write: %v", err)
	}
}

func heartbeats(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, ok, err := s.SilentFor(ctx, "r1", 1); err != nil || ok {
		t.Fatalf("never heard: %v %v", ok, err)
	}
	if err := s.Heard(ctx, "r1", 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	d, ok, err := s.SilentFor(ctx, "r1", 1)
	if err != nil || !ok || d < 40*time.Millisecond || d > time.Minute {
		t.Fatalf("silent for %v %v %v", d, ok, err)
	}
	if err := s.Heard(ctx, "r1", 1); err != nil {
		t.Fatal(err)
	}
	if d2, _, _ := s.SilentFor(ctx, "r1", 1); d2 >= d {
		t.Errorf("a second report did not reset the silence: %v then %v", d, d2)
	}
	if _, ok, _ := s.SilentFor(ctx, "r1", 2); ok {
		t.Error("another attempt shares the first's reports")
	}
}

func tokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	h1, h2, h3 := store.HashToken("secret-one"), store.HashToken("secret-two"), store.HashToken("secret-three")
	admin, err := s.PutToken(ctx, &store.Token{Tenant: "default", Hash: h1, Admin: true, Note: "first start"}, rec(t, "tenant", "", 1))
	if err != nil || admin.ID != store.TokenID(h1) || !admin.Admin || admin.CreatedAt.IsZero() {
		t.Fatalf("put admin: %+v %v", admin, err)
	}
	if _, err := s.PutToken(ctx, &store.Token{Tenant: "acme", Hash: h2}, rec(t, "tenant", "", 2)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutToken(ctx, &store.Token{Tenant: "acme", Hash: h3}, rec(t, "tenant", "", 3)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutToken(ctx, &store.Token{Tenant: "zeta", Hash: h2}, rec(t, "tenant", "", 4)); err == nil {
		t.Error("the same token hash was added twice")
	}
	// A batch that fails on one token adds none of them, and audits nothing.
	h4 := store.HashToken("secret-four")
	batch := []*store.Token{{Tenant: "zeta", Hash: h4}, {Tenant: "zeta", Hash: h2}}
	if _, err := s.PutTokens(ctx, batch, []audit.Record{rec(t, "tenant", "", 4), rec(t, "tenant", "", 4)}); err == nil {
		t.Error("a batch repeating a stored token hash was added")
	}
	if _, err := s.TokenByHash(ctx, h4); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed batch kept its first token: %v", err)
	}
	got, err := s.TokenByHash(ctx, h2)
	if err != nil || got.Tenant != "acme" || got.Admin || got.RevokedAt != nil {
		t.Fatalf("by hash: %+v %v", got, err)
	}
	if _, err := s.TokenByHash(ctx, store.HashToken("nope")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown hash: %v", err)
	}
	if _, err := s.RevokeTokens(ctx, "acme", "nope", rec(t, "tenant", "", 5)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke unknown id: %v", err)
	}
	if n, err := s.RevokeTokens(ctx, "acme", store.TokenID(h2), rec(t, "tenant", "", 6)); err != nil || n != 1 {
		t.Fatalf("revoke one: %d %v", n, err)
	}
	if got, _ := s.TokenByHash(ctx, h2); got.RevokedAt == nil {
		t.Error("revoked token has no revocation time")
	}
	if got, _ := s.TokenByHash(ctx, h3); got.RevokedAt != nil {
		t.Error("revoking one token revoked the tenant's other")
	}
	if n, err := s.RevokeTokens(ctx, "acme", "", rec(t, "tenant", "", 7)); err != nil || n != 1 {
		t.Fatalf("revoke the rest: %d %v", n, err)
	}
	if _, err := s.RevokeTokens(ctx, "acme", "", rec(t, "tenant", "", 8)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke with nothing live: %v", err)
	}
	// The only live admin token is not revoked, and nothing is audited.
	if _, err := s.RevokeTokens(ctx, "default", "", rec(t, "tenant", "", 9)); !errors.Is(err, store.ErrLastAdmin) {
		t.Errorf("revoke the last admin: %v, want ErrLastAdmin", err)
	}
	if got, _ := s.TokenByHash(ctx, h1); got.RevokedAt != nil {
		t.Error("the refused revocation revoked the last admin token")
	}
	list, err := s.ListTokens(ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("list: %v %v", list, err)
	}
	var ids []string
	for _, x := range list {
		ids = append(ids, x.ID)
	}
	if diff := cmp.Diff([]string{store.TokenID(h1), store.TokenID(h2), store.TokenID(h3)}, ids); diff != "" {
		t.Errorf("list order: %s", diff)
	}
	// Every addition and revocation is audited; refusals are not.
	if res, _ := s.VerifyAudit(ctx); !res.OK || res.Entries != 5 {
		t.Errorf("audit of token changes: %+v", res)
	}
}

func countRuns(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i, st := range []string{"queued", "queued", "running", "queued"} {
		r := newRun(fmt.Sprintf("r%d", i), "a")
		r.State, r.Site = st, "s1"
		if i == 3 {
			r.Site = "s2"
		}
		if _, _, err := s.CreateRun(ctx, r, "", store.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.CountRuns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.RunCount{{State: "queued", Site: "s1", N: 2}, {State: "queued", Site: "s2", N: 1}, {State: "running", Site: "s1", N: 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

func sharedAudit(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		s := a
		if g%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func(g int, s store.Store) {
			defer wg.Done()
			for i := 0; i < 15; i++ {
				id := fmt.Sprintf("g%d-%d", g, i)
				var err error
				if i%3 == 0 {
					err = s.AppendAudit(ctx, rec(t, audit.KindTransfer, id, i), rec(t, audit.KindTransfer, id, i+1))
				} else {
					_, _, err = s.CreateRun(ctx, newRun(id, "t"), "", store.Change{Audit: []audit.Record{rec(t, audit.KindPlan, id, i)}})
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}(g, s)
	}
	wg.Wait()
	// 6 goroutines × (5 double appends + 10 single) = 120 entries, linear.
	for _, s := range []store.Store{a, b} {
		res, err := s.VerifyAudit(ctx)
		if err != nil || !res.OK || res.Entries != 120 {
			t.Fatalf("verify: %+v %v", res, err)
		}
		seq, head, err := s.AuditHead(ctx)
		if err != nil || seq != 120 || head != res.Head {
			t.Errorf("head %d %s %v, verified head %s", seq, head, err, res.Head)
		}
	}
	es, _ := a.AuditEntries(ctx, "")
	for i := 1; i < len(es); i++ {
		if es[i].Time < es[i-1].Time {
			t.Errorf("entry %d's time %s is before entry %d's %s", es[i].Seq, es[i].Time, es[i-1].Seq, es[i-1].Time)
		}
	}
}

func sharedLease(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	// Many contenders on two handles, at once: exactly one holds the lease.
	var wg sync.WaitGroup
	holders := make([]store.Lease, 8)
	for i := range holders {
		s := either(a, b, i)
		wg.Add(1)
		go func(i int, s store.Store) {
			defer wg.Done()
			l, err := s.TryLease(ctx, store.ControllerLease, fmt.Sprintf("replica-%d", i), time.Minute)
			if err != nil {
				t.Error(err)
			}
			holders[i] = l
		}(i, s)
	}
	wg.Wait()
	won := 0
	for i, l := range holders {
		if l.Holder == fmt.Sprintf("replica-%d", i) {
			won++
		}
		if l.Epoch != 1 {
			t.Errorf("contender %d saw epoch %d", i, l.Epoch)
		}
	}
	if won != 1 {
		t.Errorf("%d contenders think they hold the lease: %+v", won, holders)
	}
}

// releasedWhileContended has one handle take and give back a lease over and
// over while the other tries for it: a contender whose try meets a lease
// given back a moment before must see it as free or held, never fail on
// how a given-back lease is stored.
func releasedWhileContended(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	const name, rounds = "contended", 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < rounds; i++ {
			l, err := a.TryLease(ctx, name, "a", time.Minute)
			if err != nil {
				t.Errorf("holder, round %d: %v", i, err)
				return
			}
			if l.Holder == "a" {
				if err := a.ReleaseLease(ctx, name, "a", l.Epoch); err != nil {
					t.Errorf("holder, round %d: release: %v", i, err)
					return
				}
			}
		}
	}()
	for tries := 0; ; tries++ {
		select {
		case <-done:
			return
		default:
		}
		l, err := b.TryLease(ctx, name, "b", time.Minute)
		if err == nil && l.Holder == "b" {
			err = b.ReleaseLease(ctx, name, "b", l.Epoch)
		}
		if err != nil {
			t.Errorf("contender, try %d: %v", tries, err)
			<-done
			return
		}
	}
}

func sharedFence(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	if _, _, err := a.CreateRun(ctx, newRun("r1", "t"), "", store.Change{}); err != nil {
		t.Fatal(err)
	}
	old, err := a.TryLease(ctx, store.ControllerLease, "old", 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// The old holder stalls past its lease (a SIGSTOP); the new one takes over.
	time.Sleep(400 * time.Millisecond)
	cur, err := b.TryLease(ctx, store.ControllerLease, "new", time.Minute)
	if err != nil || cur.Holder != "new" || cur.Epoch != old.Epoch+1 {
		t.Fatalf("takeover: %+v %v", cur, err)
	}
	if _, err := b.UpdateRun(store.WithFence(ctx, store.Fence{Lease: store.ControllerLease, Epoch: cur.Epoch}), "r1", func(r *store.Run) (store.Change, error) {
		r.State, r.Attempt = "staging", 1
		return store.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	// The old holder wakes and acts on what it believed: refused.
	_, err = a.UpdateRun(store.WithFence(ctx, store.Fence{Lease: store.ControllerLease, Epoch: old.Epoch}), "r1", func(r *store.Run) (store.Change, error) {
		r.State, r.Attempt = "staging", 2
		return store.Change{}, nil
	})
	if !errors.Is(err, store.ErrFenced) {
		t.Fatalf("stale leader's write: %v", err)
	}
	if r, _ := b.GetRun(ctx, "r1"); r.Attempt != 1 {
		t.Errorf("the stale leader's write landed: attempt %d", r.Attempt)
	}
	if l, _ := a.TryLease(ctx, store.ControllerLease, "old", time.Minute); l.Holder != "new" {
		t.Errorf("the stale leader took the lease back: %+v", l)
	}
}

func sharedUpdates(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	if _, _, err := a.CreateRun(ctx, newRun("r1", "t"), "", store.Change{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	applied := 0
	for g := 0; g < 8; g++ {
		s := a
		if g%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func(s store.Store) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				_, err := s.UpdateRun(ctx, "r1", func(r *store.Run) (store.Change, error) {
					r.Attempt++
					return store.Change{Events: []store.Event{{Kind: "bump"}}, Audit: []audit.Record{rec(t, audit.KindState, "r1", i)}}, nil
				})
				switch {
				case err == nil:
					mu.Lock()
					applied++
					mu.Unlock()
				case !errors.Is(err, store.ErrConflict):
					t.Error(err)
				}
			}
		}(s)
	}
	wg.Wait()
	r, _ := a.GetRun(ctx, "r1")
	evs, _ := b.Events(ctx, "r1")
	res, _ := b.VerifyAudit(ctx)
	if r.Attempt != applied || len(evs) != applied || int(r.Version) != applied+1 || res.Entries != int64(applied) || !res.OK {
		t.Errorf("%d updates applied: attempt %d, %d events, version %d, audit %+v", applied, r.Attempt, len(evs), r.Version, res)
	}
}

func sharedIdempotency(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	ids := make([]string, 10)
	created := make([]bool, 10)
	for i := range ids {
		s := either(a, b, i)
		wg.Add(1)
		go func(i int, s store.Store) {
			defer wg.Done()
			r, c, err := s.CreateRun(ctx, newRun(fmt.Sprintf("r%d", i), "t"), "same-key", store.Change{Audit: []audit.Record{rec(t, audit.KindPlan, "", i)}})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i], created[i] = r.ID, c
		}(i, s)
	}
	wg.Wait()
	n := 0
	for i := range ids {
		if created[i] {
			n++
		}
		if ids[i] != ids[0] {
			t.Errorf("retry %d got run %s, another got %s", i, ids[i], ids[0])
		}
	}
	runs, _ := a.ListRuns(ctx, store.ListOptions{AllTenants: true})
	es, _ := a.AuditEntries(ctx, "")
	if n != 1 || len(runs) != 1 || len(es) != 1 {
		t.Errorf("%d created, %d runs, %d audit entries; want 1 each", n, len(runs), len(es))
	}
}

// sharedRuleRevisions has two replicas apply rules at once, each building on
// the revision it last read: every revision number is taken once, the
// losers are told so (ErrConflict) and write nothing, and both handles then
// read one history with one audit entry per accepted revision.
func sharedRuleRevisions(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	const writers, tries = 6, 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := map[int64]string{}
	for g := 0; g < writers; g++ {
		s := a
		if g%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func(g int, s store.Store) {
			defer wg.Done()
			for i := 0; i < tries; i++ {
				after, err := s.LastRuleRevision(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				who := fmt.Sprintf("w%d-%d", g, i)
				got, err := s.PutRuleRevision(ctx, &store.RuleRevision{Hash: who, Files: map[string]string{"r.yaml": who}, Who: who},
					after, rec(t, "rules-revision", "", who))
				switch {
				case err == nil:
					mu.Lock()
					if prev, dup := won[got.Rev]; dup {
						t.Errorf("revision %d accepted twice: %s and %s", got.Rev, prev, who)
					}
					won[got.Rev] = who
					mu.Unlock()
					if got.Rev != after+1 {
						t.Errorf("%s built on %d and got revision %d", who, after, got.Rev)
					}
				case !errors.Is(err, store.ErrConflict):
					t.Error(err)
				}
			}
		}(g, s)
	}
	wg.Wait()
	for _, s := range []store.Store{a, b} {
		revs, err := s.ListRuleRevisions(ctx, 0, len(won)+1)
		if err != nil {
			t.Fatal(err)
		}
		if len(revs) != len(won) || len(revs) == 0 {
			t.Fatalf("%d revisions stored, %d accepted", len(revs), len(won))
		}
		for i, r := range revs {
			if r.Rev != int64(i+1) || won[r.Rev] != r.Who {
				t.Errorf("revision %d: %+v, accepted from %s", i+1, r, won[r.Rev])
			}
			if full, err := s.GetRuleRevision(ctx, r.Rev); err != nil || full.Files["r.yaml"] != r.Who {
				t.Errorf("revision %d: %+v (%v), accepted from %s", i+1, full, err, won[r.Rev])
			}
		}
		res, err := s.VerifyAudit(ctx)
		if err != nil || !res.OK || res.Entries != int64(len(won)) {
			t.Errorf("audit after %d revisions: %+v %v", len(won), res, err)
		}
	}
}

// sharedLawCheck: a leader that stalled past its lease cannot record a law
// check (nor its audit entry) over the new leader's.
func sharedLawCheck(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	old, err := a.TryLease(ctx, store.ControllerLease, "old", 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	oldCtx := store.WithFence(ctx, store.Fence{Lease: store.ControllerLease, Epoch: old.Epoch})
	if err := a.SetLawCheck(oldCtx, 1, "2026-01-01", rec(t, "law-check", "", 1)); err != nil {
		t.Fatalf("law check by the holder: %v", err)
	}
	time.Sleep(400 * time.Millisecond)
	cur, err := b.TryLease(ctx, store.ControllerLease, "new", time.Minute)
	if err != nil || cur.Holder != "new" {
		t.Fatalf("takeover: %+v %v", cur, err)
	}
	if err := b.SetLawCheck(store.WithFence(ctx, store.Fence{Lease: store.ControllerLease, Epoch: cur.Epoch}), 2, "2026-01-02", rec(t, "law-check", "", 2)); err != nil {
		t.Fatalf("law check by the new holder: %v", err)
	}
	if err := a.SetLawCheck(oldCtx, 1, "2026-01-03", rec(t, "law-check", "", 3)); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("stale leader's law check: %v", err)
	}
	rev, day, err := a.LawCheck(ctx)
	if err != nil || rev != 2 || day != "2026-01-02" {
		t.Errorf("after the stale check: revision %d day %q %v", rev, day, err)
	}
	if res, err := b.VerifyAudit(ctx); err != nil || !res.OK || res.Entries != 2 {
		t.Errorf("audit: %+v %v (want the two accepted checks)", res, err)
	}
}

// racingAdmins: two servers each revoke one of the two admin tenants at
// once, again and again; one may win, never both, so an admin token is
// always left.
func racingAdmins(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	for i := range 20 {
		ha, hb := store.HashToken(fmt.Sprintf("admin-a-%d", i)), store.HashToken(fmt.Sprintf("admin-b-%d", i))
		if _, err := a.PutToken(ctx, &store.Token{Tenant: "ops-a", Hash: ha, Admin: true}, rec(t, "tenant", "", 1)); err != nil {
			t.Fatal(err)
		}
		if _, err := a.PutToken(ctx, &store.Token{Tenant: "ops-b", Hash: hb, Admin: true}, rec(t, "tenant", "", 2)); err != nil {
			t.Fatal(err)
		}
		if i > 0 { // the last round's third admin: a and b are the only ones left
			if _, err := a.RevokeTokens(ctx, fmt.Sprintf("ops-c%d", i-1), "", rec(t, "tenant", "", 6)); err != nil {
				t.Fatal(err)
			}
		}
		errs := make(chan error, 2)
		var start sync.WaitGroup
		start.Add(1)
		for _, c := range []struct {
			s      store.Store
			tenant string
		}{{a, "ops-a"}, {b, "ops-b"}} {
			go func() {
				start.Wait()
				_, err := c.s.RevokeTokens(ctx, c.tenant, "", rec(t, "tenant", "", 3))
				errs <- err
			}()
		}
		start.Done()
		refused := 0
		for range 2 {
			switch err := <-errs; {
			case errors.Is(err, store.ErrLastAdmin):
				refused++
			case err != nil:
				t.Fatal(err)
			}
		}
		live := 0
		list, err := b.ListTokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range list {
			if tk.Admin && tk.RevokedAt == nil {
				live++
			}
		}
		if live != 1 || refused != 1 {
			t.Fatalf("round %d: %d live admin tokens and %d refusals, want 1 and 1", i, live, refused)
		}
		// Clear the survivor for the next round: add a third admin first.
		hc := store.HashToken(fmt.Sprintf("admin-c-%d", i))
		if _, err := a.PutToken(ctx, &store.Token{Tenant: fmt.Sprintf("ops-c%d", i), Hash: hc, Admin: true}, rec(t, "tenant", "", 4)); err != nil {
			t.Fatal(err)
		}
		for _, tn := range []string{"ops-a", "ops-b"} {
			if _, err := a.RevokeTokens(ctx, tn, "", rec(t, "tenant", "", 5)); err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
		}
	}
}

// racingStoreKey: tenants registering one dataset store and name at once,
// through two handles, each with a run: one of them registers it, and
// every other is told, as a tenant that came later is, that the data is
// another's (a ResourceConflict), not that its write conflicted.
func racingStoreKey(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	for round := 0; round < 10; round++ {
		key := fmt.Sprintf("file:///shared|corpus-%d", round)
		errs := make([]error, 6)
		var wg sync.WaitGroup
		for i := range errs {
			s := either(a, b, i)
			wg.Add(1)
			go func(i int, s store.Store) {
				defer wg.Done()
				ds := res("", "Dataset", fmt.Sprintf("corpus-%d", round), fmt.Sprintf(`{"n":%d}`, i), key)
				_, _, errs[i] = s.CreateRun(ctx, newRun(fmt.Sprintf("r%d-%d", round, i), fmt.Sprintf("t%d", i)), "", store.Change{Register: []store.Resource{ds}})
			}(i, s)
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			var rc *store.ResourceConflict
			switch {
			case err == nil:
				won++
			case !errors.As(err, &rc):
				t.Errorf("round %d, tenant %d: %v, want a ResourceConflict", round, i, err)
			}
		}
		if won != 1 {
			t.Errorf("round %d: %d tenants registered one store and name", round, won)
		}
	}
}

// resourcesInEitherOrder: two requests that register, or replace, the
// same resources, listed in opposite orders, take turns on every store.
// Locked in the order each request lists them, each could hold one
// resource and wait for the other's (a deadlock, which PostgreSQL ends by
// failing one of them with an error that is neither a conflict nor the
// request's fault).
func resourcesInEitherOrder(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	for round := 0; round < 20; round++ {
		org := res("", "Organization", fmt.Sprintf("org-%d", round), `{"o":1}`, "")
		ds := res("", "Dataset", fmt.Sprintf("ds-%d", round), `{"d":1}`, "")
		orders := [][]store.Resource{{org, ds}, {ds, org}}
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Add(1)
			go func(i int, s store.Store) {
				defer wg.Done()
				_, _, errs[i] = s.CreateRun(ctx, newRun(fmt.Sprintf("r%d-%d", round, i), "t"), "", store.Change{Register: orders[i%2]})
			}(i, either(a, b, i))
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: registering the same resources in request %d: %v", round, i, err)
			}
		}
		// Replacing both at once: one replaces them, the other finds
		// them changed (ErrConflict).
		for i := range 2 {
			wg.Add(1)
			go func(i int, s store.Store) {
				defer wg.Done()
				var puts []store.ResourcePut
				for _, r := range orders[i] {
					r.Tenant, r.Doc, r.Hash = "t", []byte(`{"v":2}`), "h-v2"
					puts = append(puts, store.ResourcePut{Resource: &r, IfVersion: 1, Audit: rec(t, "resource", "", i)})
				}
				_, errs[i] = s.PutResources(ctx, puts)
			}(i, either(a, b, i))
		}
		wg.Wait()
		won := 0
		for i, err := range errs[:2] {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("round %d: replacing the same resources in request %d: %v, want ErrConflict or none", round, i, err)
			}
		}
		if won != 1 {
			t.Errorf("round %d: %d of two replacements at version 1 were written", round, won)
		}
	}
}

// fencedWhateverTheChange: a fenced update whose lease moved on is
// ErrFenced on every store, whatever its change came to: none
// (ErrNoChange), a refusal, or a run that is not there. A writer that lost
// its lease is told so, not answered as if it still held it.
func fencedWhateverTheChange(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, _, err := s.CreateRun(ctx, newRun("r1", "a"), "", store.Change{}); err != nil {
		t.Fatal(err)
	}
	l, err := s.TryLease(ctx, "ctl", "me", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	stale := store.WithFence(ctx, store.Fence{Lease: "ctl", Epoch: l.Epoch - 1})
	refused := errors.New("refused")
	for _, c := range []struct {
		name, id string
		err      error
	}{{"no change", "r1", store.ErrNoChange}, {"a refusal", "r1", refused}, {"a run that is not there", "nope", nil}} {
		_, err := s.UpdateRun(stale, c.id, func(r *store.Run) (store.Change, error) { return store.Change{}, c.err })
		if !errors.Is(err, store.ErrFenced) {
			t.Errorf("stale update that came to %s: %v, want ErrFenced", c.name, err)
		}
	}
	cur := store.WithFence(ctx, store.Fence{Lease: "ctl", Epoch: l.Epoch})
	if got, err := s.UpdateRun(cur, "r1", func(r *store.Run) (store.Change, error) { return store.Change{}, store.ErrNoChange }); err != nil || got.Version != 1 {
		t.Errorf("current update with no change: %+v %v", got, err)
	}
	if _, err := s.UpdateRun(cur, "r1", func(r *store.Run) (store.Change, error) { return store.Change{}, refused }); !errors.Is(err, refused) {
		t.Errorf("current update refused: %v", err)
	}
}

// putReturnsItsWrite: PutResource returns the resource as that call wrote
// it, its contents and version, on every store, however many others
// replace it at once: a caller that reports the version it wrote, or
// replaces it again at that version, must not be handed another's.
func putReturnsItsWrite(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	first := res("t", "Dataset", "d", `{"w":-1}`, "")
	if _, err := a.PutResource(ctx, &first, 0, rec(t, "resource", "", 0)); err != nil {
		t.Fatal(err)
	}
	const writers, writes = 4, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int64]string{}
	for w := range writers {
		wg.Add(1)
		go func(w int, s store.Store) {
			defer wg.Done()
			for i := 0; i < writes; {
				got, err := s.GetResource(ctx, "t", "Dataset", "d")
				if err != nil {
					t.Error(err)
					return
				}
				r := res("t", "Dataset", "d", fmt.Sprintf(`{"w":%d,"i":%d}`, w, i), "")
				out, err := s.PutResource(ctx, &r, got.Version, rec(t, "resource", "", i))
				if errors.Is(err, store.ErrConflict) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				i++
				if string(out.Doc) != string(r.Doc) || out.Version != got.Version+1 {
					t.Errorf("put %s at version %d returned %s at version %d", r.Doc, got.Version, out.Doc, out.Version)
				}
				mu.Lock()
				if d, ok := seen[out.Version]; ok {
					t.Errorf("version %d returned to two writes: %s and %s", out.Version, d, out.Doc)
				}
				seen[out.Version] = string(out.Doc)
				mu.Unlock()
			}
		}(w, either(a, b, w))
	}
	wg.Wait()
}
