package store

import (
	"fmt"
	"strings"
)

// AuditQuery selects audit entries, in seq order. The zero value selects
// every entry.
type AuditQuery struct {
	// RunID keeps one run's entries.
	RunID string
	// Kinds keeps entries of these kinds.
	Kinds []string
	// Tenant keeps the entries recorded for this tenant, and those without
	// a tenant that Untenanted lets in.
	Tenant     string
	Untenanted Untenanted
	// After keeps the entries after this seq; Limit keeps at most this
	// many (0: no limit).
	After int64
	Limit int
}

// Untenanted says which entries without a tenant (the server's own, and
// those written before entries named their tenant) a tenant query keeps.
type Untenanted int

const (
	// NoUntenanted keeps none of them.
	NoUntenanted Untenanted = iota
	// UntenantedOfRuns keeps those of the tenant's runs.
	UntenantedOfRuns
	// AllUntenanted keeps all of them: the tenant is the one that owned
	// the state directory before there were tenants.
	AllUntenanted
)

// MaxAuditKinds bounds AuditQuery.Kinds.
const MaxAuditKinds = 16

// auditSelect is q as SQL and its arguments, with the placeholder style
// ph gives (? for SQLite, $n for PostgreSQL).
func auditSelect(q AuditQuery, ph func(n int) string) (string, []any, error) {
	if len(q.Kinds) > MaxAuditKinds {
		return "", nil, fmt.Errorf("audit query: %d kinds, at most %d", len(q.Kinds), MaxAuditKinds)
	}
	if q.Limit < 0 || q.After < 0 {
		return "", nil, fmt.Errorf("audit query: after %d, limit %d: want 0 or more", q.After, q.Limit)
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return ph(len(args))
	}
	if q.After > 0 {
		where = append(where, "seq > "+arg(q.After))
	}
	if q.RunID != "" {
		where = append(where, "run_id = "+arg(q.RunID))
	}
	if len(q.Kinds) > 0 {
		ks := make([]string, len(q.Kinds))
		for i, k := range q.Kinds {
			ks[i] = arg(k)
		}
		where = append(where, "kind IN ("+strings.Join(ks, ", ")+")")
	}
	if q.Tenant != "" {
		own := "tenant = " + arg(q.Tenant)
		switch q.Untenanted {
		case UntenantedOfRuns:
			own = "(" + own + " OR tenant = '' AND run_id <> '' AND run_id IN (SELECT id FROM runs WHERE tenant = " + arg(q.Tenant) + "))"
		case AllUntenanted:
			own = "(" + own + " OR tenant = '')"
		}
		where = append(where, own)
	}
	s := `SELECT seq, time, kind, run_id, payload, prev_hash, hash, tenant, version FROM audit`
	if len(where) > 0 {
		s += " WHERE " + strings.Join(where, " AND ")
	}
	s += " ORDER BY seq"
	if q.Limit > 0 {
		s += " LIMIT " + arg(q.Limit)
	}
	return s, args, nil
}
