package toytrainer

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckpointRoundTripAndCorruption(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, 40); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, Name(40))
	if step, err := Verify(path); err != nil || step != 40 {
		t.Fatalf("verify: %d %v", step, err)
	}
	b, _ := os.ReadFile(path)
	tests := map[string][]byte{
		"truncated":  b[:len(b)/2],
		"flipped":    append([]byte{b[0] ^ 1}, b[1:]...),
		"wrong step": bytes.Replace(b, []byte("step 40"), []byte("step 41"), 1),
		"no trailer": b[:bytes.LastIndex(b, []byte("sha256 "))],
		"empty":      nil,
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "ck")
			os.WriteFile(p, data, 0o644)
			if _, err := Verify(p); err == nil {
				t.Error("corrupt checkpoint verified")
			}
		})
	}
}

func TestResume(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MERIDIAN_CHECKPOINT_DIR", dir)
	t.Chdir(t.TempDir())
	var out bytes.Buffer
	if code := Main([]string{"-steps", "10", "-every", "5", "-step-ms", "0"}, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	if Latest(dir) != filepath.Join(dir, Name(10)) {
		t.Fatalf("latest %s", Latest(dir))
	}
	out.Reset()
	if code := Main([]string{"-steps", "15", "-every", "5", "-step-ms", "0"}, &out); code != 0 {
		t.Fatal(out.String())
	}
	if !strings.Contains(out.String(), "resumed from "+Name(10)+" at step 10") || strings.Contains(out.String(), "step=10 ") {
		t.Errorf("did not resume at 10:\n%s", out.String())
	}
	b, _ := os.ReadFile("launches.log")
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Errorf("%d launches logged, want 2", n)
	}
}
