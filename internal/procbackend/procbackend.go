// Package procbackend is a minimal local-process backend.Backend that the
// run controller, `meridian serve` and `meridian demo` use until the
// project's own local backend (backend.For) is merged. Jobs run detached in
// their own process group, so they outlive a controller killed with SIGKILL,
// and a job claims its slot with an atomic mkdir so that a resubmitted
// attempt never starts twice. A site is lost when the file LOST exists in
// the backend's root: every job there is killed and reports backend.Lost.
package procbackend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"meridian.dev/meridian/backend"
)

// LostFile is the marker whose presence in Root means the site is lost.
const LostFile = "LOST"

// Backend runs jobs as local processes under Root.
type Backend struct{ Root string }

// New returns a Backend keeping its job records under root.
func New(root string) *Backend { return &Backend{Root: root} }

var safeID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

func (b *Backend) jobDir(handle string) (string, error) {
	if !safeID.MatchString(handle) || strings.Contains(handle, "..") {
		return "", fmt.Errorf("procbackend: bad handle %q", handle)
	}
	return filepath.Join(b.Root, "jobs", handle), nil
}

// Handle is the job handle of one attempt.
func Handle(runID string, attempt int) string { return fmt.Sprintf("%s.%d", runID, attempt) }

// wrapper claims the job (mkdir is atomic), records its pid, runs the
// command with output to log and records the exit code. Arguments: job dir,
// work dir, command….
const wrapper = `j="$1"; w="$2"; shift 2
mkdir "$j/started" 2>/dev/null || exit 0
echo $$ > "$j/pid.tmp" && mv "$j/pid.tmp" "$j/pid"
cd "$w" || { echo 127 > "$j/exit"; exit 0; }
"$@" >> "$j/log" 2>&1
echo $? > "$j/exit.tmp" && mv "$j/exit.tmp" "$j/exit"
`

// Submit implements backend.Backend. It is idempotent by RunID and Attempt.
func (b *Backend) Submit(ctx context.Context, spec backend.Spec) (string, error) {
	if len(spec.Command) == 0 {
		return "", errors.New("procbackend: empty command")
	}
	if b.lost() {
		return "", fmt.Errorf("procbackend: site at %s is lost", b.Root)
	}
	h := Handle(spec.RunID, spec.Attempt)
	dir, err := b.jobDir(h)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
		return h, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.MkdirAll(spec.WorkDir, 0o755); err != nil {
		return "", err
	}
	args := append([]string{"-c", wrapper, "meridian-job", dir, spec.WorkDir}, spec.Command...)
	cmd := exec.Command("/bin/sh", args...)
	cmd.Env = os.Environ()
	for k, v := range spec.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("procbackend: start %s: %w", h, err)
	}
	go cmd.Wait() // reap; a restarted controller leaves reaping to init
	return h, nil
}

func (b *Backend) lost() bool {
	_, err := os.Stat(filepath.Join(b.Root, LostFile))
	return err == nil
}

func readInt(path string) (int, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	return n, err == nil
}

// Status implements backend.Backend.
func (b *Backend) Status(ctx context.Context, handle string) (backend.Status, error) {
	dir, err := b.jobDir(handle)
	if err != nil {
		return backend.Status{}, err
	}
	if _, err := os.Stat(dir); err != nil {
		return backend.Status{}, fmt.Errorf("procbackend: unknown job %s", handle)
	}
	pid, hasPid := readInt(filepath.Join(dir, "pid"))
	if b.lost() {
		if hasPid {
			syscall.Kill(-pid, syscall.SIGKILL)
		}
		return backend.Status{State: backend.Lost, Reason: "site lost (" + LostFile + " marker present)"}, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "cancelled")); err == nil {
		if hasPid && alive(pid) {
			syscall.Kill(-pid, syscall.SIGKILL)
		}
		return backend.Status{State: backend.Cancelled, Reason: "cancelled"}, nil
	}
	if code, ok := readInt(filepath.Join(dir, "exit")); ok {
		if code == 0 {
			return backend.Status{State: backend.Succeeded}, nil
		}
		return backend.Status{State: backend.Failed, ExitCode: code, Reason: fmt.Sprintf("exit code %d", code)}, nil
	}
	if !hasPid {
		return backend.Status{State: backend.Pending}, nil
	}
	if alive(pid) {
		return backend.Status{State: backend.Running}, nil
	}
	// Recheck: the job may have finished between the two reads.
	if code, ok := readInt(filepath.Join(dir, "exit")); ok {
		if code == 0 {
			return backend.Status{State: backend.Succeeded}, nil
		}
		return backend.Status{State: backend.Failed, ExitCode: code, Reason: fmt.Sprintf("exit code %d", code)}, nil
	}
	return backend.Status{State: backend.Lost, Reason: "process vanished without an exit code"}, nil
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	// A zombie still answers kill 0; treat it as gone.
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	if i := strings.LastIndexByte(string(data), ')'); i > 0 && i+2 < len(data) {
		return data[i+2] != 'Z'
	}
	return true
}

// Cancel implements backend.Backend.
func (b *Backend) Cancel(ctx context.Context, handle string) error {
	dir, err := b.jobDir(handle)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "exit")); err == nil {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, "cancelled"), nil, 0o644); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if pid, ok := readInt(filepath.Join(dir, "pid")); ok {
		syscall.Kill(-pid, syscall.SIGTERM)
		deadline := time.Now().Add(5 * time.Second)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		syscall.Kill(-pid, syscall.SIGKILL)
	}
	return nil
}

// Logs implements backend.Backend.
func (b *Backend) Logs(ctx context.Context, handle string) (io.ReadCloser, error) {
	dir, err := b.jobDir(handle)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, "log"))
	if errors.Is(err, fs.ErrNotExist) {
		return io.NopCloser(strings.NewReader("")), nil
	}
	return f, err
}

// Started reports how many attempts of runID were started at this site
// (each claims its directory once), for tests that count launches.
func (b *Backend) Started(runID string) int {
	n := 0
	entries, _ := os.ReadDir(filepath.Join(b.Root, "jobs"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), runID+".") {
			if _, err := os.Stat(filepath.Join(b.Root, "jobs", e.Name(), "started")); err == nil {
				n++
			}
		}
	}
	return n
}
