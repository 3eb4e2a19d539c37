package agent

import (
	"bytes"
	"strings"
	"testing"
)

// TestAttackWorkloadFillsTheSiteLog: the agent copied every byte the
// workload printed to the site's log, its standard output, which on the
// local backend is a file in the server's state directory: a workload
// printing without end filled the disk the server's database and audit
// log are on. With a limit from the backend the site's log keeps that
// much of the workload's output and says where it stops; the server's
// copy (bounded on its own) and the progress still take the rest.
func TestAttackWorkloadFillsTheSiteLog(t *testing.T) {
	t.Setenv(EnvServer, "http://127.0.0.1:1")
	t.Setenv(EnvRun, "r1")
	t.Setenv(EnvAttempt, "1")
	t.Setenv(EnvToken, "tok")
	t.Setenv("MERIDIAN_SITE_LOG_LIMIT", "4096")
	cfg, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, merged := range []bool{true, false} {
		var site, agentLines bytes.Buffer
		cfg.Stdout, cfg.Stderr = &site, &site
		if !merged {
			cfg.Stderr = &agentLines
		}
		a := &attempt{cfg: cfg, m: &Manifest{LogLimit: 1 << 30}}
		out := strings.Repeat("a line of the workload's output\n", 32<<10) + "step=9 loss=1.5\n"
		a.readOutput(strings.NewReader(out))
		if site.Len() > 4096+256 {
			t.Errorf("merged %v: the site's log holds %d bytes of the workload's %d; want at most the limit, 4096", merged, site.Len(), len(out))
		}
		if !strings.Contains(site.String()+agentLines.String(), "over the site log's limit (4096 bytes)") {
			t.Errorf("merged %v: the site's log does not say where it stops:\n%s", merged, site.String()[max(0, site.Len()-300):])
		}
		if len(a.logs.pending) < len(out) || a.progress == nil || a.progress.Step != 9 {
			t.Errorf("merged %v: the server's copy has %d bytes of %d, progress %+v; want all of it", merged, len(a.logs.pending), len(out), a.progress)
		}
	}
	t.Setenv(EnvSiteLogLimit, "-1")
	if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), EnvSiteLogLimit) {
		t.Errorf("a negative limit: %v; want an error naming %s", err, EnvSiteLogLimit)
	}
}
