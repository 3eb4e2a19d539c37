package main

import (
	"strings"
	"testing"
)

// TestStorePasswordWarning: a --store URL holding a password, in its user
// part or as a parameter, is readable by every local user in the server's
// command line; serve warns of it, naming where to give it instead, and
// says nothing of a URL that holds none.
func TestStorePasswordWarning(t *testing.T) {
	for _, c := range []struct {
		url  string
		warn bool
	}{
		{"postgres://meridian:s3cret@db.internal/meridian", true},
		{"postgresql://meridian@db.internal/meridian?sslmode=verify-full&password=s3cret", true},
		{"postgres://meridian:@db.internal/meridian", true},
		{"postgres://meridian@db.internal/meridian?sslmode=verify-full", false},
		{"postgres://db.internal/meridian", false},
		{"sqlite", false},
		{"", false},
	} {
		w := storePasswordWarning(c.url)
		if got := w != ""; got != c.warn {
			t.Errorf("%q: warning %q; want one: %v", c.url, w, c.warn)
		}
		if c.warn && (!strings.Contains(w, "PGPASSWORD") || strings.Contains(w, "s3cret")) {
			t.Errorf("%q: warning %q; want it to name PGPASSWORD and not the password", c.url, w)
		}
	}
}
