package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSQLiteLeaseHeartbeatTwinNamed: a lease's row beside a copy with its
// name as bytes (another holder), and a heartbeat beside a copy with its
// run_id as bytes, failed safe, but told to store the BLOB as text again,
// which the primary key then refuses. The pair is now named: ErrRowTwice,
// the table and the row to delete.
func TestSQLiteLeaseHeartbeatTwinNamed(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if _, err := s.TryLease(ctx, ControllerLease, "a", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Heard(ctx, "r1", 1); err != nil {
		t.Fatal(err)
	}
	dropRuleRevTriggers(t, s.DB())
	for _, q := range []string{
		`INSERT INTO leases (name, holder, epoch, expires_at) SELECT CAST(name AS BLOB), 'b', epoch + 1, expires_at FROM leases`,
		`INSERT INTO heartbeats (run_id, attempt, at) SELECT CAST(run_id AS BLOB), attempt, at FROM heartbeats`,
	} {
		if _, err := s.DB().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, holder := range []string{"a", "b"} {
		l, err := s.TryLease(ctx, ControllerLease, holder, time.Hour)
		if err == nil {
			t.Errorf("%s's try of a lease held twice: %+v", holder, l)
		}
		wantRowTwice(t, holder+"'s try of the lease", err, "leases")
		if err != nil && strings.Contains(err.Error(), "as text again") {
			t.Errorf("%s's try: %v: told to store as text again", holder, err)
		}
	}
	_, _, err := s.SilentFor(ctx, "r1", 1)
	wantRowTwice(t, "the attempt's heartbeat", err, "heartbeats")
	if err != nil && strings.Contains(err.Error(), "as text again") {
		t.Errorf("the heartbeat: %v: told to store as text again", err)
	}
	// Another attempt is heard as before.
	if err := s.Heard(ctx, "r1", 2); err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.SilentFor(ctx, "r1", 2); err != nil || !found {
		t.Errorf("attempt 2: %v, %v", found, err)
	}
}

// TestSQLiteLeaseTwinNotWritten: a copy of a lease with its name the
// other way (text, bytes) is refused when written; Meridian's own writes
// pass.
func TestSQLiteLeaseTwinNotWritten(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for _, n := range []string{ControllerLease, "other"} {
		if _, err := s.TryLease(ctx, n, "a", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []int{1, 2} {
		if err := s.Heard(ctx, "r1", a); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO leases (name, holder, epoch, expires_at) SELECT CAST(name AS BLOB), 'b', epoch + 1, expires_at FROM leases WHERE name = 'other'`,
		`UPDATE leases SET name = CAST('other' AS BLOB) WHERE name <> 'other'`,
	} {
		if _, err := s.DB().ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "BLOB") {
			t.Errorf("written (%v): %s", err, q)
		}
	}
	if _, err := s.TryLease(ctx, ControllerLease, "a", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Heard(ctx, "r1", 1); err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.SilentFor(ctx, "r1", 1); err != nil || !found {
		t.Errorf("attempt 1: %v, %v", found, err)
	}
}
