package seal

import (
	"strings"
	"testing"
)

// TestUnwrapKeyQuotesNothing: a file offered as a wrapped key that is not
// one (a plain dataset key saved as NAME.key.age, an age identity, an
// armored file with a stray line) is refused without quoting its lines:
// age's parse errors quote them, and they went into the error whole, a
// dataset key or an identity with them, to the terminal and the server's
// log.
func TestUnwrapKeyQuotesNothing(t *testing.T) {
	secret := Key{7, 7, 7}.String()
	good := string(wrapText(t, Key{1}.String()))
	lines := strings.Split(strings.TrimSpace(good), "\n")
	for name, file := range map[string]string{
		"plain key":        secret + "\n",
		"identity":         testIdentity + "\n",
		"armored, a line":  lines[0] + "\n" + secret + "\n" + strings.Join(lines[1:], "\n") + "\n",
		"armored, closing": strings.Join(lines[:len(lines)-1], "\n") + "\n" + secret + "\n",
	} {
		_, err := UnwrapKey([]byte(file), testIdentity)
		if err == nil {
			t.Errorf("%s: unwrapped", name)
			continue
		}
		for _, s := range []string{secret, testIdentity, secret[len(secret)-20:]} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: the error quotes the file: %v", name, err)
			}
		}
	}
}
