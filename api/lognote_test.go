package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/run"
)

// notedLogs is a run of two attempts, as run.OpenLogs gives it: the first
// attempt's output, ended, then the second's, a line longer at each
// opening. The first attempt's output cannot be read at the openings
// unread says (from the second on): a note of another length stands in
// its place, and the second attempt's output moves. Brief says the run
// runs on until the opening after the last of them and more.
type notedLogs struct {
	openedLogs
	unread func(n int64) bool
}

// openedLogs counts a run's openings of its output: the run is running
// until the opening after until, then succeeded.
type openedLogs struct {
	Controller
	until  int64 // the openings after which the run ended
	opened atomic.Int64
}

func (s *openedLogs) Brief(ctx context.Context, tenant, id string) (*run.Run, error) {
	st := run.Running
	if s.opened.Load() > s.until {
		st = run.Succeeded
	}
	return &run.Run{ID: id, Tenant: tenant, State: st}, nil
}

// followLogs follows runID's log through c (whose openings are s) and
// gives all it read.
func followLogs(t *testing.T, c Controller, s *openedLogs, runID string) string {
	t.Helper()
	f := newFixtureWith(t, fixtureOptions{Hide: func(inner Controller) Controller { s.Controller = inner; return c }})
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(s.until+maxFollowHeld+20)*followPoll)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/v1/runs/"+runID+"/logs?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d, %v (%d openings)", resp.StatusCode, err, s.opened.Load())
	}
	return string(got)
}

const (
	notedHead1 = "=== attempt 1 at alpha ===\n"
	notedOut1  = "the first attempt's output, all of it\n"
	notedNote  = "(logs unavailable: the scheduler did not answer)\n"
	notedHead2 = "=== attempt 2 at bravo ===\n"
)

func notedOut2(lines int64) string {
	var b strings.Builder
	for i := range lines {
		fmt.Fprintf(&b, "second attempt, line %d\n", i+1)
	}
	return b.String()
}

func (s *notedLogs) OpenLogs(ctx context.Context, tenant, id string, off, limit int64) (io.ReadCloser, int64, error) {
	n := s.opened.Add(1)
	first := run.LogMark{Attempt: 1, At: int64(len(notedHead1)), Len: int64(len(notedOut1)),
		Info: backend.LogInfo{Size: int64(len(notedOut1)), ID: "file 1;", Head: []byte(notedOut1)}}
	out1 := notedOut1
	if n > 1 && s.unread(n) {
		out1 = notedNote
		first = run.LogMark{Attempt: 1, At: first.At, Len: int64(len(notedNote)), From: run.LogUnread}
	}
	out2 := notedOut2(min(n, s.until))
	second := run.LogMark{Attempt: 2, At: int64(len(notedHead1) + len(out1) + len(notedHead2)), Len: int64(len(out2)),
		Info: backend.LogInfo{Size: int64(len(out2)), ID: "file 2;", Head: []byte(out2[:min(len(out2), backend.LogHeadSize)])}}
	whole := notedHead1 + out1 + notedHead2 + out2
	from := min(off, int64(len(whole)))
	return markedLog{strings.NewReader(whole[from : from+min(limit, int64(len(whole))-from)]), run.LogMarks{first, second}},
		int64(len(whole)), nil
}

func followNoted(t *testing.T, s *notedLogs) string {
	t.Helper()
	return followLogs(t, s, &s.openedLogs, "run-noted")
}

// TestFollowedLogPastAnAttemptUnreadOnce: an earlier attempt's output
// that could not be read at one poll had a note of another length put in
// its place, and the follower read on at its offset in the output that
// had moved: it sent bytes of the later attempt's output again, or
// skipped some. Now that poll goes no further than the unread output, and
// the next goes on where the follower was: the client gets the run's
// output once, byte for byte.
func TestFollowedLogPastAnAttemptUnreadOnce(t *testing.T) {
	s := &notedLogs{unread: func(n int64) bool { return n == 2 }, openedLogs: openedLogs{until: 4}}
	got := followNoted(t, s)
	if want := notedHead1 + notedOut1 + notedHead2 + notedOut2(s.until); got != want {
		t.Errorf("followed log:\n%q\nwant the run's output once:\n%q", got, want)
	}
}

// TestFollowedLogPastAnAttemptNeverReadAgain: an earlier attempt's output
// that cannot be read again holds the follower back a few polls, not for
// good: then the note is followed from where it stands, after a line
// that says so, and the later attempt's output after it, to its end.
func TestFollowedLogPastAnAttemptNeverReadAgain(t *testing.T) {
	s := &notedLogs{unread: func(n int64) bool { return true }, openedLogs: openedLogs{until: maxFollowHeld + 4}}
	got := followNoted(t, s)
	before, after, ok := strings.Cut(got, "<==\n")
	if !ok || !strings.HasPrefix(before, notedHead1+notedOut1+notedHead2+notedOut2(1)) || !strings.Contains(before, "replaced") {
		t.Fatalf("followed log %q: want the output read at first, then a line that says it was replaced", got)
	}
	if want := notedNote + notedHead2 + notedOut2(s.until); after != want {
		t.Errorf("after the line: %q, want the note and the second attempt's output from its start: %q", after, want)
	}
	if bytes.Count([]byte(got), []byte("<==")) != 1 {
		t.Errorf("followed log %q: want one line saying the output was replaced", got)
	}
}

