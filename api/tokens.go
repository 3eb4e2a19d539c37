package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/plainfile"
	"meridian.dev/meridian/store"
)

// TokensFile is the token table's name in the state directory of servers
// before tokens moved into the store (hashed). A server that finds one and
// an empty token table imports it (ImportTokensFile) and removes it.
const TokensFile = "tokens.json"

// Token is one entry of a tokens.json file: a tenant, its secret, and
// whether it is the operator's (admin) token.
type Token struct {
	Tenant string `json:"tenant"`
	Token  string `json:"token"`
	Admin  bool   `json:"admin,omitempty"`
}

// ValidTenant reports whether name is a tenant name (a DNS label).
func ValidTenant(name string) bool { return catalog.ValidTenant(name) }

// maxTokensFileBytes bounds tokens.json: tens of thousands of tokens.
const maxTokensFileBytes = 16 << 20

// ReadTokensFile reads and checks a tokens.json file: tenants are DNS
// labels, secrets at least 32 characters, the file readable by its owner
// only. Errors name the file and the entry.
func ReadTokensFile(path string) ([]Token, error) {
	data, err := plainfile.Read(path, maxTokensFileBytes)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %v lets others read tokens; want 0600", path, fi.Mode().Perm())
	}
	var f struct {
		Tokens []Token `json:"tokens"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	seen := map[string]bool{}
	for i, t := range f.Tokens {
		if !ValidTenant(t.Tenant) {
			return nil, fmt.Errorf("%s: tokens[%d].tenant %q: want a DNS label", path, i, t.Tenant)
		}
		if len(t.Token) < 32 {
			return nil, fmt.Errorf("%s: tokens[%d].token: want at least 32 characters", path, i)
		}
		if seen[t.Token] {
			return nil, fmt.Errorf("%s: tokens[%d].token: the same token is listed twice", path, i)
		}
		seen[t.Token] = true
	}
	return f.Tokens, nil
}

// ImportTokensFile moves dir's tokens.json into an empty token table: the
// tokens are stored hashed (audited) in one transaction, so that a failure
// or a crash imports all of them or none, and then the file is removed. A
// file whose tokens the table already holds, each for the same tenant (an
// import that committed but stopped before removing the file), is removed
// without importing again. The tokens the file marks admin stay admins; a
// file that marks none (written before tokens had the mark) makes the first
// token of tenant "default" (or the first token) the admin. It returns how
// many tokens it imported and an admin's secret (a live one, for a file
// imported before); none when there is no file.
func ImportTokensFile(ctx context.Context, st store.Tokens, dir string) (int, string, error) {
	path := filepath.Join(dir, TokensFile)
	list, err := ReadTokensFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	have, err := st.ListTokens(ctx)
	if err != nil {
		return 0, "", err
	}
	marked := false
	for _, t := range list {
		marked = marked || t.Admin
	}
	if !marked && len(list) > 0 {
		admin := 0
		for i, t := range list {
			if t.Tenant == "default" {
				admin = i
				break
			}
		}
		list[admin].Admin = true
	}
	n := 0
	if len(have) > 0 {
		if !alreadyImported(list, have) {
			return 0, "", fmt.Errorf("%s: the server's token table is not empty; manage tokens with `meridian tenant`, and remove this file", path)
		}
		// Only live admin tokens may become client.json's token.
		live := map[string]bool{}
		for _, t := range have {
			live[t.Hash] = t.Admin && t.RevokedAt == nil
		}
		for i, t := range list {
			list[i].Admin = t.Admin && live[store.HashToken(t.Token)]
		}
	} else {
		if _, err := putTokens(ctx, st, list, "imported from "+TokensFile, "server start"); err != nil {
			return 0, "", fmt.Errorf("import %s: %w", path, err)
		}
		n = len(list)
	}
	secret := ""
	for _, t := range list {
		// client.json's token is the default tenant's admin, when there is one.
		if t.Admin && (secret == "" || t.Tenant == "default") {
			secret = t.Token
		}
	}
	if err := os.Remove(path); err != nil {
		return n, secret, fmt.Errorf("imported %s but could not remove it: %w", path, err)
	}
	return n, secret, nil
}

// alreadyImported reports whether the table have holds every token of list,
// each for the same tenant and imported from a tokens.json.
func alreadyImported(list []Token, have []*store.Token) bool {
	byHash := map[string]*store.Token{}
	for _, t := range have {
		byHash[t.Hash] = t
	}
	for _, t := range list {
		h, ok := byHash[store.HashToken(t.Token)]
		if !ok || h.Tenant != t.Tenant || h.Note != "imported from "+TokensFile {
			return false
		}
	}
	return true
}

// NewToken returns a random 256-bit token, hex-encoded.
func NewToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}
