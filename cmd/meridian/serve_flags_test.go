package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/run"
)

// TestServeRefusesNonNumberRateLimit: --rate-limit NaN passed the "0 or
// more" check and made a limiter that lets every request through (NaN
// tokens never fall below zero); +Inf turns it off too. Both are refused,
// naming the flag. (--max-streams 0 stops the command before it serves
// when the rate is wrongly accepted.)
func TestServeRefusesNonNumberRateLimit(t *testing.T) {
	t.Setenv("MERIDIAN_HOME", t.TempDir())
	for _, v := range []string{"NaN", "nan", "Inf", "+Inf", "-Inf"} {
		_, err := runCLI(t, "serve", "--rate-limit", v, "--max-streams", "0", "--listen", "127.0.0.1:0")
		if err == nil || !strings.Contains(err.Error(), "--rate-limit") {
			t.Errorf("--rate-limit %s: got %v, want an error naming --rate-limit", v, err)
		}
	}
}

// TestServeRefusesTenantOutputLimitBelowZero: --tenant-output-limit (the
// output kept for each tenant across its runs; 0, no bound) below 0 is refused
// naming the flag, before the server serves (--max-streams 0 stops the
// command when the value is wrongly accepted).
func TestServeRefusesTenantOutputLimitBelowZero(t *testing.T) {
	t.Setenv("MERIDIAN_HOME", t.TempDir())
	for _, v := range []string{"-1", "-1073741824"} {
		_, err := runCLI(t, "serve", "--tenant-output-limit", v, "--max-streams", "0", "--listen", "127.0.0.1:0")
		if err == nil || !strings.Contains(err.Error(), "--tenant-output-limit") {
			t.Errorf("--tenant-output-limit %s: got %v, want an error naming --tenant-output-limit", v, err)
		}
	}
}

// TestServeAuditRateLimitFlags: the bucket for calls that append to the
// audit log (api.Options.AuditedRateLimit) had no flag, so an operator
// could neither raise it for a busy script nor lower it; --audit-rate-limit
// and --audit-rate-burst set it, and a value that is no number is refused
// naming the flag. A server started with a burst of 2 and a rate of one
// call in 1,000 s answers the third key change at once with 429, the
// first two being charged whatever they answer.
func TestServeAuditRateLimitFlags(t *testing.T) {
	t.Setenv("MERIDIAN_HOME", t.TempDir())
	for _, v := range []string{"NaN", "+Inf", "-1"} {
		_, err := runCLI(t, "serve", "--audit-rate-limit", v, "--max-streams", "0", "--listen", "127.0.0.1:0")
		if err == nil || !strings.Contains(err.Error(), "--audit-rate-limit") {
			t.Errorf("--audit-rate-limit %s: got %v, want an error naming --audit-rate-limit", v, err)
		}
	}
	if testing.Short() {
		return
	}
	p := newServeProc(t)
	p.extra = []string{"--audit-rate-limit", "0.001", "--audit-rate-burst", "2"}
	p.start()
	defer p.stop()
	var codes []int
	var last string
	for range 3 {
		req, err := http.NewRequest(http.MethodPut, p.c.Base+"/v1/datasets/nosuch/key", strings.NewReader(`{"key":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+p.c.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := p.c.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		last = string(b)
	}
	if codes[0] == http.StatusTooManyRequests || codes[1] == http.StatusTooManyRequests || codes[2] != http.StatusTooManyRequests {
		t.Fatalf("three key changes answered %v (last: %s), want the third alone refused with 429", codes, last)
	}
}

// TestServeTenantOutputLimitDefault: serve bounds each tenant's kept
// output at run.DefaultTenantLogLimit unless told otherwise, now that the
// bound makes room by removing old ended runs' output, and 0 (the old
// behaviour: no bound) reaches the controller as 0, not as the default.
// The test before this one still wanted the default 0, and failed.
func TestServeTenantOutputLimitDefault(t *testing.T) {
	f := newServeCmd().Flags().Lookup("tenant-output-limit")
	if want := strconv.FormatInt(run.DefaultTenantLogLimit, 10); f == nil || f.DefValue != want {
		t.Fatalf("--tenant-output-limit's default: %v; want %s (run.DefaultTenantLogLimit)", f, want)
	}
	for _, limit := range []int64{0, run.DefaultTenantLogLimit} {
		dir := t.TempDir()
		for _, d := range []string{filepath.Dir(dir), dir} {
			os.Chmod(d, 0o711) // workloads run as another user pass through
		}
		s, err := startServer(serverOptions{StateDir: filepath.Join(dir, "state"), Listen: "127.0.0.1:0",
			Poll: 100 * time.Millisecond, SiteTimeout: 5 * time.Second, Log: io.Discard, TenantOutputLimit: limit})
		if err != nil {
			t.Fatal(err)
		}
		got := s.Ctl.TenantOutputLimit()
		s.Close()
		if got != limit {
			t.Errorf("--tenant-output-limit %d: the controller bounds each tenant at %d", limit, got)
		}
	}
}
