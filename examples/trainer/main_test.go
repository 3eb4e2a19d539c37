package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/examples/trainer/charlm"
)

// The test binary doubles as the trainer when this variable is set, so the
// tests kill a real process without building one.
const childEnv = "MERIDIAN_TRAINER_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
	}
	os.Exit(m.Run())
}

const (
	steps = 300
	every = 20
)

func args(ckdir string, delay time.Duration) []string {
	return []string{"-data", "charlm/corpus", "-checkpoints", ckdir, "-steps", fmt.Sprint(steps),
		"-checkpoint-every", fmt.Sprint(every), "-log-every", "5", "-batch", "64", "-seed", "3",
		"-step-delay", delay.String()}
}

func trainer(args []string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	return cmd
}

// interrupt runs the trainer until a checkpoint after minStep was saved and
// a later progress line was printed, then sends sig. It returns the last
// checkpoint step and the last progress step seen, and the exit error.
func interrupt(t *testing.T, ckdir string, sig syscall.Signal, minStep int64) (ckpt, last int64, out string, waitErr error) {
	t.Helper()
	cmd := trainer(args(ckdir, 3*time.Millisecond))
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	watchdog := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer watchdog.Stop()
	var all strings.Builder
	sc := bufio.NewScanner(pipe)
	ckpt, last = -1, -1
	sent := false
	for sc.Scan() {
		line := sc.Text()
		all.WriteString(line + "\n")
		if p, ok := backend.ParseProgress(line); ok {
			last = p.Step
		}
		var s int64
		if _, err := fmt.Sscanf(line, "checkpoint step=%d ", &s); err == nil {
			ckpt = s
		}
		if !sent && ckpt >= minStep && last > ckpt {
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			sent = true
		}
	}
	waitErr = cmd.Wait()
	if !sent {
		t.Fatalf("trainer ended before it could be interrupted:\n%s", all.String())
	}
	return ckpt, last, all.String(), waitErr
}

func resume(t *testing.T, ckdir string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := trainer(args(ckdir, 0))
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("resumed trainer: %v\n%s%s", err, out.String(), errb.String())
	}
	return out.String()
}

// finalCheckpoint is the last checkpoint of an uninterrupted run.
func finalCheckpoint(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := charlm.Main(args(dir, 0), &out, &errb); code != 0 {
		t.Fatalf("uninterrupted run exited %d: %s", code, errb.String())
	}
	b, err := os.ReadFile(charlm.CheckpointPath(dir, steps))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKillAndResume(t *testing.T) {
	ckdir := t.TempDir()
	ckpt, last, _, err := interrupt(t, ckdir, syscall.SIGKILL, 2*every)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("trainer exit = %v, want killed by SIGKILL", err)
	}
	out := resume(t, ckdir)
	var from int64
	if _, err := fmt.Sscanf(out, "resume step=%d ", &from); err != nil {
		t.Fatalf("resumed run did not start with a resume line: %v\n%s", err, out)
	}
	if from < ckpt || last-from > every {
		t.Fatalf("resumed at step %d; last checkpoint seen %d, last step seen %d: lost %d steps, at most %d allowed",
			from, ckpt, last, last-from, every)
	}
	if !strings.Contains(out, fmt.Sprintf("done step=%d ", steps)) {
		t.Fatalf("resumed run did not finish:\n%s", out)
	}
	got, err := os.ReadFile(charlm.CheckpointPath(ckdir, steps))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, finalCheckpoint(t)) {
		t.Fatal("killed-and-resumed run ended with other weights than an uninterrupted run")
	}
}

func TestTermCheckpointsAndResumesWithoutLoss(t *testing.T) {
	ckdir := t.TempDir()
	ckpt, last, out, err := interrupt(t, ckdir, syscall.SIGTERM, every)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 143 {
		t.Fatalf("trainer exit = %v, want exit code 143 after SIGTERM\n%s", err, out)
	}
	if ckpt < last {
		t.Fatalf("on SIGTERM the last checkpoint is step %d but step %d was done:\n%s", ckpt, last, out)
	}
	res := resume(t, ckdir)
	if !strings.HasPrefix(res, fmt.Sprintf("resume step=%d ", ckpt)) {
		t.Fatalf("resumed run should start at %d:\n%s", ckpt, res)
	}
}
