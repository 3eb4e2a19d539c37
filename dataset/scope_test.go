package dataset

import "testing"

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
