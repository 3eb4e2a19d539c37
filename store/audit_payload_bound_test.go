package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
)

// checkPayloadBound: an append of an entry whose payload is longer than
// MaxAuditPayloadBytes is refused, naming its kind and the bound, and
// writes nothing of its call (the entry before it in the same append
// neither); one of MaxAuditPayloadBytes is written, and the gap-checked
// read of its kind, which reads the log's last entry to check its seal,
// takes it. Nothing bounded the write while the readers refused longer
// entries: one entry Meridian wrote past them failed every gap-checked
// read of the log's kinds, for every tenant, for good.
func checkPayloadBound(t *testing.T, s Store) {
	ctx := context.Background()
	payload := func(n int) json.RawMessage {
		return json.RawMessage(`"` + strings.Repeat("p", n-2) + `"`)
	}
	small := audit.Record{Kind: audit.KindState, Payload: json.RawMessage(`{"state":"running"}`)}
	if err := s.AppendAudit(ctx, small); err != nil {
		t.Fatal(err)
	}
	before, _, err := s.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	big := audit.Record{Kind: "plan", Payload: payload(MaxAuditPayloadBytes + 1)}
	err = s.AppendAudit(ctx, small, big)
	if !errors.Is(err, ErrAuditPayloadTooLarge) || !strings.Contains(err.Error(), `"plan"`) || !strings.Contains(err.Error(), "payload") {
		t.Fatalf("an append of a %d-byte payload: %v; want refused (ErrAuditPayloadTooLarge), naming the entry's kind and the field", len(big.Payload), err)
	}
	if after, _, err := s.AuditHead(ctx); err != nil || after != before {
		t.Fatalf("after the refused append the log's head is %d (%v), want %d: nothing written", after, err, before)
	}
	largest := audit.Record{Kind: "plan", Payload: payload(MaxAuditPayloadBytes)}
	if err := s.AppendAudit(ctx, largest); err != nil {
		t.Fatalf("an append of a payload of exactly %d bytes: %v", MaxAuditPayloadBytes, err)
	}
	es, err := s.AuditSelect(ctx, AuditQuery{AllTenants: true, Kinds: []string{audit.KindState}})
	if err != nil || len(es) != 1 {
		t.Fatalf("the gap-checked read past the largest entry written: %d entries, %v; want 1, no error", len(es), err)
	}
}

func TestSQLiteAuditPayloadBound(t *testing.T) {
	checkPayloadBound(t, openTest(t))
}

func TestPostgresAuditPayloadBound(t *testing.T) {
	s, err := OpenPostgres(context.Background(), pgtest.NewDatabase(t), Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkPayloadBound(t, s)
}
