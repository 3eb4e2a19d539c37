package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/store"
)

// TestPostgresRegistrationWaitsForRekeyReservation: a start's re-key
// (server a) that leaves a clash reserves its key in the transaction that
// read the rows; a registration on another server (b) that checked the
// reservations while that transaction was open, and wrote once it
// committed, took the reserved key, a row the re-key never read. The
// order is forced here: the re-key is held (by a lock on rekey_clashes
// another connection takes) after its read and before its reservation;
// the registration starts meanwhile, and is let go once it waits on the
// resources table (before its check, or, as before, at its write). Now
// the registration checks after the re-key commits and is refused, by
// each way a key is registered or changed to.
func TestPostgresRegistrationWaitsForRekeyReservation(t *testing.T) {
	pgtest.ServerURL(t)
	ways := map[string]func(ctx context.Context, s store.Store, doc, key string, rec audit.Record) error{
		"PutResource": func(ctx context.Context, s store.Store, doc, key string, rec audit.Record) error {
			r := store.Resource{Tenant: "j", Kind: "Dataset", Name: "y", Doc: []byte(doc), Hash: "h-" + doc, StoreKey: key}
			_, err := s.PutResource(ctx, &r, 0, rec)
			return err
		},
		"CreateRun": func(ctx context.Context, s store.Store, doc, key string, rec audit.Record) error {
			r := store.Resource{Kind: "Dataset", Name: "y", Doc: []byte(doc), Hash: "h-" + doc, StoreKey: key}
			_, _, err := s.CreateRun(ctx, &store.Run{ID: "r1", Tenant: "j", Job: "j", State: "planned", Data: []byte(`{}`)}, "", store.Change{Register: []store.Resource{r}})
			return err
		},
		// Tenant f's dataset, registered elsewhere, updated to the data
		// of the clash.
		"update": func(ctx context.Context, s store.Store, doc, key string, rec audit.Record) error {
			r := store.Resource{Tenant: "f", Kind: "Dataset", Name: "z", Doc: []byte(doc), Hash: "h2-" + doc, StoreKey: key}
			_, err := s.PutResource(ctx, &r, 1, rec)
			return err
		},
	}
	for name, register := range ways {
		t.Run(name, func(t *testing.T) {
			url := pgtest.NewDatabase(t)
			a := openPostgres(t, url).(*store.Postgres)
			b := openPostgres(t, url)
			ctx := context.Background()
			for _, r := range []store.Resource{
				{Tenant: "d", Kind: "Dataset", Name: "y", Doc: []byte(`{"store":"S3://D"}`), Hash: "h", StoreKey: "S3://D|y"},
				{Tenant: "e", Kind: "Dataset", Name: "y", Doc: []byte(`{"store":"s3://D"}`), Hash: "h", StoreKey: "s3://D|y"},
				{Tenant: "f", Kind: "Dataset", Name: "z", Doc: []byte(`{"store":"s3://f"}`), Hash: "h", StoreKey: "s3://f|y"},
			} {
				if _, err := a.PutResource(ctx, &r, 0, raceRecord(t)); err != nil {
					t.Fatal(err)
				}
			}
			conn, release, rekeyDone := heldRekey(t, url, a)
			regDone := make(chan error, 1)
			rec := raceRecord(t)
			go func() { regDone <- register(ctx, b, `{"store":"s3://d"}`, "s3://d|y", rec) }()
			waitForLock(t, conn, "resources", regDone)
			release()
			got := <-rekeyDone
			if got.err != nil || got.rep.ClashCount != 1 {
				t.Fatalf("re-key: %+v %v, want one clash", got.rep, got.err)
			}
			var rc *store.ResourceConflict
			if err := <-regDone; !errors.As(err, &rc) || !strings.Contains(err.Error(), "an operator decides") {
				t.Errorf("a registration checked while the re-key was open, written after it reserved the key: %v, want the clash's conflict", err)
			}
			if r, err := b.GetResource(ctx, "j", "Dataset", "y"); err == nil {
				t.Errorf("registered under the reserved key: %+v", r)
			}
			if r, err := b.GetResource(ctx, "f", "Dataset", "z"); err != nil || r.StoreKey != "s3://f|y" {
				t.Errorf("f's dataset: %+v %v, want its own key still", r, err)
			}
		})
	}
}

