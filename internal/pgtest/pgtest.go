// Package pgtest gives tests a fresh PostgreSQL database on the server that
// scripts/pg-up.sh starts (MERIDIAN_TEST_PG_URL). With MERIDIAN_TEST_PG=1 a
// missing server fails the test; otherwise the test is skipped, saying why.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the admin URL of the test server; EnvRequire, set to 1,
// makes a missing server a failure.
const (
	EnvURL     = "MERIDIAN_TEST_PG_URL"
	EnvRequire = "MERIDIAN_TEST_PG"
)

// ServerURL returns the test server's admin URL, or skips (fails with
// MERIDIAN_TEST_PG=1) when there is none.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%s=1 but %s is not set: start a server with `eval \"$(bash scripts/pg-up.sh)\"`", EnvRequire, EnvURL)
		}
		t.Skipf("no PostgreSQL: set %s (scripts/pg-up.sh prints it)", EnvURL)
	}
	return u
}

// NewDatabase creates an empty database on the test server, drops it when
// the test ends, and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := ServerURL(t)
	b := make([]byte, 6)
	rand.Read(b)
	name := "meridian_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}
