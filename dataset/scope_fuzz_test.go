package dataset

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzWithin: a store URL that Within lets a server open for a tenant
// opens, as OpenStore reads it, inside one of the operator's stores: the
// file store's directory or one beneath it, or the same S3 bucket, with
// the same endpoint, region, credentials and everything else, under the
// scope's prefix.
func FuzzWithin(f *testing.F) {
	scope := []string{
		"file:///srv/meridian/store",
		"s3://lab-data?endpoint=https://s3.example.org&region=eu-1&prefix=teams",
	}
	for _, s := range []string{
		"file:///srv/meridian/store/alpha", "file:///srv/meridian/store/../keyring", "file://./x", "file://h/srv/meridian/store",
		"s3://lab-data?endpoint=https://s3.example.org&region=eu-1&prefix=teams/a", "s3://lab-data?endpoint=https://s3.example.org&region=eu-1&prefix=teams/..",
		"s3://lab-data?endpoint=https://s3.example.org&region=eu-1&prefix=teams&profile=x", "s3://lab-data?endpoint=https://s3.example.org&endpoint=https://evil&region=eu-1&prefix=teams",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if !Within(raw, scope) {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%q is within, but does not parse: %v", raw, err)
		}
		switch u.Scheme {
		case "file":
			dir := u.Path
			if u.Host == "." {
				dir = "." + u.Path
			}
			abs, err := filepath.Abs(dir)
			if err != nil || (abs != "/srv/meridian/store" && !strings.HasPrefix(abs, "/srv/meridian/store/")) {
				t.Fatalf("%q is within, but opens %q (%v)", raw, abs, err)
			}
		case "s3":
			q := u.Query()
			for k, v := range q {
				if len(v) != 1 {
					t.Fatalf("%q is within, but gives %s %d times", raw, k, len(v))
				}
				if k != "endpoint" && k != "region" && k != "prefix" {
					t.Fatalf("%q is within, but adds %s", raw, k)
				}
			}
			p := q.Get("prefix")
			if u.Host != "lab-data" || q.Get("endpoint") != "https://s3.example.org" || q.Get("region") != "eu-1" ||
				strings.Contains(p, "..") || (strings.TrimSuffix(p, "/") != "teams" && !strings.HasPrefix(p, "teams/")) {
				t.Fatalf("%q is within, but opens bucket %q, endpoint %q, region %q, prefix %q", raw, u.Host, q.Get("endpoint"), q.Get("region"), p)
			}
		default:
			t.Fatalf("%q is within, with scheme %q", raw, u.Scheme)
		}
	})
}
