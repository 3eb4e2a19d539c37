package dataset

import (
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

// TestKeyringBadIdentityNamed: an identity that is not one (a typo, the
// wrong file put in MERIDIAN_AGE_IDENTITY) is reported as the identity's
// fault, named as MERIDIAN_AGE_IDENTITY, not under the key file's name:
// before, the operator was sent to a key file that was sound.
func TestKeyringBadIdentityNamed(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "keyring")
	if _, err := (Keyring{Dir: dir, AgeIdentity: id.String()}).GetOrCreate("d"); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"not an identity": "not an identity\n",
		"a recipient":     id.Recipient().String() + "\n",
		"comments only":   "# created: today\n",
		"a cut identity":  id.String()[:40] + "\n",
	} {
		_, err := (Keyring{Dir: dir, AgeIdentity: bad}).Get("d")
		if err == nil {
			t.Errorf("%s: Get with it succeeded", name)
			continue
		}
		if !strings.Contains(err.Error(), "MERIDIAN_AGE_IDENTITY") {
			t.Errorf("%s: the error does not name the identity (MERIDIAN_AGE_IDENTITY): %v", name, err)
		}
		if strings.Contains(err.Error(), "d.key.age") {
			t.Errorf("%s: the error blames the key file: %v", name, err)
		}
	}
}
