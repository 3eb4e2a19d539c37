package dataset

import (
	"os"
	"path/filepath"
	"regexp"
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
// and the error is bounded (it never quotes the file whole) and quotes no
// 20 characters of a secret anywhere in the file.
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
	// A key pasted, after other text, as the armor's closing line, which
	// age quotes whole: the line is not the key, and a check of lines
	// that are keys let it by.
	lines := strings.Split(strings.TrimSpace(string(wrapped)), "\n")
	f.Add([]byte(strings.Join(lines[:len(lines)-1], "\n")+"\nkey: "+key.String()+"\n"), true)
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
			// one, an identity) is never quoted back, whole or in part.
			for _, line := range strings.Split(string(data), "\n") {
				line = strings.TrimSpace(line)
				_, isKey := seal.ParseKey(line)
				secret := isKey == nil || (strings.HasPrefix(line, "AGE-SECRET-KEY-") && len(line) > 20)
				if secret && strings.Contains(err.Error(), line) {
					t.Fatalf("the error quotes a secret of the file: %v", err)
				}
			}
			if part := quotedSecret(data, strings.ReplaceAll(err.Error(), path, "")); part != "" {
				t.Fatalf("the error quotes %q, part of a secret of the file: %v", part, err)
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

// secretInFile finds what reads as a secret anywhere in a file, on a line
// of its own or not: a dataset key's text form, or an age identity (in
// either case, as age's parser refuses a lower-case one that is still the
// secret).
var secretInFile = regexp.MustCompile(`meridian-dataset-key-v1:[A-Za-z0-9+/]{43}=|(?i)AGE-SECRET-KEY-1[0-9A-Z]{58}`)

// quotedSecret returns a run of 20 characters of a secret's material in
// data (past its fixed prefix) that text holds, or "". A line trimmed and
// compared whole misses a secret quoted in part, or one on a line with
// other text, as age's errors quote them.
func quotedSecret(data []byte, text string) string {
	const run = 20
	for _, m := range secretInFile.FindAll(data, -1) {
		body := string(m)
		if strings.HasPrefix(body, "meridian-dataset-key-v1:") {
			body = strings.TrimPrefix(body, "meridian-dataset-key-v1:")
		} else {
			body = body[len("AGE-SECRET-KEY-1"):]
		}
		for i := 0; i+run <= len(body); i++ {
			if strings.Contains(text, body[i:i+run]) {
				return body[i : i+run]
			}
		}
	}
	return ""
}
