package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/internal/syncbuf"
)

// faultID finds the fault id in an internal error's answer.
var faultID = regexp.MustCompile(`fault ([0-9a-f]{12})\b`)

// TestStoreFailureNamesNoServerDetail: a tenant whose request meets a
// failing database (here PostgreSQL refusing new connections, with the
// tenant's principal still cached) is answered 500 without the driver's
// message, which names the database's host, port, user and database; the
// server's request log has it.
func TestStoreFailureNamesNoServerDetail(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	f := newFixtureWith(t, fixtureOptions{Postgres: dbURL})
	var logged syncbuf.Buffer
	f.h.opts.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	if code := get(t, f.srv.URL, tokA); code != http.StatusOK {
		t.Fatalf("GET /v1/runs: %d", code)
	}
	// The database goes away under the server: its connections are ended
	// and no new one is let in.
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+dbName+" WITH ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "ALTER DATABASE "+dbName+" WITH ALLOW_CONNECTIONS true") })
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", dbName); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/runs", "/v1/runs/x", "/v1/resources", "/v1/audit"} {
		code, e := f.raw(t, "GET", path, tokA, "")
		if code != http.StatusInternalServerError && code != http.StatusServiceUnavailable {
			t.Errorf("GET %s with the database gone: %d %+v, want 500 or 503", path, code, e)
			continue
		}
		for _, secret := range []string{dbName, u.Host, u.Port(), "user=", "postgres"} {
			if strings.Contains(e.Message, secret) {
				t.Errorf("GET %s: the answer names %q: %q", path, secret, e.Message)
			}
		}
		if e.Message == "" {
			t.Errorf("GET %s: %d without a message", path, code)
		}
		// The answer names the fault, and the log line with the cause
		// has the same id: the tenant can point the operator at it.
		id := faultID.FindStringSubmatch(e.Message)
		if id == nil {
			t.Errorf("GET %s: the answer %q names no fault id", path, e.Message)
		} else if !strings.Contains(logged.String(), "fault="+id[1]) {
			t.Errorf("GET %s: fault %s is not in the server's log:\n%s", path, id[1], logged.String())
		}
	}
	if log := logged.String(); !strings.Contains(log, dbName) {
		t.Errorf("the server's log does not have the database's error:\n%s", log)
	}
}
