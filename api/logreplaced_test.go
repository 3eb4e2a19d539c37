package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

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
