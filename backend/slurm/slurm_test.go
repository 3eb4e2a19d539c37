package slurm_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
)

// cluster returns the site settings of the test cluster, failing (not
// skipping) when MERIDIAN_TEST_SLURM=1 and Slurm is unreachable.
func cluster(t *testing.T) catalog.BackendSpec {
	t.Helper()
	if os.Getenv("MERIDIAN_TEST_SLURM") != "1" {
		t.Skip("MERIDIAN_TEST_SLURM is not 1; scripts/test.sh starts a cluster and sets it")
	}
	site := catalog.BackendSpec{
		Type:      "slurm",
		Partition: envOr("MERIDIAN_TEST_SLURM_PARTITION", "conformance"),
		GresType:  envOr("MERIDIAN_TEST_SLURM_GRES", "h100"),
		Endpoint:  os.Getenv("SLURM_CONF"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sinfo", "-h", "-p", site.Partition, "-o", "%a %t").CombinedOutput()
	if err != nil || len(out) == 0 {
		t.Fatalf("MERIDIAN_TEST_SLURM=1 but Slurm partition %s is unreachable (run scripts/slurm-up.sh and source its env.sh): %v: %s", site.Partition, err, out)
	}
	return site
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func TestConformance(t *testing.T) {
	site := cluster(t)
	backendtest.Run(t, func(t *testing.T, stateDir string) backend.Backend {
		b, err := slurm.New(site, stateDir)
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
