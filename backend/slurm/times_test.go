package slurm

import (
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// TestStatusTimesSqueue: the start and end squeue gives a job are read in
// UTC, the zone squeue is asked to write them in; a pending job's StartTime
// (slurmctld's guess at its start) and a running job's EndTime (where its
// time limit would end it) are not taken for times it ran, and "Unknown",
// "None" or another format read as no time.
func TestStatusTimesSqueue(t *testing.T) {
	loc := time.UTC
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02T15:04:05", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	tests := []struct {
		name                   string
		state, reason          string
		exit                   int
		start, end             string
		wantState              backend.State
		wantStarted, wantEnded string
	}{
		{"completed", "COMPLETED", "None", 0, "2026-12-04T10:00:02", "2026-12-04T10:01:07", backend.Succeeded, "2026-12-04T10:00:02", "2026-12-04T10:01:07"},
		{"failed", "FAILED", "NonZeroExitCode", 3 << 8, "2026-12-04T10:00:02", "2026-12-04T10:00:09", backend.Failed, "2026-12-04T10:00:02", "2026-12-04T10:00:09"},
		{"running, end is the time limit", "RUNNING", "None", 0, "2026-12-04T10:00:02", "2026-12-04T11:00:02", backend.Running, "2026-12-04T10:00:02", ""},
		{"running without a limit", "RUNNING", "None", 0, "2026-12-04T10:00:02", "Unknown", backend.Running, "2026-12-04T10:00:02", ""},
		{"pending with an expected start", "PENDING", "Resources", 0, "2026-12-04T12:00:00", "2026-12-04T13:00:00", backend.Pending, "", ""},
		{"pending", "PENDING", "Priority", 0, "Unknown", "Unknown", backend.Pending, "", ""},
		{"pending on a down partition", "PENDING", "PartitionDown", 0, "2026-12-04T12:00:00", "2026-12-04T13:00:00", backend.Lost, "", ""},
		{"requeued", "REQUEUED", "None", 0, "2026-12-04T10:00:02", "2026-12-04T10:03:00", backend.Pending, "", ""},
		{"cancelled while pending", "CANCELLED", "None", 15, "2026-12-04T10:05:00", "2026-12-04T10:05:00", backend.Cancelled, "2026-12-04T10:05:00", "2026-12-04T10:05:00"},
		{"ended, no times", "COMPLETED", "None", 0, "None", "None", backend.Succeeded, "", ""},
		{"end before start", "COMPLETED", "None", 0, "2026-12-04T10:00:02", "2026-12-04T09:00:00", backend.Succeeded, "2026-12-04T10:00:02", ""},
		{"another time format", "COMPLETED", "None", 0, "10:00:02", "10:01:07", backend.Succeeded, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job, err := parseSqueueJob(squeueLine("42", tt.state, tt.exit, tt.start, tt.end, "c1", tt.reason, "/state/jobs/r1-1/output.log"), "42")
			if err != nil {
				t.Fatal(err)
			}
			st := job.status()
			var wantS, wantE time.Time
			if tt.wantStarted != "" {
				wantS = at(tt.wantStarted)
			}
			if tt.wantEnded != "" {
				wantE = at(tt.wantEnded)
			}
			if st.State != tt.wantState || !st.Started.Equal(wantS) || !st.Ended.Equal(wantE) {
				t.Fatalf("%+v, want %s from %v to %v", st, tt.wantState, wantS, wantE)
			}
		})
	}
}

// TestStatusTimesREST: slurmrestd's start_time and end_time, seconds since
// 1970 as a number (v0.0.38) or as {set, infinite, number} (later), with 0
// or an unset value for none.
func TestStatusTimesREST(t *testing.T) {
	t0 := time.Unix(1796234415, 0).UTC()
	tests := []struct {
		job            string
		started, ended time.Time
	}{
		{`{"job_state":"COMPLETED","exit_code":0,"start_time":1796234415,"end_time":1796234480}`, t0, t0.Add(65 * time.Second)},
		{`{"job_state":["COMPLETED"],"exit_code":0,"start_time":{"set":true,"infinite":false,"number":1796234415},"end_time":{"set":true,"infinite":false,"number":1796234480}}`, t0, t0.Add(65 * time.Second)},
		{`{"job_state":"RUNNING","exit_code":0,"start_time":1796234415,"end_time":1796238015}`, t0, time.Time{}},
		{`{"job_state":"PENDING","state_reason":"Resources","start_time":1796234415,"end_time":0}`, time.Time{}, time.Time{}},
		{`{"job_state":"COMPLETED","exit_code":0,"start_time":0,"end_time":0}`, time.Time{}, time.Time{}},
		{`{"job_state":"COMPLETED","exit_code":0,"start_time":{"set":false,"infinite":false,"number":0},"end_time":{"set":true,"infinite":true,"number":0}}`, time.Time{}, time.Time{}},
		{`{"job_state":"COMPLETED","exit_code":0,"start_time":"yesterday"}`, time.Time{}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.job, func(t *testing.T) {
			j := decodeAPIJob(t, tt.job)
			code, sig := j.exitCode()
			st := j.status(code, sig)
			if !st.Started.Equal(tt.started) || !st.Ended.Equal(tt.ended) {
				t.Fatalf("%+v, want from %v to %v", st, tt.started, tt.ended)
			}
		})
	}
}
