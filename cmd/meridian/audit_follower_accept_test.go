package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/store"
)

// TestServerFollowerDoesNotAnchorForgedAcceptance: a server runs, its
// anchor following its appends. Whoever holds audit.key and can write the
// database edits an anchored entry and appends, from a connection of
// their own, a sealed acceptance of the break it leaves. The server's next
// append moved the anchor over the acceptance, which then counted: the log
// verified, the edit shown as a break accepted. The anchor now stays
// before the acceptance, the server logs why, and the log fails.
func TestServerFollowerDoesNotAnchorForgedAcceptance(t *testing.T) {
	ctx := context.Background()
	st := state{Dir: statedir.Dir{Path: t.TempDir()}}
	key, err := audit.LoadKey(st.Path)
	if err != nil {
		t.Fatal(err)
	}
	anchors, err := audit.OpenAnchors(st.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	an := newAnchorer(anchors, slog.New(slog.NewTextHandler(&logged, nil)))
	db, err := store.OpenSQLite(ctx, st.Database(), store.Options{AuditKey: key, OnAudit: an.notify})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	an.st = db
	appendUnanchored(t, db, 5)
	if err := checkAuditAtStart(ctx, db, anchors, auditAccept{}, io.Discard); err != nil {
		t.Fatal(err)
	}
	go an.run()

	if _, err := db.DB().Exec(`UPDATE audit SET payload = '{"i":99}' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	res, err := db.VerifyAuditAnchored(ctx, anchors)
	if err != nil || res.OK || res.Problem.Seq != 3 {
		t.Fatalf("the break: %+v %v", res, err)
	}
	acc, err := audit.NewRecord(audit.KindBrokenAccepted, "", audit.BrokenAccepted{Problem: res.Problem, Anchored: res.Anchored, By: "operator (serve --accept-broken-audit)"})
	if err != nil {
		t.Fatal(err)
	}
	other := openStateDB(t, st) // the forger's own connection: the server is not told
	if err := other.AppendAudit(ctx, acc); err != nil {
		t.Fatal(err)
	}
	other.Close()
	appendUnanchored(t, db, 1) // the server's next append
	an.close()

	res, err = db.VerifyAuditAnchored(ctx, anchors)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.Problem == nil || res.Problem.Seq != 3 {
		t.Fatalf("an anchored entry edited, its break accepted while the server ran: ok %v, accepted %+v, problem %+v; want it to fail at entry 3", res.OK, res.Accepted, res.Problem)
	}
	if !strings.Contains(logged.String(), audit.UnanchoredAcceptance) {
		t.Errorf("the server did not log why the anchor stayed: %s", logged.String())
	}
}