// rekeyed is what a re-key heldRekey started returned.
type rekeyed struct {
	rep store.RekeyReport
	err error
}

// heldRekey starts a's re-key of datasets (each keyed by its store,
// lower-cased, and "|y") and returns once it is held after its read, with
// the resources table locked, by conn, which holds rekey_clashes against
// writes (reads of it, a registration's check, pass), until release.
func heldRekey(t *testing.T, url string, a *store.Postgres) (conn *pgx.Conn, release func(), done <-chan rekeyed) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	hold, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hold.Rollback(ctx) })
	if _, err := hold.Exec(ctx, `LOCK TABLE rekey_clashes IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	ch := make(chan rekeyed, 1)
	go func() {
		rep, err := a.RekeyResources(ctx, "Dataset", "f1", func(doc []byte) (string, error) {
			var d struct{ Store string }
			if err := json.Unmarshal(doc, &d); err != nil {
				return "", err
			}
			if d.Store == "" {
				return "", nil
			}
			return strings.ToLower(d.Store) + "|y", nil
		})
		ch <- rekeyed{rep, err}
	}()
	waitForLock(t, conn, "rekey_clashes", ch)
	return conn, func() {
		if err := hold.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}, ch
}

// waitForLock returns once a session of conn's database waits for a lock
// on table; it fails the test if done is sent to first (the call it waits
// for ended without waiting).
func waitForLock[T any](t *testing.T, conn *pgx.Conn, table string, done <-chan T) {
	t.Helper()
	ctx := context.Background()
	for {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = $1::regclass
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		select {
		case v := <-done:
			t.Fatalf("ended without waiting for %s: %v", table, v)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

var raceRecords int

// raceRecord is an audit record of a registration, each its own.
func raceRecord(t *testing.T) audit.Record {
	t.Helper()
	raceRecords++
	r, err := audit.NewRecord("register", "", fmt.Sprintf("r%d", raceRecords))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPostgresUnkeyedUpdateAndRekeyDoNotDeadlock: an update of a dataset
// to no store locked its row, then waited for the resources table at its
// write; a start's re-key holding the table and moving that row waited for
// the row: PostgreSQL broke the deadlock by failing one of them (the
// start's re-key, or the owner's update). The order is forced: the re-key
// is held (a lock on rekey_clashes another connection takes) with the
// table held, the update starts meanwhile and is let go once it waits.
// Now the update waits for the table before it locks any row, and both
// succeed.
func TestPostgresUnkeyedUpdateAndRekeyDoNotDeadlock(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a := openPostgres(t, url).(*store.Postgres)
	b := openPostgres(t, url)
	ctx := context.Background()
	// The re-key below lower-cases the store: this row moves.
	z := store.Resource{Tenant: "f", Kind: "Dataset", Name: "z", Doc: []byte(`{"store":"s3://F"}`), Hash: "h", StoreKey: "s3://F|y"}
	if _, err := a.PutResource(ctx, &z, 0, raceRecord(t)); err != nil {
		t.Fatal(err)
	}
	conn, release, rekeyDone := heldRekey(t, url, a)
	putDone := make(chan error, 1)
	rec := raceRecord(t)
	go func() {
		r := store.Resource{Tenant: "f", Kind: "Dataset", Name: "z", Doc: []byte(`{"store":""}`), Hash: "h2"}
		_, err := b.PutResource(ctx, &r, 1, rec)
		putDone <- err
	}()
	waitForLock(t, conn, "resources", putDone)
	release()
	if err := (<-rekeyDone).err; err != nil {
		t.Errorf("the start's re-key: %v", err)
	}
	if err := <-putDone; err != nil {
		t.Errorf("the owner's update to no store: %v", err)
	}
	got, err := b.GetResource(ctx, "f", "Dataset", "z")
	if err != nil || got.StoreKey != "" || got.Version != 2 {
		t.Errorf("dataset after both: %+v %v, want version 2 with no store key", got, err)
	}
}
