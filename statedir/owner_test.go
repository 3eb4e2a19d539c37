package statedir

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// asAnotherUsersFile makes the file at path one that another user owns,
// as this process sees it: chowned to nobody when the test runs as root
// (whom the file's mode does not stop from reading it), or, for another
// user, the process standing in a different uid.
func asAnotherUsersFile(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() == 0 {
		if err := os.Chown(path, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		return
	}
	real := os.Geteuid()
	geteuid = func() int { return real + 1 }
	t.Cleanup(func() { geteuid = os.Geteuid })
}

// TestSecretOwnedByAnotherUserRefused: a local user who can write the state
// directory (one they made before the server did, a group-writable one)
// put a 0600 secret of their own there, with a key they knew; its mode was
// all Secret checked, and root read it and used it. A secret another user
// owns is refused, naming the file and its owner.
func TestSecretOwnedByAnotherUserRefused(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	path := d.Join(AgentKey)
	if err := os.WriteFile(path, []byte("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Secret(AgentKey); err != nil {
		t.Fatalf("own secret: %v", err)
	}
	asAnotherUsersFile(t, path)
	key, err := d.Secret(AgentKey)
	if err == nil {
		t.Fatalf("a secret owned by another user: accepted (%x)", key)
	}
	if !strings.Contains(err.Error(), path+": owned by uid ") {
		t.Errorf("error %q does not name the file and its owner", err)
	}
}

// TestClientOwnedByAnotherUserRefused: the same for client.json, which
// names the server the CLI sends its token to and the certificate it pins
// there: one another user owns is refused (ErrExposed) by ReadClient, and
// read by ReadExposedClient alone, for the server to revoke its token.
func TestClientOwnedByAnotherUserRefused(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	want := Client{Server: "https://attacker.example:7420", Token: "t", Fingerprint: "ab"}
	if err := d.WriteClient(want); err != nil {
		t.Fatal(err)
	}
	asAnotherUsersFile(t, d.Join(ClientFile))
	c, err := d.ReadClient()
	if !errors.Is(err, ErrExposed) || !strings.Contains(err.Error(), d.Join(ClientFile)+": ") || !strings.Contains(err.Error(), "owned by uid ") {
		t.Errorf("client.json owned by another user: %+v, %v; want ErrExposed naming the file and its owner", c, err)
	}
	if c.Server != "" {
		t.Errorf("the server it names was handed out: %+v", c)
	}
	if got, err := d.ReadExposedClient(); err != nil || got != want {
		t.Errorf("ReadExposedClient: %+v %v", got, err)
	}
}
