package dataset

import (
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"

	"meridian.dev/meridian/seal"
)

// TestKeyringPutReplacesEitherForm: a key put in place of one kept in the
// other form (wrapped with age, or plain) replaces it. The old form was
// left beside the new: a wrapped key stayed the one read (the key just
// replaced, used again once the identity is given), and a plain key
// stayed on disk unwrapped after the keyring took to wrapping.
func TestKeyringPutReplacesEitherForm(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	wrapped := Keyring{Dir: dir, AgeIdentity: id.String()}
	plain := Keyring{Dir: dir}
	k1, _ := seal.NewKey()
	k2, _ := seal.NewKey()
	k3, _ := seal.NewKey()

	if err := wrapped.Put("d", k1); err != nil {
		t.Fatal(err)
	}
	if err := plain.Put("d", k2); err != nil {
		t.Fatal(err)
	}
	for _, kr := range []Keyring{plain, wrapped} {
		if got, err := kr.Get("d"); err != nil || got != k2 {
			t.Fatalf("after a plain key replaced a wrapped one, Get (identity given: %v) = the key put: %v, %v", kr.AgeIdentity != "", got == k2, err)
		}
	}

	if err := wrapped.Put("d", k3); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "d.key")); err == nil {
		t.Fatal("the plain key replaced by a wrapped one is still on disk")
	}
	if got, err := wrapped.Get("d"); err != nil || got != k3 {
		t.Fatalf("after a wrapped key replaced a plain one, Get = the key put: %v, %v", got == k3, err)
	}
}
