package dataset

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/seal"
)

// keyFileIdentity is a fixed age identity, so that a wrapped key file the
// fuzzer keeps as a finding reads the same on every run.
const keyFileIdentity = "AGE-SECRET-KEY-13JLEM5VWU02XMKDN8X4WV4GUGQS00MEC9NES5UY4QFVS3ZL0W3YSE425JG"

// FuzzKeyFile reads arbitrary bytes as a dataset's key file, plain
// (NAME.key) or wrapped with age (NAME.key.age), through Keyring.Get as the
// CLI, the server and the stager read them. A key accepted is the one its
// file writes (the plain text, less surrounding space) and reads back
// equal once Put, plain and wrapped; a file refused is named in the error,
// and the error is bounded (it never quotes the file whole).
func FuzzKeyFile(f *testing.F) {
	key, err := seal.NewKey()
	if err != nil {
		f.Fatal(err)
	}
	recips, err := seal.RecipientsOf(keyFileIdentity)
	if err != nil {
		f.Fatal(err)
	}
	wrapped, err := seal.WrapKey(key, recips...)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(key.String()+"\n"), false)
	f.Add([]byte("  "+key.String()+"\r\n"), false)
	f.Add([]byte("meridian-dataset-key-v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), false)
	f.Add([]byte("meridian-dataset-key-v1:"), false)
	f.Add(wrapped, true)
	f.Add(wrapped[:len(wrapped)/2], true)
	f.Add([]byte(key.String()), true)
	f.Add([]byte(keyFileIdentity+"\n"), true)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, age bool) {
		k := Keyring{Dir: filepath.Join(dir, "keyring"), AgeIdentity: keyFileIdentity}
		if err := os.MkdirAll(k.Dir, 0o700); err != nil {
			t.Fatal(err)
		}
		plain, wrappedPath := k.path("corpus"), k.path("corpus")+".age"
		os.Remove(plain)
		os.Remove(wrappedPath)
		path := plain
		if age {
			path = wrappedPath
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := k.Get("corpus")
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("the error does not name the key file %s: %v", path, err)
			}
			if len(err.Error()) > 1024+len(path) {
				t.Fatalf("the error runs to %d bytes: %.200q", len(err.Error()), err.Error())
			}
			// A secret in the file (a plain key saved as the wrapped
			// one, an identity) is never quoted back.
			for _, line := range strings.Split(string(data), "\n") {
				line = strings.TrimSpace(line)
				_, isKey := seal.ParseKey(line)
				secret := isKey == nil || (strings.HasPrefix(line, "AGE-SECRET-KEY-") && len(line) > 20)
				if secret && strings.Contains(err.Error(), line) {
					t.Fatalf("the error quotes a secret of the file: %v", err)
				}
			}
			return
		}
		if !age && got.String() != strings.TrimSpace(string(data)) {
			t.Fatalf("key file %q read as %s, another spelling", data, got)
		}
		for _, id := range []string{"", keyFileIdentity} {
			back := Keyring{Dir: filepath.Join(dir, "back"), AgeIdentity: id}
			if err := back.Put("corpus", got); err != nil {
				t.Fatal(err)
			}
			again, err := back.Get("corpus")
			if err != nil || again != got {
				t.Fatalf("the key put (identity %t) reads back %v, %v", id != "", again.Fingerprint(), err)
			}
		}
	})
}
