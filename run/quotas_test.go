package run

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func quotaDoc(nominal string) string {
	return "apiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: t1}\nspec:\n  families: [{name: h100, accelerators: [nvidia-h100-sxm], nominal: " + nominal + "}]\n"
}

// TestReloadQuotas: t1 may hold 8 H100s, so the second of its two runs
// waits for quota although both sites have room. A file raising the quota
// to 16, reloaded, lets the admission loop admit it; a bad file (a
// negative nominal, then a missing file) is refused naming the file and
// field and leaves 16 in force; each reload and refusal is audited with
// who asked; a server without a quota file says it has none.
func TestReloadQuotas(t *testing.T) {
	e := newBatchEnv(t)
	file := filepath.Join(t.TempDir(), "quotas.yaml")
	if err := os.WriteFile(file, []byte(quotaDoc("8")), 0o600); err != nil {
		t.Fatal(err)
	}
	q := testQuotas(t, file, quotaDoc("8"))
	e.c.cfg.QuotaFile = file
	e.c.SetQuotas(q)
	ctx := context.Background()

	e.submit("t1", batchJob("first", 1e9), 0, Planned)
	second := e.submit("t1", batchJob("second", 1e9), 0, Held)
	if second.Hold.Wait != WaitQuota {
		t.Fatalf("second waits for %q: %s", second.Hold.Wait, second.Hold.Reason)
	}
	if st := e.admit(); st.Admitted != 0 {
		t.Fatalf("admitted over the quota: %+v", st)
	}

	if err := os.WriteFile(file, []byte(quotaDoc("16")), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := e.c.ReloadQuotas(ctx, "test admin")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.File != file || len(res.Tenants) != 1 || res.Tenants[0] != "t1" || len(res.SHA256) != 64 {
		t.Fatalf("reload: %+v", res)
	}
	if n, _ := e.c.quotas().Nominal("t1", "nvidia-h100-sxm"); n != 16 {
		t.Fatalf("nominal %d in force after the reload", n)
	}
	if st := e.admit(); st.Admitted != 1 {
		t.Fatalf("after the reload: %+v", st)
	}
	e.target(second.ID)

	// A bad file is refused, naming file, document and field; 16 stays.
	if err := os.WriteFile(file, []byte(quotaDoc("-4")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.ReloadQuotas(ctx, "test admin")
	var qe *QuotaError
	if !errors.As(err, &qe) || !strings.Contains(err.Error(), file+": document 1 (Quota/t1) spec.families[0].nominal: -4") {
		t.Fatalf("bad file: %v", err)
	}
	os.Remove(file)
	if _, err = e.c.ReloadQuotas(ctx, "test admin"); !errors.As(err, &qe) || !strings.Contains(err.Error(), file) {
		t.Fatalf("missing file: %v", err)
	}
	// A FIFO put where the file was is refused at once: the read waited
	// in its open for a writer, holding the reload (and SIGHUP's) for ever.
	if err := syscall.Mkfifo(file, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := e.c.ReloadQuotas(ctx, "test admin"); done <- err }()
	select {
	case err = <-done:
		if !errors.As(err, &qe) || !strings.Contains(err.Error(), file+": not a regular file (a FIFO)") {
			t.Fatalf("a FIFO: %v", err)
		}
	case <-time.After(10 * time.Second):
		if f, err := os.OpenFile(file, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		t.Fatal("a FIFO: the reload still waits after 10s")
	}
	if n, _ := e.c.quotas().Nominal("t1", "nvidia-h100-sxm"); n != 16 {
		t.Fatalf("nominal %d in force after refused reloads, want 16", n)
	}

	// The audit log has each, with who asked.
	entries, err := e.st.AuditEntries(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range entries {
		if en.Kind != KindQuota {
			continue
		}
		var p map[string]any
		if err := json.Unmarshal(en.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if p["by"] != "test admin" || p["file"] != file {
			t.Errorf("audit record %v", p)
		}
		actions = append(actions, p["action"].(string))
	}
	if strings.Join(actions, ",") != "reloaded,reload-refused,reload-refused,reload-refused" {
		t.Errorf("audited: %v", actions)
	}

	e.c.cfg.QuotaFile = ""
	if _, err := e.c.ReloadQuotas(ctx, "test admin"); !errors.Is(err, ErrNoQuotaFile) {
		t.Errorf("without a quota file: %v", err)
	}
}
