package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// markCancelledAt marks the job in dir cancelled at at, as a Cancel
// begun then did.
func markCancelledAt(t *testing.T, dir string, at time.Time) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "cancelled"), []byte(at.UTC().Format(time.RFC3339Nano)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// graceEndsNow marks the job in dir cancelled grace ago, its grace ending
// now, after every process of it running began: a start time is counted
// in clock ticks (10 ms), and two pass first.
func graceEndsNow(t *testing.T, dir string, grace time.Duration) {
	t.Helper()
	time.Sleep(20 * time.Millisecond)
	markCancelledAt(t, dir, time.Now().Add(-grace))
}

// TestAHolderFirstSeenPastTheGraceIsAskedFirst: a process holding the
// command lock that a Cancel first saw after the grace its job's first
// Cancel began had run out was sent SIGKILL at once, never SIGTERM, and
// could not end cleanly (flush a checkpoint). It is now sent SIGTERM and
// given a grace of its own.
func TestAHolderFirstSeenPastTheGraceIsAskedFirst(t *testing.T) {
	b := newLocalGrace(t, time.Minute, 10*time.Second)
	// The escaped shell notes its SIGTERM and ends; the sleep it waits
	// for does not hold the lock.
	term := filepath.Join(t.TempDir(), "term")
	h, dir, esc := orphanedEscapee(t, b, "late-holder", `trap "echo >`+term+`; exit 0" TERM; sleep 60 5<&- & wait`)
	graceEndsNow(t, dir, b.CancelGrace)
	if err := b.Cancel(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	wantHolderKilled(t, esc)
	if _, err := os.Stat(term); err != nil {
		t.Fatalf("the holder first seen past the grace was never sent SIGTERM: %v", err)
	}
}

// TestALateHoldersGraceCountsFromTheJobsFirstLateSighting: a holder first seen
// past the job's grace has a grace of its own, counted from the job's
// first such sighting, whichever Cancel made it: counted from each
// Cancel, retries shorter than it never killed a holder deaf to SIGTERM.
func TestALateHoldersGraceCountsFromTheJobsFirstLateSighting(t *testing.T) {
	b := newLocalGrace(t, 3*time.Second, time.Second)
	h, dir, esc := orphanedEscapee(t, b, "late-deaf", deafToTERM)
	graceEndsNow(t, dir, b.CancelGrace)
	if err := retryUntilNil(15*time.Second, func() error { return b.Cancel(context.Background(), h) }); err != nil {
		t.Fatalf("Cancel retried well past the holder's own grace: %v; want it killed", err)
	}
	wantHolderKilled(t, esc)
}

// TestALateHolderWhoseSIGTERMCannotBeKeptIsKilled: where when a holder
// was first seen past the job's grace cannot be kept or read (here a
// directory stands where it is written), a retry could not tell it had
// been asked, and its grace would begin again at each: it is sent
// SIGKILL at once, as before.
func TestALateHolderWhoseSIGTERMCannotBeKeptIsKilled(t *testing.T) {
	b := newLocalGrace(t, time.Minute, 5*time.Second)
	h, dir, esc := orphanedEscapee(t, b, "late-unkept", deafToTERM)
	graceEndsNow(t, dir, b.CancelGrace)
	if err := os.Mkdir(filepath.Join(dir, "late.at"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := b.Cancel(context.Background(), h); err != nil {
		t.Fatalf("Cancel: %v; want the holder killed at once", err)
	}
	wantHolderKilled(t, esc)
}

// TestAHolderBegunPastTheGraceIsKilled: a holder that began after the
// job's grace ended was forked since by one already asked to end; a
// grace of its own for each such one let a workload that forks a fresh
// holder before each grace ends outlive every Cancel. It is sent SIGKILL
// at once.
func TestAHolderBegunPastTheGraceIsKilled(t *testing.T) {
	b := newLocalGrace(t, time.Minute, 5*time.Second)
	h, dir, esc := orphanedEscapee(t, b, "late-forked", deafToTERM)
	markCancelledAt(t, dir, time.Now().Add(-2*time.Minute))
	if err := b.Cancel(context.Background(), h); err != nil {
		t.Fatalf("Cancel: %v; want the holder begun past the grace killed at once", err)
	}
	wantHolderKilled(t, esc)
}

// TestALateHoldersGraceSurvivesARetry: a holder first seen past the
// job's grace is asked to end and given a grace of its own, which a
// retry within it neither ends early nor counts afresh.
func TestALateHoldersGraceSurvivesARetry(t *testing.T) {
	b := newLocalGrace(t, 3*time.Second, time.Second)
	h, dir, esc := orphanedEscapee(t, b, "late-retry", deafToTERM)
	graceEndsNow(t, dir, b.CancelGrace)
	cancel := func() error { return cancelAsServer(t, b, h) }
	if err := cancel(); err == nil {
		t.Fatal("the first Cancel returned nil; want the late holder asked, given its own grace")
	}
	// The holder's grace counts from the job's first late sighting,
	// which the first Cancel kept: both retries are timed from it.
	lateAt := readLateAt(t, dir)
	graceEnd := lateAt.Add(b.CancelGrace)
	time.Sleep(time.Until(lateAt.Add(time.Second)))
	err := cancel()
	switch {
	case !time.Now().Before(graceEnd):
		// A machine so busy that the retry ended past the grace tells
		// nothing of the grace here.
		t.Logf("the retry 1 s into the late holder's grace ended past it (%v); its outcome not looked at", err)
	case err == nil || !running(esc):
		t.Fatalf("a retry 1 s into the late holder's 3 s grace: %v, holder running %v; want an error, the holder running", err, running(esc))
	}
	time.Sleep(time.Until(graceEnd))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if err = cancel(); err == nil || !time.Now().Before(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("retries for 5 s past the late holder's grace: %v; want it killed", err)
	}
	wantHolderKilled(t, esc)
}

// readLateAt is the job's first late sighting, as a Cancel kept it in dir.
func readLateAt(t *testing.T, dir string) time.Time {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "late.at"))
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return at
}
