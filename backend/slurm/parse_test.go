package slurm

import (
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
