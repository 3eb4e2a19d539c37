package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/zeebo/blake3"
)

// KeySize is the length of a dataset key in bytes.
const KeySize = 32

// Key is a dataset's secret. Whoever holds it can read and forge the dataset.
type Key [KeySize]byte

// NewKey returns a fresh random key from the operating system's CSPRNG.
func NewKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// keyPrefix marks the text form of a key so that a wrong file is recognised.
const keyPrefix = "meridian-dataset-key-v1:"

// String returns the key's text form: a prefix and standard base64. It is
// the form keyring files and the MERIDIAN_DATASET_KEY variable hold.
func (k Key) String() string {
	return keyPrefix + base64.StdEncoding.EncodeToString(k[:])
}

// Format keeps the key out of whatever fmt prints (a log line, an error, a
// struct dumped with %+v): every verb prints a fingerprint, the first 8
// bytes of the SHA-256 of the text form, as the audit log records a key.
// The text form is had only by calling String.
func (k Key) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "seal.Key(fingerprint %s)", k.Fingerprint())
}

// MarshalText keeps the key out of whatever encodes it as text or JSON (an
// API answer, slog's handlers, gob, YAML), which would otherwise write the
// array's 32 bytes: it writes what Format prints. The text form is had
// only by calling String; nothing decodes this one back into a key.
func (k Key) MarshalText() ([]byte, error) {
	return []byte("seal.Key(fingerprint " + k.Fingerprint() + ")"), nil
}

// Fingerprint names the key without revealing it: the first 8 bytes of
// the SHA-256 of its text form, in hex, as the audit log records a key.
func (k Key) Fingerprint() string {
	sum := sha256.Sum256([]byte(k.String()))
	return hex.EncodeToString(sum[:8])
}

// ParseKey reads the text form written by String, and no other spelling
// of the key; surrounding space is ignored. The all-zero key, which
// NewKey never makes, is refused (ErrZeroKey).
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, keyPrefix) {
		return Key{}, fmt.Errorf("dataset key: want text starting %q", keyPrefix)
	}
	// Strict, and no line breaks within (which the decoder skips): one
	// key has one text form, the one String writes, so that texts compared
	// (a key file against another, a key against one seen before) are
	// equal exactly when their keys are.
	text := strings.TrimPrefix(s, keyPrefix)
	b, err := base64.StdEncoding.Strict().DecodeString(text)
	if err != nil || len(b) != KeySize || strings.ContainsAny(text, "\r\n") {
		return Key{}, errors.New("dataset key: want 32 bytes in standard base64 after the prefix")
	}
	var k Key
	copy(k[:], b)
	if k == (Key{}) {
		return Key{}, fmt.Errorf("dataset key: %w", ErrZeroKey)
	}
	return k, nil
}

// IDSize is the length of a chunk id in bytes.
const IDSize = 32

// ID names a chunk: a keyed hash of its plaintext.
type ID [IDSize]byte

// String is the id in lower-case hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ParseID reads a 64-digit lower-case hex id.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDSize || strings.ToLower(s) != s {
		return id, fmt.Errorf("chunk id %q: want 64 lower-case hex digits", clip(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("chunk id %q: want 64 lower-case hex digits", clip(s))
	}
	return id, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Format of a sealed chunk: version (1 byte) | nonce (12) | ciphertext | tag (16).
const (
	version   = 1
	nonceSize = 12
	tagSize   = 16
	// Overhead is how many bytes sealing adds to a chunk.
	Overhead = 1 + nonceSize + tagSize
)

// Errors a caller may test with errors.Is.
var (
	// ErrAuth means a sealed chunk or manifest failed authentication: it was
	// altered, truncated, belongs to another chunk, or the key is wrong.
	ErrAuth = errors.New("authentication failed (altered or truncated data, or wrong key)")
	// ErrIDMismatch means a chunk decrypted but its content does not hash to its name.
	ErrIDMismatch = errors.New("content does not match its chunk id")
)

// Sealer does one dataset's cryptography. It is safe for concurrent use.
type Sealer struct {
	nameKey []byte
	macKey  []byte
	seed    []byte
	aead    cipher.AEAD
}

// Format keeps the derived keys out of whatever fmt prints.
func (s Sealer) Format(f fmt.State, verb rune) { io.WriteString(f, "seal.Sealer(keys not shown)") }

// ErrZeroKey is New's error for the all-zero key.
var ErrZeroKey = errors.New("all zeros (a key never set, which anyone can compute); refused")

// New derives a Sealer for the named dataset from its key. The dataset name
// is bound into every derived key. The all-zero key, the zero value that a
// key never assigned holds, is refused (ErrZeroKey): what was sealed
// under it anyone could read and forge.
func New(k Key, dataset string) (*Sealer, error) {
	if k == (Key{}) {
		return nil, fmt.Errorf("dataset key: %w", ErrZeroKey)
	}
	derive := func(purpose string) ([]byte, error) {
		return hkdf.Key(sha256.New, k[:], nil, "meridian.dev/seal/v1 "+purpose+" "+dataset, 32)
	}
	s := &Sealer{}
	var err error
	if s.nameKey, err = derive("chunk-name"); err != nil {
		return nil, err
	}
	if s.macKey, err = derive("manifest-mac"); err != nil {
		return nil, err
	}
	if s.seed, err = derive("chunker-seed"); err != nil {
		return nil, err
	}
	encKey, err := derive("chunk-encrypt")
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, err
	}
	if s.aead, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	return s, nil
}

