package dataset

import (
	"strings"
	"testing"
)

// TestStoreKey: spellings of one store are one key; other stores are not.
func TestStoreKey(t *testing.T) {
	same := [][]string{
		{"file:///srv/store", "file:///srv/store/", "file:///srv//store", "file:///srv/store/.", "file:///srv/x/../store"},
		{"s3://bucket?prefix=data&region=eu-west-1", "s3://bucket/?region=eu-west-1&prefix=data/"},
		{"s3://bucket", "s3://bucket/"},
		// The region names no data: a custom server ignores it, and a
		// bucket is one bucket at every AWS region it is asked at.
		{"s3://bucket?region=x", "s3://bucket?region=y", "s3://bucket"},
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
		{"file:///srv/store", "s3://srv?prefix=store"},
	}
	for _, p := range differ {
		if StoreKey(p[0]) == StoreKey(p[1]) {
			t.Errorf("%s and %s share the key %q", p[0], p[1], StoreKey(p[0]))
		}
	}
}

// FuzzStoreKey: a key is stable (the key of a key is itself, where it is
// a URL this package opens), an s3 store's key is the same with settings
// that name no data added, and it never panics.
func FuzzStoreKey(f *testing.F) {
	for _, s := range []string{"file:///srv/store/", "s3://b/?prefix=a/&x=1", "file://./rel", "::", "s3://",
		"s3://B?endpoint=http://[::ffff:10.0.0.1]:0080/&region=r", "s3://b?endpoint=[2001:0db8::0001]&disable_https=1&part_size=5MiB",
		"s3://b?endpoint=s3.eu-west-1.amazonaws.com&prefix=a/", "s3://x?endpoint=b.s3.eu-west-1.amazonaws.com&use_path_style=1&prefix=p",
		"s3://x?endpoint=http://B.s3.example:9000&prefix=a.b/C/d/", "s3://b?endpoint=s3xfoo.amazonaws.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		k := StoreKey(raw)
		if k != raw && StoreKey(k) != k {
			t.Fatalf("StoreKey(%q) = %q, whose key is %q", raw, k, StoreKey(k))
		}
		if k == raw || !strings.HasPrefix(k, "s3://") {
			return
		}
		sep := "?"
		if strings.Contains(k, "?") {
			sep = "&"
		}
		if w := k + sep + "read_idle=1m&part_size=5MiB&profile=p&anonymous=true&use_path_style=true&region=r"; StoreKey(w) != k {
			t.Fatalf("StoreKey(%q) = %q, but with client settings (%q) %q", raw, k, w, StoreKey(w))
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

// TestStoreKeySettingsAndEndpointSpellings: parameters that only say how
// the client reaches or reads a store, and an endpoint spelled another
// way, leave its key as it is. Before, each was a key of its own, and a
// second tenant registered the owner's dataset through such a spelling.
func TestStoreKeySettingsAndEndpointSpellings(t *testing.T) {
	same := [][]string{
		{"s3://b?prefix=a",
			"s3://b?prefix=a&read_idle=5m", "s3://b?part_size=64MiB&prefix=a", "s3://b?prefix=a&profile=other",
			"s3://b?prefix=a&anonymous=true", "s3://b?prefix=a&use_path_style=true", "s3://b?prefix=a&disable_https=true",
			"s3://b?prefix=a&region=eu-west-1", "s3://B?prefix=a",
			"s3://b?prefix=a&endpoint=s3.amazonaws.com", "s3://b?prefix=a&endpoint=https://s3.eu-west-1.amazonaws.com/"},
		{"s3://b?endpoint=http://minio.example:9000&prefix=a",
			"s3://b?endpoint=http://MINIO.Example:9000/&prefix=a", "s3://b?endpoint=http://minio.example:09000&prefix=a",
			"s3://b?endpoint=https://minio.example:9000&prefix=a", "s3://b?endpoint=minio.example:9000&prefix=a",
			"s3://b?endpoint=http://minio.example.:9000&prefix=a",
			"s3://b?endpoint=http://minio.example:9000&prefix=a&region=us-east-1&read_idle=1m&use_path_style=true"},
		{"s3://b?endpoint=http://10.1.2.3",
			"s3://b?endpoint=http://10.1.2.3:80", "s3://b?endpoint=http://10.1.2.3:080/", "s3://b?endpoint=http://[::ffff:10.1.2.3]",
			"s3://b?endpoint=10.1.2.3&disable_https=true", "s3://b?endpoint=10.1.2.3:80"},
		{"s3://b?endpoint=https://minio.example",
			"s3://b?endpoint=https://minio.example:443", "s3://b?endpoint=minio.example", "s3://b?endpoint=minio.example/"},
		{"s3://b?endpoint=http://[2001:db8::1]:9000",
			"s3://b?endpoint=http://[2001:0db8:0000:0000:0000:0000:0000:0001]:9000", "s3://b?endpoint=http://[2001:DB8::1]:9000/"},
	}
	for _, group := range same {
		for _, u := range group[1:] {
			if a, b := StoreKey(group[0]), StoreKey(u); a != b {
				t.Errorf("%s and %s: keys %q and %q, want one", group[0], u, a, b)
			}
		}
	}
	differ := [][2]string{
		{"s3://b?prefix=a", "s3://c?prefix=a"},
		{"s3://b?prefix=a", "s3://b?prefix=A"},
		{"s3://b?endpoint=http://h:9000", "s3://b?endpoint=http://h:9001"},
		{"s3://b?endpoint=http://h:9000", "s3://b?endpoint=http://g:9000"},
		{"s3://b?endpoint=http://10.1.2.3", "s3://b?endpoint=http://10.1.2.4"},
		{"s3://b?endpoint=http://h:9000", "s3://b"},
		{"s3://b?endpoint=http://h", "s3://b?endpoint=http://h&disable_https=true&prefix=x"},
		{"s3://b?endpoint=http://h.s3.amazonaws.com", "s3://b"},
	}
	for _, p := range differ {
		if StoreKey(p[0]) == StoreKey(p[1]) {
			t.Errorf("%s and %s share the key %q", p[0], p[1], StoreKey(p[0]))
		}
	}
	// A URL openS3 refuses cannot be opened: it is its own key.
	for _, u := range []string{"s3://b?unknown=1", "s3://b?read_idle=1m&read_idle=2m", "s3://b?endpoint=ftp://h",
		"s3://b?endpoint=http://h:99999", "s3://b?disable_https=maybe&endpoint=h"} {
		if k := StoreKey(u); k != u {
			t.Errorf("StoreKey(%q) = %q, want the URL itself", u, k)
		}
	}
}
