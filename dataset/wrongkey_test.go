package dataset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"meridian.dev/meridian/seal"
)

// TestSubstitutedKeyRefusedByThePin: the key a job unseals with comes to
// the site as a file wrapped for the job's public age recipient, and age
// does not say who wrapped it: whoever can write that file can put there
// another key, wrapped for the same recipient, and it unwraps. With the
// manifest's digest recorded (the pin), the stored manifest is known to be
// the one sealed, so a manifest that then fails to authenticate can only
// mean a wrong key: the unseal says so (ErrWrongKey) before any chunk is
// read, and writes nothing. Had the same hand replaced the dataset in the
// site's store with one sealed under its own key, the pin refuses that
// manifest.
func TestSubstitutedKeyRefusedByThePin(t *testing.T) {
	ctx := context.Background()
	store, storeDir := newStore(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "records"), []byte("the owner's data"), 0o600); err != nil {
		t.Fatal(err)
	}
	owner, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	sealer := func(k seal.Key) *seal.Sealer {
		s, err := seal.New(k, "ds")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, err := Add(ctx, AddOptions{Name: "ds", Root: src, Store: store, Sealer: sealer(owner)}); err != nil {
		t.Fatal(err)
	}
	stored, err := os.ReadFile(filepath.Join(storeDir, filepath.FromSlash(ManifestKey("ds"))))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(stored)
	pin := hex.EncodeToString(sum[:])

	// The job's identity; its recipient is public.
	job, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	forged, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := seal.WrapKey(forged, job.Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	got, err := seal.UnwrapKey(wrapped, job.String())
	if err != nil || got != forged {
		t.Fatalf("a key wrapped by anyone for the job's recipient: unwrapped %v, %v", got, err)
	}

	dir := filepath.Join(t.TempDir(), "out")
	_, err = UnsealDirPinned(ctx, store, sealer(got), "ds", dir, pin)
	if !errors.Is(err, ErrWrongKey) || !errors.Is(err, ErrManifestAuth) {
		t.Fatalf("unseal with a substituted key: %v; want ErrWrongKey (an ErrManifestAuth)", err)
	}
	if !strings.Contains(err.Error(), "key is not the one") {
		t.Errorf("the error %q does not say the key is wrong", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a refused unseal wrote %d entries", len(ents))
	}
	// Without a pin a failed manifest may be an altered one: not called a wrong key.
	if _, err := UnsealDirPinned(ctx, store, sealer(got), "ds", filepath.Join(t.TempDir(), "out"), ""); !errors.Is(err, ErrManifestAuth) || errors.Is(err, ErrWrongKey) {
		t.Fatalf("unpinned unseal with a substituted key: %v; want ErrManifestAuth, not ErrWrongKey", err)
	}

	// The same hand replaces the dataset in the store with its own.
	if err := os.WriteFile(filepath.Join(src, "records"), []byte("planted"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Add(ctx, AddOptions{Name: "ds", Root: src, Store: store, Sealer: sealer(forged)}); err != nil {
		t.Fatal(err)
	}
	if _, err := UnsealDirPinned(ctx, store, sealer(got), "ds", dir, pin); !errors.Is(err, ErrManifestPin) {
		t.Fatalf("unseal of a planted dataset with its key: %v; want ErrManifestPin", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a refused unseal wrote %d entries", len(ents))
	}
}
