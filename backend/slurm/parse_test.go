package slurm

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/backend"
)

func TestParseKeyValues(t *testing.T) {
	tests := []struct {
		line string
		want map[string]string
	}{
		{"JobId=7 JobName=meridian-r1-1 JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0",
			map[string]string{"JobId": "7", "JobName": "meridian-r1-1", "JobState": "FAILED", "Reason": "NonZeroExitCode", "ExitCode": "3:0"}},
		{"Command=/a b/c.sh WorkDir=/x", map[string]string{"Command": "/a b/c.sh", "WorkDir": "/x"}},
		{"UserId=root(0) AllocNode:Sid=localhost:5106 Comment=",
			map[string]string{"UserId": "root(0)", "AllocNode:Sid": "localhost:5106", "Comment": ""}},
		{"orphan Key=v", map[string]string{"Key": "v"}},
		{"Reason=(ReqNodeNotAvail, UnavailableNodes:meridian-a) X=1",
			map[string]string{"Reason": "(ReqNodeNotAvail, UnavailableNodes:meridian-a)", "X": "1"}},
		{"", map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ParseKeyValues(tt.line)); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseKeyValues(f *testing.F) {
	f.Add("JobId=7 JobState=RUNNING Reason=None ExitCode=0:0 NodeList=meridian-a")
	f.Add("a==b =c d")
	f.Fuzz(func(t *testing.T, line string) {
		kv := ParseKeyValues(line)
		for k := range kv {
			if k == "" || strings.ContainsAny(k, " \t\n") {
				t.Fatalf("bad key %q", k)
			}
		}
		jobStatus(kv) // must not panic on any input
		parseExitCode(kv["ExitCode"])
	})
}

func TestJobStatus(t *testing.T) {
	tests := []struct {
		fields string
		want   backend.Status
	}{
		{"JobState=PENDING Reason=Resources", backend.Status{State: backend.Pending, Reason: "Resources"}},
		{"JobState=PENDING Reason=Priority", backend.Status{State: backend.Pending, Reason: "Priority"}},
		{"JobState=PENDING Reason=PartitionDown", backend.Status{State: backend.Lost, Reason: "pending: PartitionDown"}},
		{"JobState=PENDING Reason=BadConstraints", backend.Status{State: backend.Failed, Reason: "pending: BadConstraints"}},
		{"JobState=RUNNING Reason=None ExitCode=0:0", backend.Status{State: backend.Running}},
		{"JobState=COMPLETING Reason=None ExitCode=0:0", backend.Status{State: backend.Running}},
		{"JobState=COMPLETED Reason=None ExitCode=0:0", backend.Status{State: backend.Succeeded}},
		{"JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0", backend.Status{State: backend.Failed, ExitCode: 3, Reason: "failed NonZeroExitCode"}},
		{"JobState=FAILED Reason=RaisedSignal:9_Killed ExitCode=0:9", backend.Status{State: backend.Failed, ExitCode: 137, Reason: "failed RaisedSignal:9_Killed"}},
		{"JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15", backend.Status{State: backend.Failed, ExitCode: 143, Reason: "timeout TimeLimit"}},
		{"JobState=OUT_OF_MEMORY Reason=OutOfMemory ExitCode=0:125", backend.Status{State: backend.Failed, ExitCode: 253, Reason: "out_of_memory OutOfMemory"}},
		{"JobState=CANCELLED Reason=None ExitCode=0:15", backend.Status{State: backend.Cancelled, Reason: "cancelled"}},
		{"JobState=NODE_FAIL Reason=NodeDown ExitCode=0:15", backend.Status{State: backend.Lost, Reason: "node_fail NodeDown"}},
		{"JobState=PREEMPTED Reason=None", backend.Status{State: backend.Lost, Reason: "preempted"}},
		{"JobState=WEIRD", backend.Status{State: backend.Pending, Reason: `unknown Slurm state "WEIRD"`}},
	}
	for _, tt := range tests {
		t.Run(tt.fields, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, jobStatus(ParseKeyValues(tt.fields))); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestBatchScriptQuoting(t *testing.T) {
	s := batchScript(backend.Spec{RunID: "r1", Attempt: 2, Command: []string{"echo", "it's", "$HOME"},
		Env: map[string]string{"B": "2", "A": "x'y"}}, "/state/jobs/r1-2", "/work dir")
	for _, want := range []string{
		"cd '/work dir' || exit 1\n",
		"export A='x'\\''y'\nexport B='2'\n",
		"'echo' 'it'\\''s' '$HOME'\n",
		"mv -f '/state/jobs/r1-2'/.exitcode.tmp '/state/jobs/r1-2'/exitcode\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
}

func TestRESTJobStatus(t *testing.T) {
	tests := []struct {
		job  string
		want backend.Status
	}{
		{`{"job_state":"PENDING","state_reason":"Resources","exit_code":0}`, backend.Status{State: backend.Pending, Reason: "Resources"}},
		{`{"job_state":"RUNNING","state_reason":"None","exit_code":0}`, backend.Status{State: backend.Running}},
		{`{"job_state":"COMPLETED","state_reason":"None","exit_code":0}`, backend.Status{State: backend.Succeeded}},
		// slurmrestd reports a wait status: exit 3 is 3<<8.
		{`{"job_state":"FAILED","state_reason":"NonZeroExitCode","exit_code":768}`, backend.Status{State: backend.Failed, ExitCode: 3, Reason: "failed NonZeroExitCode"}},
		{`{"job_state":"FAILED","state_reason":"NonZeroExitCode","exit_code":32512}`, backend.Status{State: backend.Failed, ExitCode: 127, Reason: "failed NonZeroExitCode"}},
		{`{"job_state":"FAILED","state_reason":"RaisedSignal:9_Killed","exit_code":9}`, backend.Status{State: backend.Failed, ExitCode: 137, Reason: "failed RaisedSignal:9_Killed"}},
		{`{"job_state":"CANCELLED","state_reason":"None","exit_code":9}`, backend.Status{State: backend.Cancelled, Reason: "cancelled"}},
		{`{"job_state":"NODE_FAIL","state_reason":"NodeDown","exit_code":0}`, backend.Status{State: backend.Lost, Reason: "node_fail NodeDown"}},
		{`{"job_state":"PENDING","state_reason":"PartitionDown"}`, backend.Status{State: backend.Lost, Reason: "pending: PartitionDown"}},
		// Later API versions list the state's words.
		{`{"job_state":["COMPLETED"],"exit_code":0}`, backend.Status{State: backend.Succeeded}},
		// An exit code in a form this version does not know is not trusted.
		{`{"job_state":"FAILED","exit_code":{"status":["FAILED"],"return_code":{"number":3}}}`, backend.Status{State: backend.Failed, ExitCode: 1, Reason: "failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.job, func(t *testing.T) {
			j := decodeAPIJob(t, tt.job)
			code, sig := j.exitCode()
			if diff := cmp.Diff(tt.want, mapJobState(string(j.State), j.StateReason, code, sig)); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestGresRequest(t *testing.T) {
	tests := []struct {
		site, typ string
		n         int
		want      string
	}{
		{"", "", 0, ""},
		{"", "", 2, "gpu:2"},
		{"gpu:h100", "", 8, "gpu:h100:8"},
		{"gpu:h100", "h20", 1, "gpu:h20:1"},
		{"gpu", "h20", 1, "gpu:h20:1"},
		{"mps", "", 50, "mps:50"},
		{"gpu:h100", "", 0, ""},
	}
	for _, tt := range tests {
		if got := gresRequest(tt.site, tt.typ, tt.n); got != tt.want {
			t.Errorf("gresRequest(%q, %q, %d) = %q, want %q", tt.site, tt.typ, tt.n, got, tt.want)
		}
	}
	if got := siteGres("", "h100"); got != "gpu:h100" {
		t.Errorf("siteGres of gresType h100 = %q, want gpu:h100", got)
	}
}

// FuzzRESTJob decodes what slurmrestd says of a job: any answer decodes
// into a status or is refused, never a panic or an exit code out of range.
func FuzzRESTJob(f *testing.F) {
	f.Add([]byte(`{"job_id":7,"name":"meridian-r-1","job_state":"FAILED","state_reason":"NonZeroExitCode","exit_code":768,"nodes":"n1","job_resources":{"allocated_nodes":[{"nodename":"n1"}]}}`))
	f.Add([]byte(`{"job_state":["RUNNING","COMPLETING"],"exit_code":-1,"nodes":"n[1-4]"}`))
	f.Add([]byte(`{"job_state":7,"exit_code":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var j apiJob
		if json.Unmarshal(data, &j) != nil {
			return
		}
		code, sig := j.exitCode()
		if code < 0 || code > 255 || sig < 0 || sig > 127 {
			t.Fatalf("exit code %d, signal %d out of range", code, sig)
		}
		st := mapJobState(string(j.State), j.StateReason, code, sig)
		if st.State == "" || st.ExitCode < 0 || st.ExitCode > 255+128 {
			t.Fatalf("status %+v", st)
		}
		for _, n := range j.nodeNames() {
			if n == "" {
				t.Fatal("empty node name")
			}
		}
	})
}

// decodeAPIJob decodes a job as slurmrestd answers it.
func decodeAPIJob(t *testing.T, s string) apiJob {
	t.Helper()
	var j apiJob
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		t.Fatal(err)
	}
	return j
}
