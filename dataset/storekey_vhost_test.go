package dataset

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
)

// TestStoreKeyVirtualHostedBuckets: a bucket named in an s3 endpoint's
// host (virtual-hosted: bucket.s3.<region>.amazonaws.com, or a bucket
// before a server's own name) is the bucket the opener addresses there,
// read path-style (the URL's bucket then begins the keys) or
// virtual-hosted (the URL's bucket before the host's). Before, each such
// spelling kept the endpoint as a server of its own, so a second tenant
// registered the owner's data through it.
func TestStoreKeyVirtualHostedBuckets(t *testing.T) {
	same := [][]string{
		// AWS, path-style on a bucket's own host: that bucket, the URL's
		// bucket beginning the keys.
		{"s3://bucket?prefix=xxx/p",
			"s3://xxx?endpoint=https://bucket.s3.eu-west-1.amazonaws.com&use_path_style=true&prefix=p",
			"s3://xxx?endpoint=BUCKET.s3-eu-west-1.amazonaws.com.&use_path_style=true&prefix=p/",
			"s3://xxx?endpoint=http://bucket.s3.dualstack.us-east-1.amazonaws.com:80&use_path_style=true&prefix=p"},
		// AWS, virtual-hosted: the URL's bucket before the host's.
		{"s3://xxx.bucket?prefix=p",
			"s3://xxx?endpoint=https://bucket.s3.eu-west-1.amazonaws.com&prefix=p",
			"s3://XXX?endpoint=bucket.s3.us-east-1.amazonaws.com&prefix=p&region=us-east-1"},
		// An endpoint the opener takes for AWS's own (its pattern is
		// looser than AWS's names) reaches AWS.
		{"s3://bbb", "s3://bbb?endpoint=https://s3xfoo.amazonaws.com", "s3://bbb?endpoint=s3-external-1.amazonaws.com"},
		// Another server: a bucket before its name, or the path's first
		// name, may be either; unsure, one key.
		{"s3://bbb?endpoint=http://s3.example:9000&prefix=xxx/",
			"s3://xxx?endpoint=http://bbb.s3.example:9000&use_path_style=true",
			"s3://xxx?endpoint=http://BBB.s3.example:9000/",
			"s3://xxx.bbb?endpoint=http://s3.example:9000&use_path_style=true",
			"s3://bbb?endpoint=s3.example:9000&prefix=XXX&disable_https=true"},
		{"s3://mybucket?endpoint=https://mybucket.s3.example:9000&use_path_style=true",
			"s3://mybucket?endpoint=https://s3.example:9000&prefix=mybucket",
			"s3://mybucket.mybucket?endpoint=https://s3.example:9000"},
	}
	for _, group := range same {
		for _, u := range group[1:] {
			if a, b := StoreKey(group[0]), StoreKey(u); a != b {
				t.Errorf("%s and %s: keys %q and %q, want one", group[0], u, a, b)
			}
		}
	}
	differ := [][2]string{
		// Two buckets at AWS: bucket (keys under xxx/) and xxx.bucket.
		{"s3://xxx?endpoint=https://bucket.s3.eu-west-1.amazonaws.com&use_path_style=true",
			"s3://xxx?endpoint=https://bucket.s3.eu-west-1.amazonaws.com"},
		// AWS keys tell case apart.
		{"s3://bucket?prefix=XXX", "s3://xxx?endpoint=https://bucket.s3.eu-west-1.amazonaws.com&use_path_style=true"},
		{"s3://bbb?endpoint=http://s3.example:9000", "s3://bbb?endpoint=http://s3.other:9000"},
		{"s3://bbb?endpoint=http://s3.example:9000", "s3://bbb?endpoint=http://s3.example:9001"},
		{"s3://bbb?endpoint=http://s3.example:9000", "s3://bbb"},
		{"s3://bbb?endpoint=http://s3.example:9000&prefix=xxx", "s3://bbb?endpoint=http://s3.example:9000&prefix=yyy"},
	}
	for _, p := range differ {
		if StoreKey(p[0]) == StoreKey(p[1]) {
			t.Errorf("%s and %s share the key %q", p[0], p[1], StoreKey(p[0]))
		}
	}
}

