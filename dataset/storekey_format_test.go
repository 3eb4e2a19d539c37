package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// storeKeyCorpus is spellings whose keys StoreKeyFormat stands for.
var storeKeyCorpus = []string{
	"file:///srv/store", "file:///srv//store/", "file:///srv/store/.", "file://host/x", "file:///x?a=b",
	"s3://b", "s3://B", "s3://b/", "s3://b?prefix=", "s3://b?prefix=/", "s3://b?prefix=p/", "s3://b?prefix=/p",
	"s3://b?region=eu&read_idle=5s&part_size=5MiB&profile=x&anonymous=true&use_path_style=true",
	"s3://b?endpoint=http://Host.Example.:80/", "s3://b?endpoint=host:0443", "s3://b?endpoint=[::ffff:127.0.0.1]:9000",
	"s3://b?endpoint=host&disable_https=true", "s3://b?endpoint=s3.eu-west-1.amazonaws.com", "s3://b?endpoint=b.s3.amazonaws.com",
	"s3://x?endpoint=b.s3.eu-west-1.amazonaws.com&use_path_style=true&prefix=P/", "s3://x?endpoint=B.s3-eu-west-1.amazonaws.com&prefix=p",
	"s3://b?endpoint=s3xfoo.amazonaws.com", "s3://x?endpoint=http://B.s3.example:9000&prefix=a.b/C/d/&use_path_style=true", "s3://b:1?endpoint=h",
	"s3://x?endpoint=http://s3-fips.b.s3.us-east-1.amazonaws.com", "s3://x?endpoint=S3.b.s3.us-east-1.amazonaws.com&use_path_style=true", "s3://x?endpoint=s3-fips.us-east-1.amazonaws.com",
	"s3://x?endpoint=b.bucket.vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com&use_path_style=true", "s3://x?endpoint=Bucket.vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com",
	"s3://b?unknown=1", "s3://b?prefix=a&prefix=b", "s3://b?endpoint=ftp://h", "s3://b/path", "gs://b", "::bad",
}

// storeKeyFormats is, for each StoreKeyFormat, the digest of the corpus's
// keys under it.
var storeKeyFormats = map[string]string{
	"5": "8c4dc6eba142c27e05bb981f722c74908b4a79aad881c237da8179cc9fc89cb9",
}

// TestStoreKeyFormatPinned fails when StoreKey's keys change and
// StoreKeyFormat does not: a start re-keys the registered datasets only
// when the format changes, and rows left under a key of before let
// another tenant register their data under today's.
func TestStoreKeyFormatPinned(t *testing.T) {
	var keys []string
	for _, raw := range storeKeyCorpus {
		keys = append(keys, StoreKey(raw))
	}
	sum := sha256.Sum256([]byte(strings.Join(keys, "\n")))
	got := hex.EncodeToString(sum[:])
	if want := storeKeyFormats[StoreKeyFormat]; got != want {
		t.Fatalf("StoreKey's keys of the corpus digest to %s, format %q to %q: change StoreKeyFormat with any change to StoreKey's keys, and pin the new digest here; keys:\n%s",
			got, StoreKeyFormat, want, strings.Join(keys, "\n"))
	}
}
