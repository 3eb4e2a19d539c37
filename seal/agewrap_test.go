package seal

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// testIdentity is an age identity made for these tests only.
const testIdentity = "AGE-SECRET-KEY-13JLEM5VWU02XMKDN8X4WV4GUGQS00MEC9NES5UY4QFVS3ZL0W3YSE425JG"

// wrapText wraps arbitrary text for testIdentity, as WrapKey wraps a key's.
func wrapText(t testing.TB, text string) []byte {
	t.Helper()
	id, err := age.ParseX25519Identity(testIdentity)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, text)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A wrapped key is read to the end of its age stream: a payload longer than
// any key's text is refused, not cut to its first bytes and taken for a key
// without the stream's end ever being checked.
func TestUnwrapKeyReadsToTheEnd(t *testing.T) {
	k, _ := NewKey()
	if got, err := UnwrapKey(wrapText(t, k.String()), testIdentity); err != nil || got != k {
		t.Fatalf("genuine wrapped key: %v, %v", got, err)
	}
	long := wrapText(t, k.String()+strings.Repeat(" ", 100<<10))
	if got, err := UnwrapKey(long, testIdentity); err == nil {
		t.Fatalf("a wrapped payload of %d bytes was taken for key %v", len(k.String())+100<<10, got)
	}
}

// TestWrapKeyErrorKeepsSecretsOut: an age identity, or a dataset key, given
// where a recipient goes (a mix-up of two files, or of two flags) was
// quoted whole in WrapKey's error, as age quotes it, into a terminal or a
// CI log. It is refused without being shown, saying what it is; a
// malformed recipient, which is public, is still shown.
func TestWrapKeyErrorKeepsSecretsOut(t *testing.T) {
	key := Key{9, 9, 9}
	for _, secret := range []string{testIdentity, strings.ToLower(testIdentity), key.String(), "hunter2-not-a-recipient"} {
		_, err := WrapKey(key, secret)
		if err == nil {
			t.Fatalf("WrapKey to %q: no error", secret)
		}
		body := strings.TrimPrefix(strings.TrimPrefix(strings.ToUpper(secret), "AGE-SECRET-KEY-1"), strings.ToUpper(keyPrefix))
		if strings.Contains(strings.ToUpper(err.Error()), body[:16]) {
			t.Errorf("WrapKey's error shows the secret given as a recipient: %v", err)
		}
		if !strings.Contains(err.Error(), "age recipient 1 ") {
			t.Errorf("error %q does not name the recipient", err)
		}
	}
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WrapKey(key, pq.Recipient().String()); err == nil || !strings.Contains(err.Error(), "post-quantum") {
		t.Errorf("a post-quantum recipient: %v, want it named as one", err)
	}
	if _, err := WrapKey(key, pq.String()); err == nil || strings.Contains(err.Error(), pq.String()[20:40]) {
		t.Errorf("a post-quantum identity given as a recipient: %v", err)
	}
	bad := "age1notarecipient"
	if _, err := WrapKey(key, bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("a malformed recipient: %v, want it named", err)
	}
}
