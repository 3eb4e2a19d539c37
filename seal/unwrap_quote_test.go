package seal

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"filippo.io/age/armor"
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

// TestUnwrapKeyAlteredHeader: a wrapped key whose header was changed after
// it was written (age: "bad header MAC") is said to be one that does not
// parse or was altered, not only one that does not parse: the file is an
// age file whose header parses, and the operator who reads "does not
// parse" looks for the wrong thing.
func TestUnwrapKeyAlteredHeader(t *testing.T) {
	wrapped := wrapText(t, Key{1}.String())
	bin, err := io.ReadAll(armor.NewReader(bytes.NewReader(wrapped)))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(bin, []byte("\n--- "))
	if i < 0 {
		t.Fatalf("no MAC line in the age header: %q", bin)
	}
	// The MAC's first base64 character: any other one gives other bytes.
	if bin[i+5] == 'A' {
		bin[i+5] = 'B'
	} else {
		bin[i+5] = 'A'
	}
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	if _, err := aw.Write(bin); err != nil {
		t.Fatal(err)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = UnwrapKey(buf.Bytes(), testIdentity)
	if err == nil {
		t.Fatal("a wrapped key with an altered header was unwrapped")
	}
	if !strings.Contains(err.Error(), "was altered") {
		t.Errorf("the error does not say the header may have been altered: %v", err)
	}
}
