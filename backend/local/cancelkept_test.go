package local_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
)

// TestAnUnreadableMarkKeepsTheServersTime: where the job's "cancelled"
// mark could not be read, Cancel sent SIGKILL at once, though the server
// kept the first Cancel's time: a mark that could not be made (its
// directory kept mode 0) usually cannot be read either, and the job's
// group, an innocent one whose directory another job's workload chmods
// too, got no grace. The kept time now counts.
func TestAnUnreadableMarkKeepsTheServersTime(t *testing.T) {
	b := newLocal(t, t.TempDir())
	b.CancelGrace = time.Hour
	h, dir := runningJob(t, b, "kept-unreadable")
	local.KeepCancelAsked(b, h, time.Now().Add(-time.Minute))
	if err := os.WriteFile(filepath.Join(dir, "cancelled"), []byte("not a time\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if killAt := local.CancelKillAt(b, h, dir); time.Until(killAt) < 30*time.Minute {
		t.Fatalf("with the mark unreadable and the first Cancel's time kept, SIGKILL at %v; want within the hour's grace from that time", killAt)
	}
}

// TestCancelStopsAJobWhoseSecondLookFails: where the look at whether the
// job had ended, made again just before its mark, failed each time,
// Cancel returned before it signalled anything though the first look had
// read the job running, and so did every retry. It is now stopped all the
// same, unmarked, and Cancel says why.
func TestCancelStopsAJobWhoseSecondLookFails(t *testing.T) {
	b := newLocal(t, t.TempDir())
	b.CancelGrace = time.Second
	b.TreeWait = 300 * time.Millisecond
	h, dir := runningJob(t, b, "second-look")
	pid := readPid(t, b, h)
	// The run lock is looked at only where an exit code is there.
	if err := os.WriteFile(filepath.Join(dir, "exitcode"), []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	looks := 0
	t.Cleanup(local.SetCancelLockHeld(func(dir string, held func(string) (bool, error)) (bool, error) {
		looks++
		if looks == 1 {
			return held(dir)
		}
		return false, syscall.EIO
	}))
	err := asTheServersUser(t, func() error { return b.Cancel(context.Background(), h) })
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("Cancel with its second look failing: %v; want the error that says so", err)
	}
	if m := groupMembers(pid); len(m) > 0 {
		t.Fatalf("Cancel with its second look failing returned with the job's group running (%v)", m)
	}
}

// TestCancelSaysAMarkMadeButNotDurable: a mark put in place whose
// directory's sync failed was said not made.
func TestCancelSaysAMarkMadeButNotDurable(t *testing.T) {
	b := newLocal(t, t.TempDir())
	b.CancelGrace = time.Second
	h, _ := runningJob(t, b, "undurable")
	t.Cleanup(local.SetCancelMarkUndurable(syscall.EIO))
	err := asTheServersUser(t, func() error { return b.Cancel(context.Background(), h) })
	if err == nil || !strings.Contains(err.Error(), "made but not made durable") {
		t.Fatalf("Cancel with its mark placed but not synced: %v; want it to say the mark was made but not made durable", err)
	}
}

// TestCleanOfAGoneJobForgetsItsFirstCancel: Clean of a job whose directory
// was gone returned before it let go of the first Cancel's time the
// server kept, kept then for the server's life.
func TestCleanOfAGoneJobForgetsItsFirstCancel(t *testing.T) {
	b := newLocal(t, t.TempDir())
	h, err := b.Submit(context.Background(), backend.Spec{RunID: "gone", Attempt: 1, Command: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	waitEnded(t, b, h)
	local.KeepCancelAsked(b, h, time.Now())
	if err := os.RemoveAll(filepath.Join(b.StateDir(), "jobs", h)); err != nil {
		t.Fatal(err)
	}
	if err := b.Clean(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if local.CancelAskedKept(b, h) {
		t.Fatal("Clean of a job whose directory is gone kept the time of its first Cancel")
	}
}

// markDir is a job's directory for a mark, as the state directory has it.
func markDir(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "jobs", "mark-1")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// noTemporary fails t where a mark's temporary is left in dir.
func noTemporary(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("a mark's temporary is left: %s", e.Name())
		}
	}
}

// TestAMarksTemporaryIsRemovedUnderMode0: a mark's temporary was removed
// once: where the job's directory was made mode 0 meanwhile (a workload
// looping chmod 0), it was left there.
func TestAMarksTemporaryIsRemovedUnderMode0(t *testing.T) {
	dir := markDir(t)
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	t.Cleanup(local.SetMarkRename(func(old, new string) error {
		os.Chmod(dir, 0)
		return syscall.EACCES
	}))
	err := asTheServersUser(t, func() error {
		_, err := local.CreateMark(filepath.Join(dir, "cancelled"), []byte("x\n"), 0o644)
		return err
	})
	if !errors.Is(err, syscall.EACCES) {
		t.Fatalf("the mark with its rename failing: %v", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	noTemporary(t, dir)
}

// TestAMarkIsLinkedWhereItCannotBeRenamedSo: a filesystem (FUSE, a
// network one) or a seccomp filter that answers a rename that replaces
// nothing with EOPNOTSUPP or EPERM had no mark made at all.
func TestAMarkIsLinkedWhereItCannotBeRenamedSo(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EINVAL, syscall.ENOSYS, syscall.EOPNOTSUPP, syscall.EPERM} {
		t.Run(errno.Error(), func(t *testing.T) {
			dir := markDir(t)
			t.Cleanup(local.SetMarkRename(func(string, string) error { return errno }))
			path := filepath.Join(dir, "cancelled")
			created, err := local.CreateMark(path, []byte("x\n"), 0o644)
			if err != nil || !created {
				t.Fatalf("the mark with its rename answering %v: created %v, %v; want it linked", errno, created, err)
			}
			if data, err := os.ReadFile(path); err != nil || !bytes.Equal(data, []byte("x\n")) {
				t.Fatalf("the mark linked: %q, %v", data, err)
			}
			noTemporary(t, dir)
		})
	}
}

// TestTheExitCodeIsRenamedWhereNoReplaceIsNotOffered: the exit code's
// rename into place fell back to a plain rename only on EINVAL and
// ENOSYS; a FUSE or network filesystem answering EOPNOTSUPP, or a
// seccomp filter answering EPERM, failed the wrapper's last step. It
// falls back on the same answers as the marks now.
func TestTheExitCodeIsRenamedWhereNoReplaceIsNotOffered(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EINVAL, syscall.ENOSYS, syscall.EOPNOTSUPP, syscall.EPERM} {
		t.Run(errno.Error(), func(t *testing.T) {
			dir := t.TempDir()
			t.Cleanup(local.SetMarkRename(func(string, string) error { return errno }))
			from, to := filepath.Join(dir, ".exitcode.tmp"), filepath.Join(dir, "exitcode")
			if err := os.WriteFile(from, []byte("0\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := local.RenameNoReplace(from, to); err != nil {
				t.Fatalf("the rename answering %v: %v; want it renamed", errno, err)
			}
			if data, err := os.ReadFile(to); err != nil || string(data) != "0\n" {
				t.Fatalf("the exit code renamed: %q, %v", data, err)
			}
		})
	}
}
