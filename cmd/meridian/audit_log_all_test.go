package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/run"
)

// TestAuditLogAll: `meridian audit log --all`, which the README and the
// threat model name, shows a tenant the whole chain: its own entries in
// full and another tenant's as their hashes only; without --all it sees
// its own entries alone. --all with --run is refused, naming both.
func TestAuditLogAll(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	t.Setenv("MERIDIAN_HOME", t.TempDir())
	tv := newTenants(t)
	ctx := context.Background()
	org := func(name string) []run.Document {
		return []run.Document{{Name: "org.yaml", Content: "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: " + name + "}\nspec: {headquarters: SG}\n"}}
	}
	if _, err := tv.alpha.Apply(ctx, org("alpha-org"), false); err != nil {
		t.Fatal(err)
	}
	if _, err := tv.beta.Apply(ctx, org("beta-secret-org"), false); err != nil {
		t.Fatal(err)
	}
	server := "http://" + tv.p.addr
	read := func(args ...string) []audit.Entry {
		t.Helper()
		out, err := runCLI(t, append([]string{"audit", "log", "-o", "json", "--server", server, "--token", tv.tokA}, args...)...)
		if err != nil {
			t.Fatalf("audit log %v: %v\n%s", args, err, out)
		}
		var got struct{ Entries []audit.Entry }
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("audit log %v: %v\n%s", args, err, out)
		}
		return got.Entries
	}

	all := read("--all")
	own := read()
	var redacted, mine int
	for i, e := range all {
		if i > 0 && e.PrevHash != all[i-1].Hash {
			t.Errorf("entry %d does not link to entry %d: the chain has a gap", e.Seq, all[i-1].Seq)
		}
		switch {
		case e.Redacted:
			redacted++
			if e.Kind != "" || len(e.Payload) != 0 || e.Tenant != "" {
				t.Errorf("another tenant's entry %d shows more than its hash: %+v", e.Seq, e)
			}
		case e.Tenant == "alpha-lab":
			mine++
		case e.Tenant != "":
			t.Errorf("entry %d of tenant %s shown in full to alpha-lab", e.Seq, e.Tenant)
		}
	}
	if redacted == 0 || mine == 0 || len(all) <= len(own) {
		t.Errorf("--all: %d entries (%d redacted, %d alpha-lab's), without it %d", len(all), redacted, mine, len(own))
	}
	for _, e := range own {
		if e.Redacted {
			t.Errorf("without --all, entry %d is another tenant's", e.Seq)
		}
	}

	out, err := runCLI(t, "audit", "log", "--all", "--server", server, "--token", tv.tokA)
	if err != nil || !strings.Contains(out, "another tenant's entry") || strings.Contains(out, "beta-secret-org") {
		t.Errorf("audit log --all as a table: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "audit", "log", "--all", "--run", "run-000000000000", "--server", server, "--token", tv.tokA); !isCode(err, exitBadInput) || !strings.Contains(err.Error(), "--all and --run") {
		t.Errorf("--all with --run: %v", err)
	}
}
