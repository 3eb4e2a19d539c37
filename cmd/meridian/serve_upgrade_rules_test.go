package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// oldAsOfPack is a rule file an earlier loader accepted and this one
// refuses (it reads asOf in a form whose days cannot be listed), or, with
// cond a literal comparison, its correction.
func oldAsOfPack(cond string) string {
	return `apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: old-asof}
rules:
  - id: old-asof
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: 2024-01-01
    enforcement: in-force
    confidence: confirmed
    sources: ["serve_upgrade_rules_test.go"]
    message: "site {site.name} is in {site.country}"
    condition: "` + cond + `"
`
}

// storeOldRevision stores revision 1 as an earlier version applied it:
// its row and its record (sealed under db's audit key) in one
// transaction, its rule one this loader refuses.
func storeOldRevision(t *testing.T, db *store.SQLite) {
	t.Helper()
	files := map[string]string{"old.yaml": oldAsOfPack("asOf + '' >= '2026-03-01' && site.country == 'ZZ'")}
	hash := rules.Hash(files)
	rec, err := audit.NewRecord(rules.KindRevision, "", map[string]any{"revision": 1, "sha256": hash, "by": "admin", "reason": "before the upgrade"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutRuleRevision(context.Background(), &store.RuleRevision{Hash: hash, Files: files, Who: "admin", Reason: "before the upgrade"}, 0, rec); err != nil {
		t.Fatal(err)
	}
}

// TestRefreshLogsARevisionThatDoesNotLoadOnce: a server holding a
// revision that does not load (until an admin corrects it, which may be
// hours) logged the same error at every refresh, every second. It is
// logged once a minute.
func TestRefreshLogsARevisionThatDoesNotLoadOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	key := []byte("test key 0123456")
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "m.db"), store.Options{AuditKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storeOldRevision(t, db)
	rs, err := rules.OpenWitnessed(ctx, db, nil, audit.NewChain(key), db)
	if err != nil {
		t.Fatal(err)
	}
	var buf syncBuffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		refreshRules(ctx, rs, nil, 2*time.Millisecond, slog.New(slog.NewTextHandler(&buf, nil)))
	}()
	// The first refresh's error is waited for, not assumed within a fixed
	// 300 ms, which a loaded machine can pass before the refresher has run
	// once; the 300 ms after it hold about 150 refreshes more, each of
	// which logged the error again.
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(buf.String(), "refresh rules") && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	<-done
	if n := strings.Count(buf.String(), "refresh rules"); n != 1 {
		t.Errorf("the refreshes of 300 ms past the first logged the same error %d times, want once: %s", n, buf.String())
	}
}

// TestServeStartsOnRevisionItCannotLoad: a server upgraded onto a
// database whose latest rules revision (applied, with its sealed record,
// by an earlier version) this loader refuses did not start ("law: rules
// revision 1 no longer loads"), and no corrected revision could be posted
// to it. It now starts, says at start which revision, rule and step do not
// load and what to do, refuses plans as law_unavailable, and takes the
// admin's corrected revision through `rules apply`, planning again under
// it.
func TestServeStartsOnRevisionItCannotLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	p := newServeProc(t)
	p.start()
	p.stop()

	// Revision 1 as the earlier version stored it: its row and its
	// record, sealed under the server's audit key, in one transaction.
	ctx := context.Background()
	key, err := audit.LoadKey(p.state)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenSQLite(ctx, filepath.Join(p.state, "meridian.db"), store.Options{AuditKey: key})
	if err != nil {
		t.Fatal(err)
	}
	storeOldRevision(t, db)
	db.Close()

	if err := p.tryStart(); err != nil {
		t.Fatalf("serve on a stored revision this loader refuses: %v", err)
	}
	defer p.stop()
	log := p.output("rules revision 1", `rule \"old-asof\"`, "meridian rules apply")
	for _, want := range []string{"rules revision 1", `rule \"old-asof\"`, "reads asOf in", "meridian rules apply"} {
		if !strings.Contains(log, want) {
			t.Errorf("serve's log does not name %s: %s", want, log)
		}
	}
	job := []run.Document{{Name: "job.yaml", Content: jobFor("us-lab", "US", nil, "true")}}
	_, err = p.c.Plan(ctx, run.PlanRequest{Documents: job}, 1)
	if err == nil || !strings.Contains(err.Error(), "rules revision 1") {
		t.Fatalf("a plan under a law that does not load: %v, want refused naming revision 1", err)
	}
	// The rules listed are those of the law in force, which this server
	// does not hold: not the built-in packs it started with instead.
	var se *api.StatusError
	if l, err := p.c.Rules(ctx, ""); !errors.As(err, &se) || se.Status != 503 || se.Err.Code != "law_unavailable" || !strings.Contains(err.Error(), "rules revision 1") {
		t.Fatalf("GET /v1/rules under a law that does not load: %+v, %v; want 503 law_unavailable naming revision 1", l, err)
	}

	fixed := filepath.Join(t.TempDir(), "old.yaml")
	if err := os.WriteFile(fixed, []byte(oldAsOfPack("asOf >= '2026-03-01' && site.country == 'ZZ'")), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := readClientConfig(p.state)
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, code := cli(t, "rules", "apply", "-f", fixed, "--reason", "asOf compared with a literal", "--server", cfg.Server, "--token", cfg.Token, "--tls-fingerprint", cfg.Fingerprint)
	if code != 0 || !strings.Contains(out, "rules revision 2") {
		t.Fatalf("the corrected revision: exit %d, %s%s", code, out, stderr)
	}
	if _, err := p.c.Plan(ctx, run.PlanRequest{Documents: job}, 1); err != nil {
		t.Fatalf("a plan under the corrected revision: %v", err)
	}
	l, err := p.c.Rules(ctx, "")
	if err != nil || !slices.ContainsFunc(l.Rules, func(r api.RuleEntry) bool { return r.ID == "old-asof" }) {
		t.Fatalf("GET /v1/rules under the corrected revision: %+v, %v; want its rule old-asof", l, err)
	}
}
