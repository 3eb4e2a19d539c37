package dataset

import "testing"

// TestStoreKey: spellings of one store are one key; other stores are not.
func TestStoreKey(t *testing.T) {
	same := [][]string{
		{"file:///srv/store", "file:///srv/store/", "file:///srv//store", "file:///srv/store/.", "file:///srv/x/../store"},
		{"s3://bucket?prefix=data&region=eu-west-1", "s3://bucket/?region=eu-west-1&prefix=data/"},
		{"s3://bucket", "s3://bucket/"},
	}
	for _, group := range same {
		for _, u := range group[1:] {
			if a, b := StoreKey(group[0]), StoreKey(u); a != b {
				t.Errorf("%s and %s: keys %q and %q, want one", group[0], u, a, b)
			}
		}
	}
	differ := [][2]string{
		{"file:///srv/store", "file:///srv/store2"},
		{"s3://bucket?prefix=a", "s3://bucket?prefix=b"},
		{"s3://bucket?prefix=a", "s3://other?prefix=a"},
		{"s3://bucket?region=x", "s3://bucket?region=y"},
		{"file:///srv/store", "s3://srv?prefix=store"},
	}
	for _, p := range differ {
		if StoreKey(p[0]) == StoreKey(p[1]) {
			t.Errorf("%s and %s share the key %q", p[0], p[1], StoreKey(p[0]))
		}
	}
}

// FuzzStoreKey: a key is stable (the key of a key is itself, where it is
// a URL this package opens) and never panics.
func FuzzStoreKey(f *testing.F) {
	for _, s := range []string{"file:///srv/store/", "s3://b/?prefix=a/&x=1", "file://./rel", "::", "s3://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		k := StoreKey(raw)
		if k != raw && StoreKey(k) != k {
			t.Fatalf("StoreKey(%q) = %q, whose key is %q", raw, k, StoreKey(k))
		}
	})
}

// TestStoreKeyEmptyPrefix: an s3 URL whose prefix is empty or slashes
// alone, or whose parameters are given empty, opens as the bucket without
// them, and has its key. Before, "s3://b?prefix=/" and "s3://b?prefix="
// each had a key of their own, not that of "s3://b": a second tenant could
// register a dataset of that name in the same store, and the key of
// "s3://b?prefix=//" was not its own key (found by FuzzStoreKey).
func TestStoreKeyEmptyPrefix(t *testing.T) {
	same := [][]string{
		{"s3://b", "s3://b?prefix=", "s3://b?prefix=/", "s3://b?prefix=//", "s3://b/?prefix=&region=", "s3://b?profile="},
		{"s3://b?prefix=a", "s3://b?prefix=a//", "s3://b?prefix=a/&endpoint="},
	}
	for _, group := range same {
		for _, u := range group[1:] {
			if a, b := StoreKey(group[0]), StoreKey(u); a != b {
				t.Errorf("%s and %s: keys %q and %q, want one", group[0], u, a, b)
			}
		}
	}
	if a, b := StoreKey("s3://b?prefix=a"), StoreKey("s3://b?prefix=/a"); a == b {
		t.Errorf("s3://b?prefix=a and s3://b?prefix=/a share the key %q", a)
	}
}
