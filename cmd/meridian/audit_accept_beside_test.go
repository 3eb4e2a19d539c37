package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/store"
)

// appendBeside is a store to whose log someone else appends rec, sealed
// under the audit key, right after each append of the server's.
type appendBeside struct {
	*store.SQLite
	rec audit.Record
}

func (a appendBeside) AppendAudit(ctx context.Context, recs ...audit.Record) error {
	if err := a.SQLite.AppendAudit(ctx, recs...); err != nil {
		return err
	}
	return a.SQLite.AppendAudit(ctx, a.rec)
}

// TestAcceptBrokenAuditRefusesAcceptanceBeside: a start told to accept a
// broken log appends its acceptance and anchors the head. An acceptance
// appended beside it by whoever holds audit.key and writes the database
// was anchored with it, and counted from then on, accepting whatever it
// names. The start now refuses to anchor it.
func TestAcceptBrokenAuditRefusesAcceptanceBeside(t *testing.T) {
	ctx := context.Background()
	st := state{Dir: statedir.Dir{Path: t.TempDir()}}
	db := openStateDB(t, st)
	defer db.Close()
	appendUnanchored(t, db, 5)
	anchors, err := audit.OpenAnchors(st.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	if err := checkAuditAtStart(ctx, db, anchors, auditAccept{}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DB().Exec(`UPDATE audit SET payload = '{"i":99}' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if err := checkAuditAtStart(ctx, db, anchors, auditAccept{}, io.Discard); err == nil || !strings.Contains(err.Error(), "refusing to serve") {
		t.Fatalf("a start on the broken log: %v", err)
	}
	before, _, err := anchors.Read()
	if err != nil {
		t.Fatal(err)
	}
	forged, err := audit.NewRecord(audit.KindBrokenAccepted, "", audit.BrokenAccepted{Problem: &audit.Problem{Seq: 3, Kind: audit.Modified}, By: "operator (serve --accept-broken-audit)"})
	if err != nil {
		t.Fatal(err)
	}
	err = checkAuditAtStart(ctx, appendBeside{SQLite: db, rec: forged}, anchors, auditAccept{Broken: true}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "beside this start's acceptance") {
		t.Fatalf("a start accepting the break, another acceptance appended beside its own: %v, want it refused", err)
	}
	if now, _, err := anchors.Read(); err != nil || now.Seq != before.Seq {
		t.Errorf("anchor moved from %d to %d (%v) over an acceptance the start did not write", before.Seq, now.Seq, err)
	}
}
