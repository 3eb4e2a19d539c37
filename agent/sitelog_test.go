package agent

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/internal/syncbuf"
	"meridian.dev/meridian/seal"
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

// TestAttackAgentLinesFillTheSiteLog: the site's log took the agent's own
// lines without bound: a workload whose checkpoint failed to seal at each
// new step had the agent add a line or two each time. The agent's lines
// now take a bound of their own, and past it the site's log says how many
// were left out; the lines that tell how the attempt ends still come.
func TestAttackAgentLinesFillTheSiteLog(t *testing.T) {
	t.Setenv(EnvServer, "http://127.0.0.1:1")
	t.Setenv(EnvRun, "r1")
	t.Setenv(EnvAttempt, "1")
	t.Setenv(EnvToken, "tok")
	t.Setenv(EnvSiteLogLimit, "4096")
	cfg, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	var site bytes.Buffer
	cfg.Stdout, cfg.Stderr = &site, &site
	wd := t.TempDir()
	store, err := dataset.OpenStore(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	a := &attempt{cfg: cfg, cl: &client{}, wd: wd, store: store, runKey: key,
		m: &Manifest{LogLimit: 1 << 20, CheckpointName: "ckpt-%d"}}
	_, ckpt, _ := a.dirs()
	if err := os.MkdirAll(ckpt, 0o700); err != nil {
		t.Fatal(err)
	}
	if a.scratch, err = os.Open(wd); err != nil {
		t.Fatal(err)
	}
	defer a.scratch.Close()
	// Each step's checkpoint fails to seal (its time has passed): the
	// agent says so, and removes what the last one left.
	const steps = 100000
	last := ""
	past := time.Now().Add(-time.Hour)
	for i := 1; i <= steps; i++ {
		name := filepath.Join(ckpt, fmt.Sprintf("step-%d", i))
		if last == "" {
			err = os.WriteFile(name, nil, 0o600)
		} else {
			err = os.Rename(last, name)
		}
		if err != nil {
			t.Fatal(err)
		}
		last = name
		a.pushCheckpoint(context.Background(), 0, past)
	}
	a.readOutput(strings.NewReader(strings.Repeat("a line of the workload's output\n", 1024)))
	// The server says the workload's time to stop has passed: the agent
	// kills it, and says so.
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleep.Wait()
	a.kill(&sandboxed{Cmd: sleep}, "the server says the time the workload had to stop has passed")
	a.siteSummary()
	bound := 4096 + 4096 + siteEndLimit
	if site.Len() > bound {
		t.Errorf("the site's log holds %d bytes after %d failed checkpoints; want at most %d", site.Len(), steps, bound)
	}
	out := site.String()
	if !strings.Contains(out, "the server says the time the workload had to stop has passed: killing the workload") {
		t.Errorf("the site's log lacks the line that tells how the attempt ended:\n%s", out[max(0, len(out)-1000):])
	}
	if !strings.Contains(out, "over the site log's limit (4096 bytes)") {
		t.Errorf("the site's log does not say where the workload's output stops:\n%s", out[max(0, len(out)-1000):])
	}
	if !strings.Contains(out, "of the agent's lines were left out of the site's log") {
		t.Errorf("the site's log does not say how many of the agent's lines were left out:\n%s", out[max(0, len(out)-1000):])
	}
}

// TestAgentSaysWhatTheSiteLogLeftOut: at the attempt's end the site's log
// says how many of the agent's lines it left out, here those of
// checkpoints that failed to seal (a link in each), over a bound of 64
// bytes.
func TestAgentSaysWhatTheSiteLogLeftOut(t *testing.T) {
	script := `cd "$MERIDIAN_CHECKPOINT_DIR"
for i in 1 2 3 4; do
  mkdir .tmp && echo x > .tmp/a && ln -s /etc/passwd .tmp/b && mv .tmp step-$i
  sleep 0.4
done
echo done`
	var site syncbuf.Buffer
	_, _, _, done := startAgentConfig(t, script, "", 0, nil, nil, func(cfg *Config) {
		cfg.Stdout, cfg.Stderr = &site, &site
		cfg.SiteLogLimit = 64
	})
	if code, err := wait(t, done); code != 0 || err != nil {
		t.Fatalf("Run = %d, %v", code, err)
	}
	out := site.String()
	if strings.Contains(out, "checkpoint step-") {
		t.Errorf("the site's log holds a line of the agent's over its bound:\n%s", out)
	}
	if !strings.Contains(out, "of the agent's lines were left out of the site's log") || !strings.HasSuffix(out, "bytes for them\n") {
		t.Errorf("the site's log does not end saying how many of the agent's lines it left out:\n%s", out)
	}
}

// TestAttackSiteLogUnboundedWithoutLimit: a backend that passed no
// MERIDIAN_SITE_LOG_LIMIT (the Slurm backend's jobs) had the agent keep
// every byte the workload printed in the site's log: `yes` filled the
// filesystem of the site's state directory. Unset, the limit is now
// DefaultSiteLogLimit, the local backend's default.
func TestAttackSiteLogUnboundedWithoutLimit(t *testing.T) {
	t.Setenv(EnvServer, "http://127.0.0.1:1")
	t.Setenv(EnvRun, "r1")
	t.Setenv(EnvAttempt, "1")
	t.Setenv(EnvToken, "tok")
	t.Setenv(EnvSiteLogLimit, "") // restored after the test
	os.Unsetenv(EnvSiteLogLimit)
	cfg, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SiteLogLimit != DefaultSiteLogLimit || DefaultSiteLogLimit != 256<<20 {
		t.Fatalf("with %s unset the site's log keeps %d bytes (default %d); want 256 MiB", EnvSiteLogLimit, cfg.SiteLogLimit, DefaultSiteLogLimit)
	}
}