// failingLogs is a run's output, a line longer at each opening, whose
// reader of the opening fails says fails before it gives a byte (the
// output found replaced while read, a scheduler that broke off).
type failingLogs struct {
	openedLogs
	fails func(n int64) bool
}

type failedRead struct{}

func (failedRead) Read([]byte) (int, error) {
	return 0, fmt.Errorf("the site's output of the run: %w", backend.ErrLogReplaced)
}

func (s *failingLogs) OpenLogs(ctx context.Context, tenant, id string, off, limit int64) (io.ReadCloser, int64, error) {
	n := s.opened.Add(1)
	whole := notedOut2(min(n, s.until))
	if s.fails(n) && off < int64(len(whole)) {
		return markedLog{failedRead{}, nil}, int64(len(whole)), nil
	}
	from := min(off, int64(len(whole)))
	return markedLog{strings.NewReader(whole[from : from+min(limit, int64(len(whole))-from)]), nil}, int64(len(whole)), nil
}

func followFailing(t *testing.T, s *failingLogs) string {
	t.Helper()
	return followLogs(t, s, &s.openedLogs, "run-failing")
}

// TestFollowedLogReadFailsOnce: a poll whose read of the output failed
// ended the followed log there, cleanly, as if the run's output ended:
// the client missed the rest. The next poll now reads on from where the
// follower was.
func TestFollowedLogReadFailsOnce(t *testing.T) {
	s := &failingLogs{fails: func(n int64) bool { return n == 2 }, openedLogs: openedLogs{until: 4}}
	if got, want := followFailing(t, s), notedOut2(s.until); got != want {
		t.Errorf("followed log %q, want the run's output whole: %q", got, want)
	}
}

// TestFollowedLogReadFailsAlways: a followed log whose reads fail at
// every poll ends after maxFollowHeld of them in a row, saying so.
func TestFollowedLogReadFailsAlways(t *testing.T) {
	s := &failingLogs{fails: func(n int64) bool { return n > 1 }, openedLogs: openedLogs{until: 1 << 20}}
	got := followFailing(t, s)
	if want := notedOut2(1) + "\n==> the run's output from byte"; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "follow again to read it <==\n") {
		t.Errorf("followed log %q, want the output read, then a line saying it could not be read", got)
	}
	if n := s.opened.Load(); n != maxFollowHeld+2 {
		t.Errorf("opened %d times, want %d: once, then once per poll that failed", n, maxFollowHeld+2)
	}
}

// agentTakesOverLogs is a run of attempts, one more at each opening up to
// until: the newest is read from the site's copy, and from the next
// opening on from the output its agent sent, which takes the site copy's
// place.
type agentTakesOverLogs struct {
	openedLogs
}

func (s *agentTakesOverLogs) OpenLogs(ctx context.Context, tenant, id string, off, limit int64) (io.ReadCloser, int64, error) {
	k := s.opened.Add(1)
	var whole strings.Builder
	var marks run.LogMarks
	for i := int64(1); i <= min(k, s.until); i++ {
		fmt.Fprintf(&whole, "=== attempt %d at alpha ===\n", i)
		m := run.LogMark{Attempt: int(i), At: int64(whole.Len())}
		out := fmt.Sprintf("the site's copy of attempt %d's output\n", i)
		m.Info = backend.LogInfo{Size: int64(len(out)), ID: fmt.Sprintf("file %d;", i), Head: []byte(out)}
		if i < k {
			// Not as the site's copy started: the site's has the
			// agent's own lines.
			out, m.From = fmt.Sprintf("attempt %d's output\n", i), run.LogFromServer
			m.Info = backend.LogInfo{Size: int64(len(out)), Head: []byte(out)}
		}
		m.Len = int64(len(out))
		whole.WriteString(out)
		marks = append(marks, m)
	}
	w := whole.String()
	from := min(off, int64(len(w)))
	return markedLog{strings.NewReader(w[from : from+min(limit, int64(len(w))-from)]), marks}, int64(len(w)), nil
}

// TestFollowedLogOfManyAttempts: each attempt's output as its agent sent
// it taking the place of the site's copy a follower had read some of is
// followed again from the attempt's start, and that comes once an
// attempt: it does not count against maxFollowRestarts, which would end
// the follow of a run of more attempts than that before its end.
func TestFollowedLogOfManyAttempts(t *testing.T) {
	// An opening that follows again opens the output once more, and
	// finds another attempt: about every other attempt is followed again.
	s := &agentTakesOverLogs{openedLogs{until: 2*maxFollowRestarts + 3}}
	got := followLogs(t, s, &s.openedLogs, "run-many")
	last := fmt.Sprintf("\nattempt %d's output\n", s.until)
	if n := strings.Count(got, "<==\n"); n <= maxFollowRestarts || !strings.HasSuffix(got, last) || strings.Contains(got, "replaced again") {
		t.Errorf("followed log %q: want the attempts' output followed again %d times or more, to the last's end", got, maxFollowRestarts+1)
	}
}
