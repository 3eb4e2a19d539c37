package api

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// Tenants and their tokens, managed by admins through the API (`meridian
// tenant add|list|revoke`), stored hashed, effective without a restart.

// TenantRequest adds a token for a tenant.
type TenantRequest struct {
	Tenant string `json:"tenant"`
	Admin  bool   `json:"admin,omitempty"`
	Note   string `json:"note,omitempty"`
}

// NewTenantToken is a token just made: its secret is in this answer only.
type NewTenantToken struct {
	Tenant string `json:"tenant"`
	ID     string `json:"id"`
	Admin  bool   `json:"admin"`
	Token  string `json:"token"`
}

// TokenInfo is a token as listed: never its secret.
type TokenInfo struct {
	ID        string     `json:"id"`
	Admin     bool       `json:"admin"`
	Note      string     `json:"note,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
}

// TenantInfo is a tenant and its tokens.
type TenantInfo struct {
	Tenant string      `json:"tenant"`
	Live   int         `json:"liveTokens"`
	Tokens []TokenInfo `json:"tokens"`
}

// TenantList is GET /v1/tenants: a page of the tenants, by name. Next,
// when set, is the after= of the next page.
type TenantList struct {
	Tenants []TenantInfo `json:"tenants"`
	Next    string       `json:"next,omitempty"`
}

// TenantPage is how many tenants the client asks GET /v1/tenants for at
// a time, and MaxTenantPage the most one answer holds; a page also ends
// before the tenant that would take its tokens past MaxTenantPageTokens
// (it holds at least one tenant). The whole list, every tenant's every
// token, was one answer: tens of megabytes at the tokens the store holds.
const (
	TenantPage          = 500
	MaxTenantPage       = 1000
	MaxTenantPageTokens = 5000
)

// Revoked is DELETE /v1/tenants/{tenant}.
type Revoked struct {
	Tenant  string `json:"tenant"`
	Revoked int    `json:"revoked"`
}

const maxNote = 200

// tenants answers a page of the tenants after ?after= (a tenant's name),
// at most ?limit= of them. Without limit (a client from before pages), the
// whole list when it fits in one page and a 400 naming limit when it does
// not.
func (s *Server) tenants(w http.ResponseWriter, r *http.Request) {
	after := r.URL.Query().Get("after")
	if after != "" && !ValidTenant(after) {
		writeErr(w, http.StatusBadRequest, "invalid", "after", fmt.Sprintf("%s: want a tenant's name (a DNS label: lowercase letters, digits and '-', at most 63)", clip(after)))
		return
	}
	limit, ok := queryInt(w, r, "limit", 0, 1, MaxTenantPage, fmt.Sprintf("a number of tenants from 1 to %d", MaxTenantPage))
	if !ok {
		return
	}
	paged := limit > 0
	if !paged {
		limit = MaxTenantPage
	}
	// The tokens of the page's tenants and of one more, which tells
	// whether a next page follows: a read of a page of tenants, not of
	// every token (each page read them all, and a client reading every
	// page read them all once a page).
	list, err := s.opts.Tokens.TenantTokens(r.Context(), after, int(limit)+1)
	if err != nil {
		fail(w, err)
		return
	}
	by := map[string]*TenantInfo{}
	for _, t := range list {
		if t.Tenant <= after {
			// Not the store's to answer: a page starts after after.
			continue
		}
		ti := by[t.Tenant]
		if ti == nil {
			ti = &TenantInfo{Tenant: t.Tenant, Tokens: []TokenInfo{}}
			by[t.Tenant] = ti
		}
		ti.Tokens = append(ti.Tokens, TokenInfo{ID: t.ID, Admin: t.Admin, Note: t.Note, CreatedAt: t.CreatedAt, RevokedAt: t.RevokedAt})
		if t.RevokedAt == nil {
			ti.Live++
		}
	}
	out := TenantList{Tenants: []TenantInfo{}}
	for _, ti := range by {
		out.Tenants = append(out.Tenants, *ti)
	}
	sort.Slice(out.Tenants, func(i, j int) bool { return out.Tenants[i].Tenant < out.Tenants[j].Tenant })
	n, tokens := 0, 0
	for n < len(out.Tenants) && n < int(limit) && (n == 0 || tokens+len(out.Tenants[n].Tokens) <= MaxTenantPageTokens) {
		tokens += len(out.Tenants[n].Tokens)
		n++
	}
	if n < len(out.Tenants) {
		if !paged {
			writeErr(w, http.StatusBadRequest, "invalid", "limit", fmt.Sprintf(
				"there are more tenants than an answer without limit holds (%d, or %d tokens of them): read them in pages with limit (at most %d) and after", MaxTenantPage, MaxTenantPageTokens, MaxTenantPage))
			return
		}
		out.Tenants, out.Next = out.Tenants[:n], out.Tenants[n-1].Tenant
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) addTenant(w http.ResponseWriter, r *http.Request) {
	var req TenantRequest
	if !decodeBody(w, r, &req, "tenant request") {
		return
	}
	if !ValidTenant(req.Tenant) {
		// Quoted, and cut (clip), as other refusals are: it is whatever
		// the body held, up to the body's bound (4 MiB).
		writeErr(w, http.StatusBadRequest, "invalid", "tenant", fmt.Sprintf("%s: want a DNS label (lowercase letters, digits and '-', at most 63)", clip(req.Tenant)))
		return
	}
	if len(req.Note) > maxNote {
		writeErr(w, http.StatusBadRequest, "invalid", "note", fmt.Sprintf("longer than %d characters", maxNote))
		return
	}
	if strings.ContainsRune(req.Note, 0) {
		// No store keeps it (store.ErrNotText, which fail answers 400
		// without a field): refused here, naming the field.
		writeErr(w, http.StatusBadRequest, "invalid", "note", "holds a NUL character")
		return
	}
	p := PrincipalOf(r)
	secret, t, err := IssueToken(r.Context(), s.opts.Tokens, req.Tenant, req.Admin, req.Note, "admin "+p.Tenant+" (token "+p.TokenID+")")
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, NewTenantToken{Tenant: t.Tenant, ID: t.ID, Admin: t.Admin, Token: secret})
}

// revokeTenant revokes a tenant's live tokens (or one of them). It refuses
// to revoke the last live admin token, which would leave nobody able to
// manage the server.
func (s *Server) revokeTenant(w http.ResponseWriter, r *http.Request) {
	tenant, id := r.PathValue("tenant"), r.URL.Query().Get("token")
	if !ValidTenant(tenant) {
		writeErr(w, http.StatusBadRequest, "invalid", "tenant", fmt.Sprintf("%q: not a tenant name", tenant))
		return
	}
	if id != "" && !validTokenID(id) {
		writeErr(w, http.StatusBadRequest, "invalid", "token", fmt.Sprintf("%.80q: not a token id (the hex id meridian tenant list shows)", id))
		return
	}
	p := PrincipalOf(r)
	rec, err := audit.NewRecord(KindTenant, "", map[string]any{"action": "tokens-revoked", "tenant": tenant, "token": id, "by": "admin " + p.Tenant + " (token " + p.TokenID + ")"})
	if err != nil {
		fail(w, err)
		return
	}
	// The store tests and revokes in one transaction, so that two
	// revocations at once cannot each leave the other's admin the last.
	n, err := s.opts.Tokens.RevokeTokens(r.Context(), tenant, id, rec)
	if errors.Is(err, store.ErrLastAdmin) {
		writeErr(w, http.StatusConflict, "conflict", "", "that would revoke the last admin token; add another admin first (meridian tenant add NAME --admin)")
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		writeErr(w, http.StatusNotFound, "not_found", "", fmt.Sprintf("tenant %s has no live token%s", tenant, map[bool]string{true: " " + id, false: ""}[id != ""]))
		return
	}
	if err != nil {
		fail(w, err)
		return
	}
	// Only tenant's tokens were revoked: the other tenants' stay cached,
	// as they do when another server's revocation is found (Principal).
	s.auth.forgetTenant(tenant)
	writeJSON(w, http.StatusOK, Revoked{Tenant: tenant, Revoked: n})
}

// validTokenID reports whether id could be a token's id (store.TokenID):
// lowercase hex, no longer than a whole hash. Anything else (bytes that
// are not UTF-8, which a database refuses as text) names no token, and is
// answered naming the parameter rather than as the store's fault.
func validTokenID(id string) bool {
	if len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// reloadQuotas re-reads the quota file for an admin.
func (s *Server) reloadQuotas(w http.ResponseWriter, r *http.Request) {
	p := PrincipalOf(r)
	res, err := s.c.ReloadQuotas(r.Context(), "admin "+p.Tenant+" (token "+p.TokenID+")")
	var qe *run.QuotaError
	switch {
	case errors.Is(err, run.ErrNoQuotaFile):
		writeErr(w, http.StatusConflict, "conflict", "", err.Error())
	case errors.As(err, &qe):
		writeErr(w, http.StatusUnprocessableEntity, "invalid", "quotas", qe.Error())
	case err != nil:
		fail(w, err)
	default:
		writeJSON(w, http.StatusOK, res)
	}
}
