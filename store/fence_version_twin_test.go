package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSQLiteFenceTwinRefused: a lease's row beside a copy written outside
// Meridian with its name as bytes (a BLOB, kept by SQLite under another
// key) at another epoch. The fence read the text row alone, so a write
// fenced at the text row's epoch passed while the lease was held twice
// (and TryLease refused it as such). It is now ErrRowTwice, and no
// update is written.
func TestSQLiteFenceTwinRefused(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	l, err := s.TryLease(ctx, ControllerLease, "a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateRun(ctx, &Run{ID: "r1", Tenant: "acme", Job: "j", State: "running", Data: []byte(`{}`)}, "", Change{}); err != nil {
		t.Fatal(err)
	}
	f := Fence{Lease: ControllerLease, Epoch: l.Epoch}
	if err := s.CheckFence(ctx, f); err != nil {
		t.Fatalf("the holder's fence before the copy: %v", err)
	}
	dropRuleRevTriggers(t, s.DB())
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO leases (name, holder, epoch, expires_at) SELECT CAST(name AS BLOB), 'b', epoch + 1, expires_at FROM leases`); err != nil {
		t.Fatal(err)
	}
	wantRowTwice(t, "the fence", s.CheckFence(ctx, f), "leases")
	fctx := WithFence(ctx, f)
	_, err = s.UpdateRun(fctx, "r1", func(r *Run) (Change, error) {
		r.State = "failed"
		return Change{}, nil
	})
	wantRowTwice(t, "a fenced run update", err, "leases")
	if r, err := s.GetRun(ctx, "r1"); err != nil || r.State != "running" || r.Version != 1 {
		t.Errorf("run after the refused update: %+v, %v", r, err)
	}
	// Another lease fences as before.
	o, err := s.TryLease(ctx, "other", "a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CheckFence(ctx, Fence{Lease: "other", Epoch: o.Epoch}); err != nil {
		t.Errorf("another lease's fence: %v", err)
	}
	if err := s.CheckFence(ctx, Fence{Lease: "other", Epoch: o.Epoch + 1}); !errors.Is(err, ErrFenced) {
		t.Errorf("another lease's fence at a wrong epoch: %v", err)
	}
}

// TestSQLiteRunVersionOfTwinRefused: a run's row beside a copy with its
// id as bytes, another tenant's at another version. GetRun refused the
// pair; RunVersionOf, reading the text row alone, gave its tenant and
// version as if alone (an owner check or a version that matches). It is
// now ErrRowTwice; a run whose tenant is bytes is refused as GetRun
// refuses it.
func TestSQLiteRunVersionOfTwinRefused(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for _, id := range []string{"r1", "r2", "r3"} {
		if _, _, err := s.CreateRun(ctx, &Run{ID: id, Tenant: "acme", Job: "j", State: "running", Data: []byte(`{}`)}, "", Change{}); err != nil {
			t.Fatal(err)
		}
	}
	dropRuleRevTriggers(t, s.DB())
	dropRunHoldTypeTriggers(t, s.DB())
	for _, q := range []string{
		`INSERT INTO runs (id, tenant, job, state, site, attempt, handle, data, version, created_at, updated_at, hold_site, hold_pool, hold_accelerator, hold_count)
			SELECT CAST(id AS BLOB), 'evil', job, state, site, attempt, handle, data, version + 7, created_at, updated_at, hold_site, hold_pool, hold_accelerator, hold_count FROM runs WHERE id = 'r1'`,
		`UPDATE runs SET tenant = CAST(tenant AS BLOB) WHERE id = 'r3'`,
	} {
		if _, err := s.DB().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	tenant, v, err := s.RunVersionOf(ctx, "r1")
	if err == nil {
		t.Errorf("run held twice: tenant %q, version %d", tenant, v)
	}
	wantRowTwice(t, "the version of a run held twice", err, "runs")
	if tenant, v, err := s.RunVersionOf(ctx, "r3"); err == nil || !strings.Contains(err.Error(), "tenant") || !strings.Contains(err.Error(), "BLOB") {
		t.Errorf("run whose tenant is bytes: %q, %d, %v", tenant, v, err)
	}
	if tenant, v, err := s.RunVersionOf(ctx, "r2"); err != nil || tenant != "acme" || v != 1 {
		t.Errorf("r2: %q, %d, %v", tenant, v, err)
	}
	if _, _, err := s.RunVersionOf(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing run: %v", err)
	}
}

// TestSQLiteFenceVersionReadsBounded: the fence's and the version's reads
// stay seeks of the primary keys.
func TestSQLiteFenceVersionReadsBounded(t *testing.T) {
	s := openTest(t)
	for _, q := range []struct {
		q    string
		args []any
	}{{qFenceGet, []any{ControllerLease}}, {qRunVersion, []any{"r1"}}} {
		p := sqlitePlan(t, s.DB(), q.q, q.args...)
		if strings.Contains(p, "SCAN") || !strings.Contains(p, "SEARCH") {
			t.Errorf("%s is not planned as seeks:\n%s", q.q, p)
		}
		t.Logf("%s:\n%s", q.q, p)
	}
}

// BenchmarkSQLiteFencedUpdate: a run's update under the controller's
// fence (the fence read in the update's transaction), and a run's version.
func BenchmarkSQLiteFencedUpdate(b *testing.B) {
	ctx := context.Background()
	s := openTest(b)
	l, err := s.TryLease(ctx, ControllerLease, "a", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 100 {
		if _, _, err := s.CreateRun(ctx, &Run{ID: fmt.Sprintf("r%d", i), Tenant: "acme", Job: "j", State: "running", Data: []byte(`{"spec":{}}`)}, "", Change{}); err != nil {
			b.Fatal(err)
		}
	}
	fctx := WithFence(ctx, Fence{Lease: ControllerLease, Epoch: l.Epoch})
	b.Run("UpdateRun", func(b *testing.B) {
		for i := range b.N {
			if _, err := s.UpdateRun(fctx, fmt.Sprintf("r%d", i%100), func(r *Run) (Change, error) {
				r.Attempt++
				return Change{}, nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CheckFence", func(b *testing.B) {
		f, _ := FenceOf(fctx)
		for range b.N {
			if err := s.CheckFence(ctx, f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RunVersionOf", func(b *testing.B) {
		for i := range b.N {
			if _, _, err := s.RunVersionOf(ctx, fmt.Sprintf("r%d", i%100)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestSQLiteRunVersionsTwinRefused: a tenant's run versions (which a
// reader compares with those it holds, reading again only the runs whose
// version changed) gave a run held twice, its id as text and as bytes, as
// if alone, or twice, each row's version under one id: a version that
// matches passed the copy by. The list is now ErrRowTwice, whichever
// tenant the copy names; a run whose id alone is bytes is named.
func TestSQLiteRunVersionsTwinRefused(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ name, copyTenant string }{{"same tenant", "acme"}, {"other tenant", "evil"}} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			for _, id := range []string{"r1", "r2"} {
				if _, _, err := s.CreateRun(ctx, &Run{ID: id, Tenant: "acme", Job: "j", State: "running", Data: []byte(`{}`)}, "", Change{}); err != nil {
					t.Fatal(err)
				}
			}
			dropRuleRevTriggers(t, s.DB())
			if _, err := s.DB().ExecContext(ctx, `INSERT INTO runs (id, tenant, job, state, site, attempt, handle, data, version, created_at, updated_at, hold_site, hold_pool, hold_accelerator, hold_count)
				SELECT CAST(id AS BLOB), ?, job, state, site, attempt, handle, data, version + 7, created_at, updated_at, hold_site, hold_pool, hold_accelerator, hold_count FROM runs WHERE id = 'r1'`, tc.copyTenant); err != nil {
				t.Fatal(err)
			}
			vs, err := s.RunVersions(ctx, "acme")
			if err == nil {
				t.Errorf("versions with r1 held twice: %+v", vs)
			}
			wantRowTwice(t, "the tenant's versions", err, "runs")
		})
	}
	t.Run("id alone as bytes", func(t *testing.T) {
		s := openTest(t)
		if _, _, err := s.CreateRun(ctx, &Run{ID: "r1", Tenant: "acme", Job: "j", State: "running", Data: []byte(`{}`)}, "", Change{}); err != nil {
			t.Fatal(err)
		}
		dropRuleRevTriggers(t, s.DB())
		if _, err := s.DB().ExecContext(ctx, `UPDATE runs SET id = CAST(id AS BLOB)`); err != nil {
			t.Fatal(err)
		}
		if vs, err := s.RunVersions(ctx, "acme"); err == nil || !strings.Contains(err.Error(), `"r1"`) || !strings.Contains(err.Error(), "BLOB") {
			t.Errorf("versions with r1's id as bytes: %+v, %v", vs, err)
		}
	})
	s := openTest(t)
	for _, id := range []string{"r1", "r2"} {
		if _, _, err := s.CreateRun(ctx, &Run{ID: id, Tenant: "acme", Job: "j", State: "running", Data: []byte(`{}`)}, "", Change{}); err != nil {
			t.Fatal(err)
		}
	}
	if vs, err := s.RunVersions(ctx, "acme"); err != nil || len(vs) != 2 || vs[0].ID != "r1" || vs[1].ID != "r2" || vs[0].Version != 1 {
		t.Errorf("versions: %+v, %v", vs, err)
	}
	p := sqlitePlan(t, s.DB(), qRunVersions, "acme")
	if strings.Contains(p, "SCAN") || strings.Contains(p, "CORRELATED SCALAR SUBQUERY 1") {
		t.Errorf("%s is not planned as seeks:\n%s", qRunVersions, p)
	}
	t.Logf("%s:\n%s", qRunVersions, p)
	if vs, err := s.RunVersionsAfter(ctx, "acme", "r1", 5); err != nil || len(vs) != 1 || vs[0].ID != "r2" {
		t.Errorf("versions after r1: %+v, %v", vs, err)
	}
	p = sqlitePlan(t, s.DB(), qRunVersionsAfter, "acme", "r1", 5)
	if strings.Contains(p, "SCAN") || strings.Contains(p, "CORRELATED SCALAR SUBQUERY 1") {
		t.Errorf("%s is not planned as seeks:\n%s", qRunVersionsAfter, p)
	}
	t.Logf("%s:\n%s", qRunVersionsAfter, p)
}

// BenchmarkSQLiteRunVersions: a tenant's 1000 run versions.
func BenchmarkSQLiteRunVersions(b *testing.B) {
	ctx := context.Background()
	s := openTest(b)
	for i := range 1000 {
		if _, _, err := s.CreateRun(ctx, &Run{ID: fmt.Sprintf("r%d", i), Tenant: "acme", Job: "j", State: "running", Data: []byte(`{"spec":{}}`)}, "", Change{}); err != nil {
			b.Fatal(err)
		}
	}
	for range b.N {
		if vs, err := s.RunVersions(ctx, "acme"); err != nil || len(vs) != 1000 {
			b.Fatal(len(vs), err)
		}
	}
}

// TestSQLiteLastAdminTwinNotCounted: the last-admin guard of a
// revocation counted the live admin rows, a token held twice (its id as
// text and as bytes) and a row whose tenant is bytes among them, though
// neither authenticates (TokenByHash refuses both): the last admin token
// that did was revoked, leaving none. They are no longer counted.
func TestSQLiteLastAdminTwinNotCounted(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ name, q string }{
		{"id twin", `INSERT INTO tokens (` + tokenCols + `) SELECT CAST(id AS BLOB), tenant, '` + HashToken("p2") + `', 1, note, created_at, NULL FROM tokens WHERE hash = '` + HashToken("p") + `'`},
		{"hash twin", `INSERT INTO tokens (` + tokenCols + `) SELECT 'other', tenant, CAST(hash AS BLOB), 1, note, created_at, NULL FROM tokens WHERE hash = '` + HashToken("p") + `'`},
		{"tenant bytes", `UPDATE tokens SET tenant = CAST(tenant AS BLOB) WHERE hash = '` + HashToken("p") + `'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			var a *Token
			for _, sec := range []string{"a", "p"} {
				tok, err := s.PutToken(ctx, &Token{Tenant: "ops", Hash: HashToken(sec), Admin: true, Note: sec}, rec(t, "token", "", map[string]string{"id": sec}))
				if err != nil {
					t.Fatal(err)
				}
				if sec == "a" {
					a = tok
				}
			}
			dropTwinTriggers(t, s.DB())
			if _, err := s.DB().ExecContext(ctx, tc.q); err != nil {
				t.Fatal(err)
			}
			if tok, err := s.TokenByHash(ctx, HashToken("p")); err == nil {
				t.Fatalf("the other admin token authenticates: %+v", tok)
			}
			n, err := s.RevokeTokens(ctx, "ops", a.ID, rec(t, "token", "", map[string]string{"id": "a"}))
			if !errors.Is(err, ErrLastAdmin) {
				t.Errorf("revoking the last admin token that authenticates: %d, %v; want ErrLastAdmin", n, err)
			}
			if tok, err := s.TokenByHash(ctx, a.Hash); err != nil || tok.RevokedAt != nil {
				t.Errorf("the admin token after the refused revocation: %+v, %v", tok, err)
			}
		})
	}
}

// TestSQLiteLiveAdminsBounded: the twin checks of the live admins' count
// are seeks, not scans, of the tokens (the count itself scans them, as
// before).
func TestSQLiteLiveAdminsBounded(t *testing.T) {
	s := openTest(t)
	p := sqlitePlan(t, s.DB(), qLiveAdmins)
	if strings.Count(p, "SCAN") != 1 || strings.Count(p, "SEARCH") != 2 {
		t.Errorf("%s: want one scan of the tokens and two seeks:\n%s", qLiveAdmins, p)
	}
	t.Logf("%s:\n%s", qLiveAdmins, p)
}
