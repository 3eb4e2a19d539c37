package statedir

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

func TestSecretSharedByConcurrentStarts(t *testing.T) {
	d := Dir{Path: t.TempDir() + "/state"}
	var wg sync.WaitGroup
	keys := make([][]byte, 8)
	for i := range keys {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			k, err := d.Secret(AgentKey)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}(i)
	}
	wg.Wait()
	for i, k := range keys {
		if len(k) != 32 || !bytes.Equal(k, keys[0]) {
			t.Fatalf("start %d got key %x, start 0 %x", i, k, keys[0])
		}
	}
	again, err := d.Secret(AgentKey)
	if err != nil || !bytes.Equal(again, keys[0]) {
		t.Errorf("reload: %x %v", again, err)
	}
	if err := os.Chmod(d.Join(AgentKey), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Secret(AgentKey); err == nil {
		t.Error("a secret others may read was accepted")
	}
}

func TestClientRoundTrip(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	want := Client{Server: "https://127.0.0.1:7420", Token: "t", Fingerprint: "ab"}
	if err := d.WriteClient(want); err != nil {
		t.Fatal(err)
	}
	got, err := d.ReadClient()
	if err != nil || got != want {
		t.Fatalf("%+v %v", got, err)
	}
	if fi, _ := os.Stat(d.Join(ClientFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
}

func TestCanonicalOneNameForEverySpelling(t *testing.T) {
	base := t.TempDir()
	real := base + "/state"
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, base+"/link"); err != nil {
		t.Fatal(err)
	}
	t.Chdir(base)
	want, err := Canonical(real)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"state", "./state/", "link", base + "/link", base + "/state/../state"} {
		got, err := Canonical(p)
		if err != nil || got != want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", p, got, err, want)
		}
	}
	if _, err := Canonical(base + "/missing"); err == nil {
		t.Error("Canonical of a missing directory: no error")
	}
}

// TestClientExposedRefused: a client.json its group or others may read or
// write is refused, naming the file and the chmod that fixes it, and
// read again once that is done.
func TestClientExposedRefused(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	want := Client{Server: "https://127.0.0.1:7420", Token: "t", Fingerprint: "ab"}
	if err := d.WriteClient(want); err != nil {
		t.Fatal(err)
	}
	path := d.Join(ClientFile)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620, 0o602} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		c, err := d.ReadClient()
		if !errors.Is(err, ErrExposed) || !strings.Contains(err.Error(), path+": ") || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %v: %v, want a refusal naming %s and the chmod that fixes it", mode, err, path)
		}
		if c.Token != "" {
			t.Errorf("mode %v: the token was handed out: %+v", mode, c)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if got, err := d.ReadClient(); err != nil || got != want {
		t.Errorf("mode 0400: %+v %v", got, err)
	}
}
