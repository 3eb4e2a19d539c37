package main

import (
	"context"
	"strings"
	"testing"

	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/store"
)

// TestStoreFlagErrorHidesPassword: a mistyped --store URL is refused
// naming the flag and the URL, but not the database password in it, which
// would otherwise end up in the terminal's scrollback and in service logs.
func TestStoreFlagErrorHidesPassword(t *testing.T) {
	for _, u := range []string{"postgress://meridian:hunter2@db.example/meridian", "mysql://meridian:hunter2@db.example/m"} {
		_, err := openStore(context.Background(), u, statedir.Dir{Path: t.TempDir()}, store.Options{})
		if err == nil {
			t.Fatalf("%s: accepted", u)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the refusal shows the password: %v", err)
		}
		if !strings.Contains(err.Error(), "--store") || !strings.Contains(err.Error(), "db.example") {
			t.Errorf("the refusal does not say what was refused: %v", err)
		}
	}
}