// TestStoreKeyOfSpellingsTheOpenerSendsAlike: spellings the opener sends
// to one object (the request it would sign, its host read as AWS reads
// it) have one key. The pairs are asked of the opener itself, so that a
// change in how it addresses a bucket fails here, not in production.
func TestStoreKeyOfSpellingsTheOpenerSendsAlike(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "example-secret")
	pairs := [][2]string{
		{"s3://bucket?prefix=xxx/p/", "s3://xxx?endpoint=https://bucket.s3.eu-west-1.amazonaws.com&use_path_style=true&prefix=p/"},
		{"s3://xxx.bucket?prefix=p/", "s3://xxx?endpoint=https://bucket.s3.eu-west-1.amazonaws.com&prefix=p/"},
		{"s3://bbb", "s3://bbb?endpoint=https://s3xfoo.amazonaws.com"},
		{"s3://bbb?endpoint=http://s3.example:9000&prefix=xxx/", "s3://xxx?endpoint=http://bbb.s3.example:9000&use_path_style=true"},
		{"s3://xxx.bbb?endpoint=http://s3.example:9000", "s3://xxx?endpoint=http://bbb.s3.example:9000"},
		{"s3://mybucket?endpoint=https://s3.example:9000&prefix=mybucket/", "s3://mybucket?endpoint=https://mybucket.s3.example:9000&use_path_style=true"},
	}
	sentAlikeKeyedAlike(t, pairs)
}

// sentAlikeKeyedAlike wants each pair of spellings sent by the opener to
// one place (sentTo), and keyed alike by StoreKey.
func sentAlikeKeyedAlike(t *testing.T, pairs [][2]string) {
	t.Helper()
	for _, p := range pairs {
		a, b := sentTo(t, p[0]), sentTo(t, p[1])
		if a != b {
			t.Errorf("%s is sent to %s, %s to %s: not a pair", p[0], a, p[1], b)
			continue
		}
		if ka, kb := StoreKey(p[0]), StoreKey(p[1]); ka != kb {
			t.Errorf("%s and %s are both sent to %s, but their keys are %q and %q", p[0], p[1], a, ka, kb)
		}
	}
}

// sentTo is where the opener of raw sends the read of one object: the
// scheme-less host (lower-case) and path, or for AWS the bucket its host
// or path names and the key.
func sentTo(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw + "&region=eu-west-1")
	if !strings.Contains(raw, "?") {
		u, err = url.Parse(raw + "?region=eu-west-1")
	}
	if err != nil {
		t.Fatal(err)
	}
	b, err := openS3(u)
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	defer b.tr.CloseIdleConnections()
	got, err := b.c.PresignedGetObject(context.Background(), b.bucket, b.prefix+"datasets/n/manifest", time.Minute, nil)
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	host := strings.ToLower(got.Hostname())
	if hb, ok := privateLinkSentTo(host); ok {
		if hb != "" {
			return "aws " + hb + got.Path
		}
		return "aws " + strings.TrimPrefix(got.Path, "/")
	}
	if _, hb, ok := catalog.AWSS3Host(host); ok {
		if hb != "" {
			return "aws " + hb + got.Path
		}
		return "aws " + strings.TrimPrefix(got.Path, "/")
	}
	return host + ":" + got.Port() + got.Path
}

// TestStoreKeyOfABucketBeforeAFIPSLabel: an endpoint whose host begins
// "s3-fips" is one the opener takes for AWS's but, unlike AWS's others,
// does not send to the bucket's regional endpoint: it sends to that host
// as it is, and AWS reads the bucket from it (s3-fips.hb.s3.<region>…
// is the bucket s3-fips.hb, xxx.s3-fips.hb… the bucket xxx.s3-fips.hb).
// Keyed as AWS's own endpoint, s3://xxx with it was the bucket xxx, and a
// tenant registered the owner of s3://xxx.s3-fips.hb's data through it.
func TestStoreKeyOfABucketBeforeAFIPSLabel(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "example-secret")
	pairs := [][2]string{
		{"s3://xxx.s3-fips.hb?prefix=p/", "s3://xxx?endpoint=http://s3-fips.hb.s3.us-east-1.amazonaws.com&prefix=p/"},
		{"s3://s3-fips.hb?prefix=xxx/p/", "s3://xxx?endpoint=http://s3-fips.hb.s3.us-east-1.amazonaws.com&use_path_style=true&prefix=p/"},
		// The opener's pattern for AWS's hosts reads them as written:
		// upper-case, or with a trailing ".", the host is sent to as it
		// is, and AWS reads the bucket before it.
		{"s3://xxx.s3.hb?prefix=p/", "s3://xxx?endpoint=http://S3.hb.s3.us-east-1.amazonaws.com&prefix=p/"},
		{"s3://xxx?prefix=p/", "s3://xxx?endpoint=http://s3.hb.s3.us-east-1.amazonaws.com&prefix=p/"},
		// AWS's own FIPS endpoints name no bucket.
		{"s3://xxx?prefix=p/", "s3://xxx?endpoint=https://s3-fips.us-east-1.amazonaws.com&prefix=p/"},
		{"s3://xxx?prefix=p/", "s3://xxx?endpoint=https://s3-fips.dualstack.us-east-1.amazonaws.com&use_path_style=true&prefix=p/"},
	}
	sentAlikeKeyedAlike(t, pairs)
	// With a trailing ".", the host is sent to as it is (sentTo does not
	// read it as AWS's; AWS does).
	if a, b := StoreKey("s3://xxx.s3.hb?prefix=p/"), StoreKey("s3://xxx?endpoint=http://s3.hb.s3.us-east-1.amazonaws.com.&prefix=p/"); a != b {
		t.Errorf("a bucket before an AWS host with a trailing \".\": keys %q and %q, want one", a, b)
	}
}

