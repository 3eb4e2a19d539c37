package slurm

import (
	"encoding/json"
	"runtime"
	"strconv"
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
		// A key again is a word of the value before it (free text).
		{"NodeName=n1 State=DOWN+DRAIN Reason=saw State=IDLE x",
			map[string]string{"NodeName": "n1", "State": "DOWN+DRAIN", "Reason": "saw State=IDLE x"}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ParseKeyValues(tt.line)); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

// manyWords is a line of `scontrol show node -o` whose node's reason, free
// text that a health check may fill with what a job printed, has n words.
func manyWords(n int) string {
	return "NodeName=n1 State=IDLE Reason=" + strings.Repeat("a ", n) + "State=DOWN"
}

// TestParseKeyValuesCostsTheLine: each word of a value was appended to the
// value so far, copying it, so a reason of n words cost n²/2 bytes: a
// gigabyte for a 64 KiB reason, and terabytes for one of a client's whole
// output (maxCommandOutput), at every poll of the node. It now costs a
// bound of the line's size.
func TestParseKeyValuesCostsTheLine(t *testing.T) {
	line := manyWords(32 << 10)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	kv := ParseKeyValues(line)
	runtime.ReadMemStats(&after)
	if built := after.TotalAlloc - before.TotalAlloc; built > 16*uint64(len(line)) {
		t.Errorf("ParseKeyValues allocated %d bytes for a line of %d", built, len(line))
	}
	if kv["State"] != "IDLE" || kv["NodeName"] != "n1" || kv["Reason"] != strings.Repeat("a ", 32<<10)+"State=DOWN" {
		t.Errorf("State %q, NodeName %q, Reason of %d bytes", kv["State"], kv["NodeName"], len(kv["Reason"]))
	}
}

func BenchmarkParseKeyValuesLongReason(b *testing.B) {
	line := manyWords(32 << 10)
	b.ReportAllocs()
	for range b.N {
		ParseKeyValues(line)
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
	})
}

// squeueLine is a job as squeue prints the columns Status asks for
// (squeueArgs), as Slurm 22.05's squeue printed them for jobs of the test
// cluster.
func squeueLine(id, state string, exitStatus int, start, end, nodes, reason, stdout string) string {
	return strings.Join([]string{id, state, strconv.Itoa(exitStatus), start, end, nodes, reason, stdout, "/state/jobs/r1-1/job.sh", "1000"}, columnSep) + columnSep + "\n"
}

func TestJobStatus(t *testing.T) {
	tests := []struct {
		state, reason string
		exitStatus    int // the batch script's wait status
		want          backend.Status
	}{
		{"PENDING", "Resources", 0, backend.Status{State: backend.Pending, Reason: "Resources"}},
		{"PENDING", "Priority", 0, backend.Status{State: backend.Pending, Reason: "Priority"}},
		{"PENDING", "PartitionDown", 0, backend.Status{State: backend.Lost, Reason: "pending: PartitionDown"}},
		{"PENDING", "BadConstraints", 0, backend.Status{State: backend.Failed, Reason: "pending: BadConstraints"}},
		{"RUNNING", "None", 0, backend.Status{State: backend.Running}},
		{"COMPLETING", "None", 0, backend.Status{State: backend.Running}},
		{"COMPLETED", "None", 0, backend.Status{State: backend.Succeeded}},
		{"FAILED", "NonZeroExitCode", 3 << 8, backend.Status{State: backend.Failed, ExitCode: 3, Reason: "failed NonZeroExitCode"}},
		{"FAILED", "RaisedSignal:9_Killed", 9, backend.Status{State: backend.Failed, ExitCode: 137, Reason: "failed RaisedSignal:9_Killed"}},
		{"TIMEOUT", "TimeLimit", 15, backend.Status{State: backend.Failed, ExitCode: 143, Reason: "timeout TimeLimit"}},
		{"OUT_OF_MEMORY", "OutOfMemory", 125, backend.Status{State: backend.Failed, ExitCode: 253, Reason: "out_of_memory OutOfMemory"}},
		{"CANCELLED", "None", 15, backend.Status{State: backend.Cancelled, Reason: "cancelled"}},
		{"NODE_FAIL", "NodeDown", 15, backend.Status{State: backend.Lost, Reason: "node_fail NodeDown"}},
		{"PREEMPTED", "None", 0, backend.Status{State: backend.Lost, Reason: "preempted"}},
		{"WEIRD", "None", 0, backend.Status{State: backend.Pending, Reason: `unknown Slurm state "WEIRD"`}},
	}
	for _, tt := range tests {
		t.Run(tt.state+" "+tt.reason, func(t *testing.T) {
			job, err := parseSqueueJob(squeueLine("7", tt.state, tt.exitStatus, "N/A", "N/A", "", tt.reason, "/state/jobs/r1-1/output.log"), "7")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, job.status()); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseSqueueJob: the job's own line is read, column by column; output
// that does not have the columns asked for (a squeue that knows one of
// them not, and prints it empty) is refused with an error naming it.
func TestParseSqueueJob(t *testing.T) {
	running := squeueLine("42", "RUNNING", 0, "2026-12-04T19:43:15", "NONE", "meridian-c", "None", "/state/jobs/r 1-1/output.log")
	job, err := parseSqueueJob("\n"+running, "42")
	if err != nil {
		t.Fatal(err)
	}
	if job.State != "RUNNING" || job.NodeList != "meridian-c" || job.StdOut != "/state/jobs/r 1-1/output.log" || job.Start.IsZero() || !job.End.IsZero() {
		t.Fatalf("parsed %+v", job)
	}
	for _, tt := range []struct{ out, want string }{
		{"", "no line for job 42"},
		{"41\x1fCOMPLETED\x1f0\x1f\x1f\x1f\x1f\x1f\x1f\n" + running, "not the job's own"},
		{running + running, "2 lines"},
		{strings.Replace(running, "\x1f0\x1f", "\x1f\x1f", 1), "exit_code"},
		{strings.Replace(running, "RUNNING", "running now", 1), "State"},
		{strings.Replace(running, "None", "None\x1fextra", 1), "11 columns"},
		{strings.TrimSuffix(running, "\x1f\n"), "9 columns"},
	} {
		if _, err := parseSqueueJob(tt.out, "42"); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseSqueueJob(%q) = %v, want an error with %q", tt.out, err, tt.want)
		}
	}
}

// FuzzParseSqueueJob: any output parses into a job that maps to a status,
// or is refused; never a panic, and a job read is always the one asked
// for, in a state of Slurm's form.
func FuzzParseSqueueJob(f *testing.F) {
	f.Add(squeueLine("42", "RUNNING", 0, "2026-12-04T19:43:15", "NONE", "meridian-c", "None", "/s/jobs/r-1/output.log"), "42")
	f.Add(squeueLine("2", "FAILED", 768, "2026-12-04T19:43:15", "2026-12-04T19:43:15", "meridian-c", "NonZeroExitCode", "/tmp/o.log"), "2")
	f.Add(squeueLine("3", "PENDING", 0, "N/A", "N/A", "", "JobHeldUser", "/tmp/o3.log")+"x\x1fy\n", "3")
	f.Fuzz(func(t *testing.T, out, handle string) {
		job, err := parseSqueueJob(out, handle)
		if err != nil {
			return
		}
		if job.ID != handle || !isSlurmState(job.State) || strings.Contains(job.StdOut, columnSep) {
			t.Fatalf("parsed %+v from %q", job, out)
		}
		st := job.status()
		if st.State == "" || st.ExitCode < 0 || st.ExitCode > 255+128 {
			t.Fatalf("status %+v", st)
		}
	})
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
