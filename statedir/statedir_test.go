package statedir

import (
	"bytes"
	"os"
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
