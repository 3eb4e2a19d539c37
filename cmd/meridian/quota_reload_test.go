package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func reloadQuota(nominal string) []byte {
	return []byte("apiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: default}\nspec:\n  families: [{name: h100, accelerators: [nvidia-h100-sxm], nominal: " + nominal + "}]\n")
}

// TestQuotaReloadSignal: `serve --quotas FILE` reads the file again on
// SIGHUP and on POST /v1/quotas/reload (the admin token of client.json).
// A good file is put in force and audited with its digest and who asked;
// a bad one is refused, naming the file and field, audited as refused, and
// the quotas in force stay (the next good reload reports the digest it
// replaces as the last good file's).
func TestQuotaReloadSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	p := newServeProc(t)
	file := filepath.Join(t.TempDir(), "quotas.yaml")
	if err := os.WriteFile(file, reloadQuota("8"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.extra = []string{"--quotas", file}
	p.start()
	defer p.stop()
	ctx := context.Background()
	// The file names the SXM H100 alone: the catalog's other accelerators
	// are bounded by capacity alone, for every tenant, and serve says so
	// at start, naming each.
	if log := p.output("no quota names"); !strings.Contains(log, "no quota names") || !strings.Contains(log, "nvidia-h100-pcie") || strings.Contains(log, "nvidia-h100-sxm") {
		t.Errorf("serve's start-up output: want a warning naming the accelerators no quota names:\n%s", log)
	}
	digest := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	// waitAudit waits for the n-th quota record and returns its payload.
	waitAudit := func(n int) map[string]any {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			entries, err := p.c.AuditAll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got []map[string]any
			for _, e := range entries {
				if e.Kind == "quota" {
					var m map[string]any
					if err := json.Unmarshal(e.Payload, &m); err != nil {
						t.Fatal(err)
					}
					got = append(got, m)
				}
			}
			if len(got) >= n {
				return got[n-1]
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("no quota record %d in the audit log", n)
		return nil
	}
	signal := func() {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	by := fmt.Sprintf("SIGHUP to process %d", p.cmd.Process.Pid)

	good := reloadQuota("16")
	if err := os.WriteFile(file, good, 0o600); err != nil {
		t.Fatal(err)
	}
	signal()
	rec := waitAudit(1)
	if rec["action"] != "reloaded" || rec["by"] != by || rec["sha256"] != digest(good) || rec["previous"] != digest(reloadQuota("8")) || rec["changed"] != true {
		t.Fatalf("first reload: %v", rec)
	}

	if err := os.WriteFile(file, reloadQuota("-1"), 0o600); err != nil {
		t.Fatal(err)
	}
	signal()
	rec = waitAudit(2)
	if rec["action"] != "reload-refused" || rec["by"] != by || !strings.Contains(rec["error"].(string), "spec.families[0].nominal: -1") {
		t.Fatalf("bad file on SIGHUP: %v", rec)
	}
	// Through the API: the same refusal, naming file and field.
	_, err := p.c.ReloadQuotas(ctx)
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "spec.families[0].nominal: -1") {
		t.Fatalf("bad file through the API: %v", err)
	}
	if rec := waitAudit(3); rec["action"] != "reload-refused" || !strings.HasPrefix(rec["by"].(string), "admin default") {
		t.Fatalf("bad file through the API, audited: %v", rec)
	}
	// The good file stayed in force: reloading it again changes nothing.
	if err := os.WriteFile(file, good, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := p.c.ReloadQuotas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed || res.SHA256 != digest(good) || res.Previous != digest(good) || len(res.Tenants) != 1 {
		t.Fatalf("reload of the file in force: %+v", res)
	}
	if !slices.Contains(res.Unnamed, "nvidia-h100-pcie") || slices.Contains(res.Unnamed, "nvidia-h100-sxm") {
		t.Errorf("reload: unnamed %v, want the accelerators no quota names", res.Unnamed)
	}
	// A file others may now write is refused on reload, as at start.
	if err := os.Chmod(file, 0o606); err != nil {
		t.Fatal(err)
	}
	if _, err := p.c.ReloadQuotas(ctx); err == nil || !strings.Contains(err.Error(), "lets others write it") {
		t.Fatalf("reload of a file others may write: %v, want a refusal", err)
	}
}

// startingServe is `serve --quotas FILE` caught while it starts: started,
// and returned once its store's file appears, before it answers.
type startingServe struct {
	file    string
	cmd     *exec.Cmd
	errb    *syncBuffer
	exited  chan struct{}
	waitErr error
}

func startServe(t *testing.T) *startingServe {
	t.Helper()
	p := newServeProc(t)
	s := &startingServe{file: filepath.Join(t.TempDir(), "quotas.yaml"), errb: &syncBuffer{}, exited: make(chan struct{})}
	if err := os.WriteFile(s.file, reloadQuota("8"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(p.bin, "serve", "--state", p.state, "--listen", freeAddr(t), "--poll", "50ms", "--catalog", p.cat, "--quotas", s.file)
	s.cmd.Stderr = s.errb
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.waitErr = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		<-s.exited
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(p.state, "meridian.db")); err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("no store after 30 s: %s", s.errb.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestSIGHUPDuringStartup: a SIGHUP that reaches `serve` while it starts
// (its store already opening) neither kills it, as the signal's default
// action would, nor is lost: the quota file is read once the server is up.
func TestSIGHUPDuringStartup(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	s := startServe(t)
	file, cmd, errb, exited := s.file, s.cmd, s.errb, s.exited
	deadline := time.Now().Add(30 * time.Second)
	if err := os.WriteFile(file, reloadQuota("16"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case <-exited:
			t.Fatalf("serve ended on a SIGHUP during its start (%v): %s", s.waitErr, errb.String())
		default:
		}
		if strings.Contains(errb.String(), "SIGHUP: quotas reloaded") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reload after the SIGHUP: %s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStopDuringStartup: a SIGTERM that follows a SIGHUP while `serve`
// starts ends it; it is not dropped behind the reload.
func TestStopDuringStartup(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	s := startServe(t)
	for _, sig := range []os.Signal{syscall.SIGHUP, syscall.SIGTERM} {
		if err := s.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("serve still runs 30 s after a SIGTERM during its start: %s", s.errb.String())
	}
}
