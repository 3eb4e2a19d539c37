// Package toytrainer is a stand-in workload for the demo and the run tests
// until the example trainer (examples/trainer) is merged: it counts steps,
// prints progress lines, writes a self-verifying checkpoint every few steps
// atomically (temporary file, fsync, rename) and resumes from the latest
// one. It trains nothing.
package toytrainer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Main runs the trainer with args and returns the exit code. It reads
// MERIDIAN_CHECKPOINT_DIR (default ./checkpoints) and MERIDIAN_RESUME_FROM,
// and appends a line naming the run and attempt to ./launches.log.
func Main(args []string, stdout io.Writer) int {
	fs := flag.NewFlagSet("trainer", flag.ContinueOnError)
	steps := fs.Int64("steps", 100, "steps to train")
	every := fs.Int64("every", 10, "checkpoint every N steps")
	stepMS := fs.Int("step-ms", 20, "milliseconds per step")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *steps < 1 || *every < 1 || *stepMS < 0 {
		fmt.Fprintln(stdout, "error: -steps and -every must be at least 1, -step-ms at least 0")
		return 2
	}
	dir := os.Getenv("MERIDIAN_CHECKPOINT_DIR")
	if dir == "" {
		dir = "checkpoints"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(stdout, "error:", err)
		return 1
	}
	// One line per launch in the working directory, so tests can prove
	// that no attempt was started twice.
	if lf, err := os.OpenFile("launches.log", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
		fmt.Fprintf(lf, "run=%s attempt=%s pid=%d\n", os.Getenv("MERIDIAN_RUN_ID"), os.Getenv("MERIDIAN_ATTEMPT"), os.Getpid())
		lf.Close()
	}
	start := int64(0)
	from := os.Getenv("MERIDIAN_RESUME_FROM")
	if from == "" {
		from = Latest(dir)
	}
	if from != "" {
		s, err := Verify(from)
		if err != nil {
			fmt.Fprintln(stdout, "error: resume:", err)
			return 1
		}
		start = s
		fmt.Fprintf(stdout, "resumed from %s at step %d\n", filepath.Base(from), s)
	}
	for step := start + 1; step <= *steps; step++ {
		time.Sleep(time.Duration(*stepMS) * time.Millisecond)
		loss := 0.5 + 4*math.Exp(-float64(step)/float64(*steps)*3)
		fmt.Fprintf(stdout, "step=%d loss=%.4f tokens_per_s=%d\n", step, loss, 4096*1000/(*stepMS+1))
		if step%*every == 0 || step == *steps {
			if err := Write(dir, step); err != nil {
				fmt.Fprintln(stdout, "error: checkpoint:", err)
				return 1
			}
		}
	}
	fmt.Fprintln(stdout, "done")
	return 0
}

// Name is the checkpoint file name of step.
func Name(step int64) string { return fmt.Sprintf("ckpt-%09d.bin", step) }

func body(step int64) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "toytrainer checkpoint\nstep %d\n", step)
	// Some bulk, so that a torn write would show.
	for i := 0; i < 64; i++ {
		fmt.Fprintf(&b, "w%02d %.6f\n", i, math.Sin(float64(step*int64(i+1))))
	}
	return b.Bytes()
}

// Write stores the checkpoint of step in dir atomically.
func Write(dir string, step int64) error {
	b := body(step)
	sum := sha256.Sum256(b)
	b = append(b, "sha256 "+hex.EncodeToString(sum[:])+"\n"...)
	f, err := os.CreateTemp(dir, ".ckpt-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, Name(step)))
}

// Verify checks a checkpoint's trailer and returns its step.
func Verify(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndex(b, []byte("sha256 "))
	if i < 0 {
		return 0, fmt.Errorf("%s: no checksum trailer", path)
	}
	sum := sha256.Sum256(b[:i])
	if strings.TrimSpace(string(b[i+7:])) != hex.EncodeToString(sum[:]) {
		return 0, fmt.Errorf("%s: checksum mismatch", path)
	}
	lines := strings.SplitN(string(b), "\n", 3)
	if len(lines) < 3 || !strings.HasPrefix(lines[1], "step ") {
		return 0, errors.New(path + ": no step line")
	}
	step, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "step "), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	if !bytes.Equal(b[:i], body(step)) {
		return 0, fmt.Errorf("%s: contents do not match step %d", path, step)
	}
	return step, nil
}

// Latest returns the newest checkpoint file in dir, or "".
func Latest(dir string) string {
	names, _ := filepath.Glob(filepath.Join(dir, "ckpt-*.bin"))
	sort.Strings(names)
	if len(names) == 0 {
		return ""
	}
	return names[len(names)-1]
}
