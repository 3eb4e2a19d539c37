package dataset

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// storesUnderTest opens a fresh file store and, when scripts/s3-up.sh has
// exported MERIDIAN_TEST_S3_URL, a view of the S3 bucket under a prefix no
// other test uses.
func storesUnderTest(t *testing.T) map[string]*Store {
	t.Helper()
	ctx := context.Background()
	out := map[string]*Store{}
	f, err := OpenStore(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out["file"] = f
	if u := os.Getenv("MERIDIAN_TEST_S3_URL"); u != "" {
		s, err := OpenStore(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		prefix := "store-test/" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + time.Now().Format("150405.000000000") + "/"
		sub := s.Sub(prefix)
		t.Cleanup(func() {
			for o, err := range sub.List(ctx, "") {
				if err == nil {
					sub.Delete(ctx, o.Key)
				}
			}
		})
		out["s3"] = sub
	}
	return out
}

// TestStoreOperations: put, read, list (with prefixes, relative to a Sub
// view), delete, on every backend: what callers rely on.
func TestStoreOperations(t *testing.T) {
	ctx := context.Background()
	for name, st := range storesUnderTest(t) {
		t.Run(name, func(t *testing.T) {
			sub := st.Sub("t/acme/")
			objs := map[string][]byte{
				"a/1":      []byte("one"),
				"a/2":      bytes.Repeat([]byte{7}, 100<<10),
				"ab/3":     nil,
				"b/deep/4": []byte("four"),
			}
			for k, v := range objs {
				if err := Put(ctx, sub, k, v); err != nil {
					t.Fatal(err)
				}
			}
			if err := Put(ctx, st, "outside", []byte("x")); err != nil {
				t.Fatal(err)
			}
			for k, v := range objs {
				got, err := ReadObject(ctx, sub, k, 1<<20)
				if err != nil || !bytes.Equal(got, v) {
					t.Errorf("read %s: %d bytes, %v; want %d bytes", k, len(got), err, len(v))
				}
				got, err = ReadObject(ctx, st, "t/acme/"+k, 1<<20)
				if err != nil || !bytes.Equal(got, v) {
					t.Errorf("read t/acme/%s through the parent: %d bytes, %v", k, len(got), err)
				}
			}
			list := func(prefix string) []string {
				var keys []string
				for o, err := range sub.List(ctx, prefix) {
					if err != nil {
						t.Fatalf("list %q: %v", prefix, err)
					}
					if want := int64(len(objs[o.Key])); o.Size != want {
						t.Errorf("list %q: %s has size %d, want %d", prefix, o.Key, o.Size, want)
					}
					if o.ModTime.IsZero() || time.Since(o.ModTime) > time.Hour {
						t.Errorf("list %q: %s has modification time %v", prefix, o.Key, o.ModTime)
					}
					keys = append(keys, o.Key)
				}
				slices.Sort(keys)
				return keys
			}
			for prefix, want := range map[string][]string{
				"":        {"a/1", "a/2", "ab/3", "b/deep/4"},
				"a/":      {"a/1", "a/2"},
				"a":       {"a/1", "a/2", "ab/3"},
				"b/de":    {"b/deep/4"},
				"c/":      nil,
				"a/1":     {"a/1"},
				"nothing": nil,
			} {
				if got := list(prefix); !slices.Equal(got, want) {
					t.Errorf("list %q: %v, want %v", prefix, got, want)
				}
			}
			n := 0
			for range sub.List(ctx, "") {
				n++
				break
			}
			if n != 1 {
				t.Errorf("a listing stopped early yielded %d", n)
			}
			if err := sub.Delete(ctx, "a/1"); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadObject(ctx, sub, "a/1", 1<<20); !errors.Is(err, ErrNotFound) {
				t.Errorf("read after delete: %v, want ErrNotFound", err)
			}
			if err := sub.Delete(ctx, "a/1"); err != nil {
				t.Errorf("deleting a missing object: %v", err)
			}
			if _, err := ReadObject(ctx, sub, "never", 1<<20); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "never") {
				t.Errorf("read of a missing object: %v, want ErrNotFound naming it", err)
			}
			if _, err := ReadObject(ctx, sub, "a/2", 1000); !errors.Is(err, ErrTooLarge) {
				t.Errorf("read over the limit: %v, want ErrTooLarge", err)
			}
			if err := Put(ctx, sub, "b/deep/4", []byte("replaced")); err != nil {
				t.Fatal(err)
			}
			if got, _ := ReadObject(ctx, sub, "b/deep/4", 100); string(got) != "replaced" {
				t.Errorf("overwritten object reads %q", got)
			}
		})
	}
}

// TestFileStoreRefusesEscapingKeys: no key reaches outside the store's
// directory or names a file ambiguously.
func TestFileStoreRefusesEscapingKeys(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	st, err := OpenStore(ctx, "file://"+filepath.Join(parent, "store"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "../x", "a/../../x", "/etc/passwd", "a//b", "a/", "./a", "a/./b", "a\\b", "a\x00b", "a\nb"} {
		if err := Put(ctx, st, key, []byte("x")); err == nil || !strings.Contains(err.Error(), "not a valid object name") {
			t.Errorf("put %q: %v, want it refused", key, err)
		}
		if _, err := ReadObject(ctx, st, key, 10); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("read %q: %v, want it refused", key, err)
		}
	}
	if err := st.Sub("../").Delete(ctx, "x"); err == nil {
		t.Error("delete through a Sub prefix leaving the store succeeded")
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Errorf("the store's parent holds %d entries, want only the store", len(entries))
	}
}

// TestFileStorePutIsAtomic: a cancelled write publishes nothing and leaves
// no temporary file; the object's file is a plain file of the right bytes.
func TestFileStorePutIsAtomic(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStore(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Put(context.Background(), st, "k/obj", []byte("old")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Put(ctx, st, "k/obj", []byte("new")); err == nil {
		t.Fatal("a write with a cancelled context succeeded")
	}
	if got, err := os.ReadFile(filepath.Join(dir, "k", "obj")); err != nil || string(got) != "old" {
		t.Fatalf("after a cancelled write the object reads %q, %v", got, err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "k"))
	if len(entries) != 1 {
		t.Fatalf("%d entries beside the object, want none (temporary file left?)", len(entries)-1)
	}
	if _, err := os.Stat(filepath.Join(dir, "k", "obj.attrs")); err == nil {
		t.Fatal("metadata side file written")
	}
}

// TestFileStoreRefusesNonRegular: a symlink or FIFO under an object's name
// is refused, not followed or opened.
func TestFileStoreRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStore(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("not the store's"), 0o600)
	if err := os.Symlink(secret, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"link", "fifo"} {
		done := make(chan error, 1)
		go func() {
			_, err := ReadObject(context.Background(), st, key, 100)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) {
				t.Errorf("read %s: %v, want ErrNotRegular", key, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("read %s blocks", key)
		}
		if _, err := SameObject(context.Background(), st, key, []byte("x")); !errors.Is(err, ErrNotRegular) {
			t.Errorf("SameObject %s: %v, want ErrNotRegular", key, err)
		}
	}
}

// TestOpenStoreURLs: the URL forms accepted, and clear errors for the rest.
func TestOpenStoreURLs(t *testing.T) {
	ctx := context.Background()
	t.Chdir(t.TempDir())
	st, err := OpenStore(ctx, "file://./rel/store")
	if err != nil {
		t.Fatal(err)
	}
	if err := Put(ctx, st, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join("rel", "store", "k")); err != nil || string(got) != "v" {
		t.Fatalf("file://./rel wrote %q, %v", got, err)
	}
	for _, ok := range []string{
		"s3://bucket",
		"s3://bucket?endpoint=http://127.0.0.1:9000&use_path_style=true&region=us-east-1",
		"s3://bucket?endpoint=https://s3.example.com&region=eu-west-1&prefix=p/",
		"s3://bucket?endpoint=127.0.0.1:9000&disable_https=true&use_path_style=1",
		"s3://bucket?anonymous=true&region=us-east-1",
		"s3://bucket?profile=lab",
	} {
		if _, err := OpenStore(ctx, ok); err != nil {
			t.Errorf("OpenStore(%q): %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"gs://bucket":                           `scheme "gs" not supported`,
		"file://":                               "without a directory",
		"s3://?region=x":                        "without a bucket",
		"s3://bucket/some/path":                 "prefix parameter",
		"s3://bucket?fips=true":                 `parameter "fips" not supported`,
		"s3://bucket?use_path_style=yes please": "use_path_style",
		"s3://bucket?endpoint=ftp://host":       "endpoint",
		"s3://bucket?endpoint=http://host/path": "endpoint",
		"s3://bucket?region=a&region=b":         "given 2 times",
	} {
		_, err := OpenStore(ctx, bad)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), bad) {
			t.Errorf("OpenStore(%q): %v, want an error naming the URL and containing %q", bad, err, want)
		}
	}
}

// TestS3StoreErrors: against a real server, a missing bucket and wrong
// credentials are errors, never "not found" (which staging would take as
// "send it").
func TestS3StoreErrors(t *testing.T) {
	u := os.Getenv("MERIDIAN_TEST_S3_URL")
	if u == "" {
		t.Skip("MERIDIAN_TEST_S3_URL not set: run scripts/s3-up.sh (scripts/test.sh does)")
	}
	ctx := context.Background()
	missing, err := OpenStore(ctx, strings.Replace(u, "s3://meridian-test", "s3://no-such-bucket-here", 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadObject(ctx, missing, "k", 10); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("read from a missing bucket: %v, want an error other than ErrNotFound", err)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	wrong, err := OpenStore(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadObject(ctx, wrong, "k", 10); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("read with a wrong secret: %v, want an error other than ErrNotFound", err)
	}
	if err := Put(ctx, wrong, "k", []byte("x")); err == nil {
		t.Error("write with a wrong secret succeeded")
	}
}

// TestS3StoreCredentialsFile: with no AWS_* keys in the environment the
// store reads them from the shared credentials file, under the profile the
// URL names.
func TestS3StoreCredentialsFile(t *testing.T) {
	u := os.Getenv("MERIDIAN_TEST_S3_URL")
	if u == "" {
		t.Skip("MERIDIAN_TEST_S3_URL not set: run scripts/s3-up.sh (scripts/test.sh does)")
	}
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "credentials")
	creds := "[default]\naws_access_key_id = nobody\naws_secret_access_key = wrong\n\n[lab]\naws_access_key_id = " +
		os.Getenv("AWS_ACCESS_KEY_ID") + "\naws_secret_access_key = " + os.Getenv("AWS_SECRET_ACCESS_KEY") + "\n"
	if err := os.WriteFile(file, []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", file)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	key := "store-test/creds-" + time.Now().Format("150405.000000000")
	lab, err := OpenStore(ctx, u+"&profile=lab")
	if err != nil {
		t.Fatal(err)
	}
	if err := Put(ctx, lab, key, []byte("v")); err != nil {
		t.Fatalf("write with the lab profile's keys: %v", err)
	}
	defer lab.Delete(ctx, key)
	def, err := OpenStore(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadObject(ctx, def, key, 10); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("read with the default profile's wrong keys: %v, want refused", err)
	}
}

// TestS3StoreEndpointWithoutScheme: endpoint=host:port with
// disable_https=true speaks plain HTTP to the server.
func TestS3StoreEndpointWithoutScheme(t *testing.T) {
	u := os.Getenv("MERIDIAN_TEST_S3_URL")
	if u == "" || !strings.Contains(u, "endpoint=http://") {
		t.Skip("MERIDIAN_TEST_S3_URL not set to a plain-HTTP endpoint: run scripts/s3-up.sh (scripts/test.sh does)")
	}
	ctx := context.Background()
	bare := strings.Replace(u, "endpoint=http://", "endpoint=", 1)
	if !strings.Contains(bare, "disable_https=true") {
		bare += "&disable_https=true"
	}
	st, err := OpenStore(ctx, bare)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key := "store-test/bare-" + time.Now().Format("150405.000000000")
	if err := Put(ctx, st, key, []byte("v")); err != nil {
		t.Fatalf("%s: %v", bare, err)
	}
	defer st.Delete(ctx, key)
	if got, err := ReadObject(ctx, st, key, 10); err != nil || string(got) != "v" {
		t.Fatalf("read back %q, %v", got, err)
	}
}