// privateLinkSentTo reads host as AWS reads an S3 PrivateLink interface
// endpoint's (bucket.vpce-<id>.s3.<region>.vpce.amazonaws.com): "bucket"
// there says a bucket is addressed, and the bucket is the names before it
// ("" where none is, the bucket then first in the path). ok is false for
// any other host.
func privateLinkSentTo(host string) (bucket string, ok bool) {
	if !strings.HasSuffix(host, ".vpce.amazonaws.com") {
		return "", false
	}
	if strings.HasPrefix(host, "bucket.vpce-") {
		return "", true
	}
	before, _, ok := strings.Cut(host, ".bucket.vpce-")
	return before, ok
}

// TestStoreKeyOfABucketBeforeAPrivateLinkEndpoint: an S3 PrivateLink
// interface endpoint's host begins with the word "bucket" (addressing
// buckets, not access points), and a bucket is named before it
// (mydata.bucket.vpce-…), not by it. The opener sends to such a host as
// it is, so the bucket AWS reads is the one before "bucket.vpce-", or the
// URL's own. Keyed before as the bucket "bucket" (or "mydata.bucket"), a
// tenant registered the owner of mydata's data through such an endpoint.
func TestStoreKeyOfABucketBeforeAPrivateLinkEndpoint(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "example-secret")
	const vpce = "bucket.vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com"
	pairs := [][2]string{
		// The endpoint as AWS gives it: the URL's bucket, either style.
		{"s3://xxx?prefix=p/", "s3://xxx?endpoint=https://" + vpce + "&prefix=p/"},
		{"s3://xxx?prefix=p/", "s3://xxx?endpoint=https://" + vpce + "&use_path_style=true&prefix=p/"},
		// A bucket before it: that bucket, the URL's bucket beginning
		// the keys (path-style) or before it (virtual-hosted).
		{"s3://mydata?prefix=xxx/p/", "s3://xxx?endpoint=https://mydata." + vpce + "&use_path_style=true&prefix=p/"},
		{"s3://xxx.mydata?prefix=p/", "s3://xxx?endpoint=http://mydata." + vpce + "&prefix=p/"},
		{"s3://xxx.mydata?prefix=p/", "s3://xxx?endpoint=https://MyData." + vpce + "&prefix=p/"},
		// Spelt so that the opener's pattern does not take it for AWS's
		// (upper-case), or a FIPS-looking name before it: sent as it is.
		{"s3://xxx?prefix=p/", "s3://xxx?endpoint=https://Bucket.vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com&prefix=p/"},
		{"s3://xxx.s3-fips?prefix=p/", "s3://xxx?endpoint=http://s3-fips." + vpce + "&prefix=p/"},
		// A name before it that the opener takes for AWS's regional
		// endpoint: sent there, the URL's bucket.
		{"s3://xxx?prefix=p/", "s3://xxx?endpoint=https://s3data." + vpce + "&prefix=p/"},
	}
	sentAlikeKeyedAlike(t, pairs)
	// With a trailing ".", the host is sent to as it is (sentTo does not
	// read it as AWS's; AWS does).
	if a, b := StoreKey("s3://xxx.mydata?prefix=p/"), StoreKey("s3://xxx?endpoint=mydata."+vpce+".&prefix=p/"); a != b {
		t.Errorf("a bucket before a PrivateLink host with a trailing \".\": keys %q and %q, want one", a, b)
	}
	// Two buckets behind one endpoint stay two keys.
	if a, b := StoreKey("s3://xxx?endpoint=mydata."+vpce), StoreKey("s3://xxx?endpoint=other."+vpce); a == b {
		t.Errorf("two buckets before one PrivateLink endpoint share the key %q", a)
	}
}
