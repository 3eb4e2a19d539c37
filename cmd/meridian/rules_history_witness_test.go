package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
)

// TestRulesHistoryMarksForgedRevision: a revision row added to the
// database by hand, which no sealed audit record vouches for and which
// never becomes law, was listed by rules history (its JSON and its table)
// as a genuine revision, with the author and reason it claims. It is
// marked "witnessed": false with why, and its table row says so.
func TestRulesHistoryMarksForgedRevision(t *testing.T) {
	ctx := context.Background()
	key := []byte("0123456789abcdef")
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "m.db"), store.Options{AuditKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rs, err := rules.OpenWitnessed(ctx, st, nil, audit.NewChain(key), st)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{{Name: "small.yaml", Data: []byte(smallPack)}}}, "admin", "applied", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().ExecContext(ctx, `INSERT INTO rule_revisions (rev, hash, who, reason, created_at, listing, files) VALUES (2, ?, 'admin', 'routine update', '2026-12-05T00:00:00Z', '[]', '{}')`,
		rules.Hash(map[string]string{})); err != nil {
		t.Fatal(err)
	}
	s := &rulesService{rs: rs}
	h, err := s.History(ctx, 0, 10)
	if err != nil || len(h) != 2 {
		t.Fatalf("history: %d revisions, %v", len(h), err)
	}
	var got []map[string]any
	b, err := json.Marshal(h)
	if err != nil || json.Unmarshal(b, &got) != nil {
		t.Fatalf("history as JSON: %s %v", b, err)
	}
	if got[0]["witnessed"] != true || got[0]["unwitnessed"] != nil {
		t.Errorf("revision 1, applied: %s, want witnessed", b)
	}
	if why, _ := got[1]["unwitnessed"].(string); got[1]["witnessed"] != false || !strings.Contains(why, "no sealed audit record") {
		t.Errorf("revision 2, added by hand: %s, want witnessed false, saying no record names it", b)
	}
	var table bytes.Buffer
	if err := printRuleHistory(&table, h); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	if len(lines) != 3 || strings.Contains(lines[1], "NOT WITNESSED") || !strings.Contains(lines[2], "NOT WITNESSED (no sealed audit record") {
		t.Errorf("the table does not mark revision 2 alone as not witnessed:\n%s", table.String())
	}
}
