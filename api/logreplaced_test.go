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

// replacedLogs is a run's output whose attempt's output at the site is
// replaced after the first opening (a pod's container started again, a
// file written anew): "header\n" then the attempt's, "old-output\n" at
// first, then "the new output, longer than the old\n", a different output.
type replacedLogs struct {
	Controller
	opened, briefs atomic.Int64
}

type markedLog struct {
	io.Reader
	marks run.LogMarks
}

func (m markedLog) Close() error        { return nil }
func (m markedLog) Marks() run.LogMarks { return m.marks }

func (s *replacedLogs) OpenLogs(ctx context.Context, tenant, id string, off, limit int64) (io.ReadCloser, int64, error) {
	out, info := "old-output\n", backend.LogInfo{Size: 11, ID: "container one", Head: []byte("old-output\n")}
	if s.opened.Add(1) > 1 {
		out, info = "the new output, longer than the old\n", backend.LogInfo{Size: 36, ID: "container two", Head: []byte("the new output, longer than the old\n")}
	}
	whole := "header\n" + out
	from := min(off, int64(len(whole)))
	return markedLog{strings.NewReader(whole[from : from+min(limit, int64(len(whole))-from)]), run.LogMarks{{Attempt: 1, At: 7, Info: info}}},
		int64(len(whole)), nil
}

// Brief says the run runs on for one poll, then that it ended.
func (s *replacedLogs) Brief(ctx context.Context, tenant, id string) (*run.Run, error) {
	st := run.Running
	if s.briefs.Add(1) > 1 {
		st = run.Succeeded
	}
	return &run.Run{ID: id, Tenant: tenant, State: st}, nil
}

// TestFollowedLogThatIsReplaced: a followed log whose site's output is
// replaced by another (not grown) is followed again from the new output's
// start, after a line that says so; before, the new output's bytes past
// the old one's length were spliced on after the old output, as if it had
// grown.
func TestFollowedLogThatIsReplaced(t *testing.T) {
	s := &replacedLogs{}
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { s.Controller = c; return s }})
	req, _ := http.NewRequest("GET", f.srv.URL+"/v1/runs/run-replaced/logs?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d, %v", resp.StatusCode, err)
	}
	first, rest, ok := bytes.Cut(got, []byte("old-output\n"))
	if !ok || string(first) != "header\n" || !bytes.Contains(rest, []byte("replaced")) ||
		!bytes.HasSuffix(rest, []byte("<==\nthe new output, longer than the old\n")) {
		t.Errorf("followed log: %q; want the old output, a line that says it was replaced, and the new output whole", got)
	}
}

// rewrittenLogs is a run whose job writes its output file anew before
// every poll: each opening finds another output, as long as the first.
type rewrittenLogs struct {
	Controller
	opened atomic.Int64
}

func (s *rewrittenLogs) OpenLogs(ctx context.Context, tenant, id string, off, limit int64) (io.ReadCloser, int64, error) {
	n := s.opened.Add(1)
	out := fmt.Sprintf("output %06d\n", n)
	info := backend.LogInfo{Size: int64(len(out)), ID: fmt.Sprintf("file %d;", n), Head: []byte(out)}
	whole := "header\n" + out
	from := min(off, int64(len(whole)))
	return markedLog{strings.NewReader(whole[from : from+min(limit, int64(len(whole))-from)]), run.LogMarks{{Attempt: 1, At: 7, Info: info}}},
		int64(len(whole)), nil
}

func (s *rewrittenLogs) Brief(ctx context.Context, tenant, id string) (*run.Run, error) {
	return &run.Run{ID: id, Tenant: tenant, State: run.Running}, nil
}

// TestFollowedLogRewrittenAtEveryPoll: a job that wrote its output anew
// before every poll had the whole of it sent again every half second for
// as long as its client followed (up to the log limit each time). One
// follow now sends a replaced output again at most maxFollowRestarts
// times, then ends saying so.
func TestFollowedLogRewrittenAtEveryPoll(t *testing.T) {
	s := &rewrittenLogs{}
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { s.Controller = c; return s }})
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(maxFollowRestarts+20)*followPoll)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/v1/runs/run-rewritten/logs?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("the follow of an output written anew at every poll did not end: %v after %d openings", err, s.opened.Load())
	}
	if n := bytes.Count(got, []byte("<==\noutput ")); n != maxFollowRestarts {
		t.Errorf("the output was sent again %d times, want %d", n, maxFollowRestarts)
	}
	if !bytes.HasSuffix(got, []byte("follow again to read it <==\n")) {
		t.Errorf("followed log ends %q, want a line saying why it ended", got[max(0, len(got)-200):])
	}
}
