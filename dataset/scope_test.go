package dataset

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWithin(t *testing.T) {
	scope := []string{
		"file:///srv/meridian/store",
		"s3://lab-data?endpoint=https://s3.example.org&region=eu-1&prefix=teams",
	}
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"file:///srv/meridian/store", true},
		{"file:///srv/meridian/store/", true},
		{"file:///srv/meridian/store/alpha", true},
		{"file:///srv/meridian/store/alpha/../beta", true},
		{"file:///srv/meridian/store/../keyring", false},
		{"file:///srv/meridian/storefront", false},
		{"file:///srv/meridian", false},
		{"file:///etc", false},
		{"file://otherhost/srv/meridian/store", false},
		{"file:///srv/meridian/store?x=1", false},
		{"file:///srv/meridian/store#frag", false},
		{"s3://lab-data?endpoint=https://s3.example.org&region=eu-1&prefix=teams", true},
		{"s3://lab-data?region=eu-1&endpoint=https://s3.example.org&prefix=teams/alpha", true},
		{"s3://lab-data?endpoint=https://s3.example.org&region=eu-1&prefix=teams/alpha/", true},
		{"s3://lab-data?endpoint=https://s3.example.org&region=eu-1&prefix=teamsx", false},
		{"s3://lab-data?endpoint=https://s3.example.org&region=eu-1&prefix=teams/../x", false},
		{"s3://lab-data?endpoint=https://s3.example.org&region=eu-1", false},
		{"s3://lab-data?endpoint=https://attacker.example&region=eu-1&prefix=teams", false},
		{"s3://lab-data?endpoint=https://s3.example.org&region=eu-1&prefix=teams&profile=admin", false},
		{"s3://lab-data?endpoint=https://s3.example.org&prefix=teams", false},
		{"s3://lab-data?endpoint=https://s3.example.org&region=eu-1&region=eu-1&prefix=teams", false},
		{"s3://other?endpoint=https://s3.example.org&region=eu-1&prefix=teams", false},
		{"s3://user@lab-data?endpoint=https://s3.example.org&region=eu-1&prefix=teams", false},
		{"s3://lab-data/path?endpoint=https://s3.example.org&region=eu-1&prefix=teams", false},
		{"http://lab-data/teams", false},
		{"%zz", false},
		{"", false},
	} {
		if got := Within(tc.url, scope); got != tc.want {
			t.Errorf("Within(%q) = %v, want %v", tc.url, got, tc.want)
		}
	}
	if Within("file:///srv/meridian/store", nil) {
		t.Error("an empty scope holds a store")
	}
	// An s3 entry without a prefix holds every prefix of its bucket.
	if !Within("s3://b?endpoint=http://127.0.0.1:9000&prefix=a/b", []string{"s3://b?endpoint=http://127.0.0.1:9000"}) {
		t.Error("a prefix under a bucket-wide entry is refused")
	}
}

// TestWithinFollowsLinks: a directory inside a home store that is a
// symbolic link out of it (to another store, the keyring) is opened
// through the link, with the server's access. Judged as spelled only, a
// tenant naming it had the server read outside the stores it was given.
func TestWithinFollowsLinks(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	outside := filepath.Join(dir, "keyring")
	for _, d := range []string{filepath.Join(store, "alpha"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(store, "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(store, "alpha"), filepath.Join(store, "in")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(store, filepath.Join(dir, "store-link")); err != nil {
		t.Fatal(err)
	}
	scope := []string{"file://" + store}
	for u, want := range map[string]bool{
		"file://" + filepath.Join(store, "out"):            false,
		"file://" + filepath.Join(store, "out", "new"):     false,
		"file://" + filepath.Join(store, "in"):             true,
		"file://" + filepath.Join(store, "alpha", "new"):   true,
		"file://" + filepath.Join(dir, "store-link", "in"): false, // not as spelled
	} {
		if got := Within(u, scope); got != want {
			t.Errorf("Within(%q) = %v, want %v", u, got, want)
		}
	}
	// A scope named through a link holds what lies in it both ways.
	if !Within("file://"+filepath.Join(dir, "store-link", "alpha"), []string{"file://" + filepath.Join(dir, "store-link")}) {
		t.Error("a store under a scope named through a link is refused")
	}
}
