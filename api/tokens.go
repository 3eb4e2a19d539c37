package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"meridian.dev/meridian/audit"
)

// TokensFile is the token table's name in the state directory.
const TokensFile = "tokens.json"

// Token grants a tenant access. Admin marks the operator's token (the one
// the server writes into client.json on its first start): it may change the
// server's rules; tenants' tokens may not.
type Token struct {
	Tenant string `json:"tenant"`
	Token  string `json:"token"`
	Admin  bool   `json:"admin,omitempty"`
}

// Tokens maps bearer tokens to tenants.
type Tokens struct {
	list []Token
}

// NewTokens returns a table of the given tokens.
func NewTokens(ts ...Token) *Tokens { return &Tokens{list: ts} }

var tenantName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// LoadTokens reads the token table from dir, creating it with one token for
// tenant "default" (in a 0600 file) on first start. It returns the table and
// the default tenant's token.
func LoadTokens(dir string) (*Tokens, string, error) {
	path := filepath.Join(dir, TokensFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t := Token{Tenant: "default", Token: NewToken(), Admin: true}
		b, _ := json.MarshalIndent(struct {
			Tokens []Token `json:"tokens"`
		}{[]Token{t}}, "", "  ")
		if err := audit.WriteFileAtomic(dir, path, append(b, '\n'), 0o600); err != nil {
			return nil, "", fmt.Errorf("create %s: %w", path, err)
		}
		return NewTokens(t), t.Token, nil
	}
	if err != nil {
		return nil, "", err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, "", fmt.Errorf("%s: mode %v lets others read tokens; want 0600", path, fi.Mode().Perm())
	}
	var f struct {
		Tokens []Token `json:"tokens"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	first, anyAdmin := "", false
	for _, t := range f.Tokens {
		anyAdmin = anyAdmin || t.Admin
	}
	for i, t := range f.Tokens {
		if !tenantName.MatchString(t.Tenant) {
			return nil, "", fmt.Errorf("%s: tokens[%d].tenant %q: want a DNS label", path, i, t.Tenant)
		}
		if len(t.Token) < 32 {
			return nil, "", fmt.Errorf("%s: tokens[%d].token: want at least 32 characters", path, i)
		}
		if t.Tenant == "default" && first == "" {
			first = t.Token
			// A table written before tokens had an admin flag: the default
			// tenant's first token, the one client.json holds, is the admin.
			if !anyAdmin {
				f.Tokens[i].Admin = true
			}
		}
	}
	if first == "" && len(f.Tokens) > 0 {
		first = f.Tokens[0].Token
	}
	return NewTokens(f.Tokens...), first, nil
}

// NewToken returns a random 256-bit token, hex-encoded.
func NewToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Tenant returns the tenant of token. Every entry is compared in constant
// time (over SHA-256 digests, so lengths do not leak either).
func (t *Tokens) Tenant(token string) (string, bool) {
	e, ok := t.lookup(token)
	return e.Tenant, ok
}

func (t *Tokens) lookup(token string) (Token, bool) {
	got := sha256.Sum256([]byte(token))
	var found Token
	ok := false
	for _, e := range t.list {
		want := sha256.Sum256([]byte(e.Token))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 && !ok {
			found, ok = e, true
		}
	}
	return found, ok && token != ""
}
