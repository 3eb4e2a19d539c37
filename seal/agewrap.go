package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// WrapKey encrypts a dataset key to one or more age recipients ("age1…"),
// returning ASCII-armored age ciphertext. Use it to keep the key for an owner
// who holds an age identity, or to deliver it to a job that holds one.
func WrapKey(k Key, recipients ...string) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, fmt.Errorf("wrap key: no age recipient")
	}
	var rs []age.Recipient
	for i, r := range recipients {
		r = strings.TrimSpace(r)
		rec, err := age.ParseX25519Recipient(r)
		if err != nil {
			return nil, recipientError(i, r, err)
		}
		rs = append(rs, rec)
	}
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, rs...)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, k.String()); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// recipientError says why recipients[i], r, is not one WrapKey takes. Its
// text is quoted only when it reads as a recipient ("age1…", lower case,
// as age writes one), and so is public: what else is put where a
// recipient goes is most often a secret put there by mistake (an
// identity, "AGE-SECRET-KEY-1…", or a key's text form), and age's own
// error quotes the text whole, into a terminal or a CI log.
func recipientError(i int, r string, err error) error {
	if strings.HasPrefix(r, "age1") && !strings.HasPrefix(r, "age1pq1") && strings.ToLower(r) == r && len(r) <= 100 {
		return fmt.Errorf("age recipient %q: %w", r, err)
	}
	what := "not an age X25519 recipient (age1…)"
	switch {
	case strings.HasPrefix(r, "age1pq1"):
		what = "a post-quantum age recipient (age1pq1…), which is not taken here: give an X25519 one (age1…)"
	case strings.HasPrefix(strings.ToUpper(r), "AGE-SECRET-KEY-"):
		what = "an age identity (a secret key), not a recipient: give its recipient (age-keygen -y FILE), and treat the identity as exposed wherever it was written"
	case strings.HasPrefix(r, keyPrefix):
		what = "a dataset key, not an age recipient: treat that key as exposed wherever it was written"
	}
	return fmt.Errorf("age recipient %d (%d characters, not shown): %s", i+1, len(r), what)
}

// UnwrapKey decrypts a key wrapped by WrapKey with the age identities in
// identityFile (the text of an age identity file: "AGE-SECRET-KEY-1…" lines).
func UnwrapKey(wrapped []byte, identityFile string) (Key, error) {
	ids, err := age.ParseIdentities(strings.NewReader(identityFile))
	if err != nil {
		return Key{}, fmt.Errorf("age identity: %w", err)
	}
	r, err := age.Decrypt(armor.NewReader(bytes.NewReader(wrapped)), ids...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return Key{}, fmt.Errorf("unwrap key: %w", err)
		}
		return Key{}, errors.New("unwrap key: not an age-armored file, or its header does not parse or was altered (age's reason is not shown: it quotes the file's lines, and a file given as a wrapped key may hold a secret)")
	}
	// Read to the end: age authenticates the end of its stream only when a
	// reader reaches it, so a prefix of a longer payload is never taken for
	// the key. What WrapKey writes is far shorter than the bound.
	text, err := io.ReadAll(io.LimitReader(r, maxWrappedText+1))
	if err != nil {
		// Not age's reason either: a closing line that is not the
		// armor's is quoted in it.
		return Key{}, errors.New("unwrap key: the wrapped payload does not decrypt to its end (it is cut or altered)")
	}
	if len(text) > maxWrappedText {
		return Key{}, fmt.Errorf("unwrap key: the wrapped text is over %d bytes: not a wrapped dataset key", maxWrappedText)
	}
	return ParseKey(string(text))
}

// maxWrappedText bounds the plaintext of a wrapped key: the key's text
// form with room for surrounding space.
const maxWrappedText = 4096

// IsWrapped reports whether data looks like an armored age file.
func IsWrapped(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimSpace(data), []byte(armor.Header))
}

// RecipientsOf returns the age recipients of the X25519 identities in an
// identity file, so that a key can be wrapped for whoever holds it.
func RecipientsOf(identityFile string) ([]string, error) {
	ids, err := age.ParseIdentities(strings.NewReader(identityFile))
	if err != nil {
		return nil, fmt.Errorf("age identity: %w", err)
	}
	var out []string
	for _, id := range ids {
		if x, ok := id.(*age.X25519Identity); ok {
			out = append(out, x.Recipient().String())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("age identity: no X25519 identity (AGE-SECRET-KEY-1…) found")
	}
	return out, nil
}