// ChunkID names plaintext: keyed BLAKE3 (its MAC mode) under the dataset's
// naming key, 256 bits.
func (s *Sealer) ChunkID(plain []byte) ID {
	h := s.NewChunkHasher()
	h.Write(plain)
	var id ID
	h.Sum(id[:0])
	return id
}

// NewChunkHasher returns a fresh keyed hash that computes ChunkID
// incrementally; callers that hash many chunks may Reset and reuse it.
func (s *Sealer) NewChunkHasher() hash.Hash {
	h, err := blake3.NewKeyed(s.nameKey)
	if err != nil {
		panic("seal: naming key is not 32 bytes") // derived above with length 32
	}
	return h
}

// ChunkerSeed is 32 secret bytes from which the chunker's polynomial is
// derived, so that chunk boundaries depend on the key.
func (s *Sealer) ChunkerSeed() [32]byte {
	var b [32]byte
	copy(b[:], s.seed)
	return b
}

// SealedSize is the size of a sealed chunk of n plaintext bytes.
func SealedSize(n int) int { return n + Overhead }

// Seal encrypts plain, named id, and appends the sealed chunk to dst.
// Each call draws a fresh random nonce.
func (s *Sealer) Seal(dst []byte, id ID, plain []byte) ([]byte, error) {
	var nonce [nonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	dst = append(dst, version)
	dst = append(dst, nonce[:]...)
	return s.aead.Seal(dst, nonce[:], plain, id[:]), nil
}

// Open authenticates and decrypts a sealed chunk named id, appends the
// plaintext to dst, and checks that the plaintext hashes to id. It returns
// ErrAuth or ErrIDMismatch (wrapped) when the chunk is not genuine.
func (s *Sealer) Open(dst []byte, id ID, sealed []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("chunk %s: %d bytes, shorter than the %d-byte envelope: %w", id, len(sealed), Overhead, ErrAuth)
	}
	if sealed[0] != version {
		return nil, fmt.Errorf("chunk %s: format version %d, want %d: %w", id, sealed[0], version, ErrAuth)
	}
	start := len(dst)
	out, err := s.aead.Open(dst, sealed[1:1+nonceSize], sealed[1+nonceSize:], id[:])
	if err != nil {
		return nil, fmt.Errorf("chunk %s: %w", id, ErrAuth)
	}
	if s.ChunkID(out[start:]) != id {
		return nil, fmt.Errorf("chunk %s: %w", id, ErrIDMismatch)
	}
	return out, nil
}

// MAC returns HMAC-SHA-256 of b under the manifest key.
func (s *Sealer) MAC(b []byte) []byte {
	m := hmac.New(sha256.New, s.macKey)
	m.Write(b)
	return m.Sum(nil)
}

// CheckMAC reports, in constant time, whether mac is the MAC of b; it returns ErrAuth otherwise.
func (s *Sealer) CheckMAC(b, mac []byte) error {
	if !hmac.Equal(s.MAC(b), mac) {
		return ErrAuth
	}
	return nil
}
