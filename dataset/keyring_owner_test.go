package dataset

import (
	"os"
	"strings"
	"testing"
)

// TestKeyringRefusesAKeyAnotherUserOwns: a local user who can write the
// keyring's directory (one made by someone else first, a group-writable
// one) put there a 0600 key file of their own, with a key they knew; its
// mode was all the keyring checked, and root, or the server's user, read
// it and sealed the dataset under it. A key file another user owns is now
// refused, naming the file and its owner.
func TestKeyringRefusesAKeyAnotherUserOwns(t *testing.T) {
	k := Keyring{Dir: t.TempDir()}
	want, err := k.GetOrCreate("ds")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k.Get("ds"); err != nil || got != want {
		t.Fatalf("own key: %v", err)
	}
	path := k.path("ds")
	if os.Geteuid() == 0 {
		if err := os.Chown(path, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	} else {
		real := os.Geteuid()
		geteuid = func() int { return real + 1 }
		t.Cleanup(func() { geteuid = os.Geteuid })
	}
	_, err = k.Get("ds")
	if err == nil || !strings.Contains(err.Error(), path+": owned by uid ") {
		t.Fatalf("a key file another user owns: %v; want it refused naming the file and its owner", err)
	}
}
