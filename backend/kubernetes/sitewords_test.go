package kubernetes

import (
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/internal/textsafe"
)

// hostileWords are what a workload may write to its container's
// termination message (/dev/termination-log, which the kubelet puts in
// the pod's status as written) and what a hostile API server may put in
// any condition's message or a node's name: a terminal escape, a line
// break that forges a log line, a C1 control, bidirectional overrides and
// isolates, and the line and paragraph separators.
var hostileWords = []string{
	"clear\x1b[2J\x1b]0;owned\x07",
	"line\nlevel=INFO msg=\"run state\" to=Succeeded",
	"c1\u0085next\u009bline",
	"user \u202eeman\u202c admin",
	"iso\u2066late\u2069d",
	"sep\u2028ara\u2029tor",
}

// TestWorkloadsWordsInStatusAreSafe: a pod's termination message is the
// workload's to write, and the Job's and pods' conditions are the site's;
// each reached the attempt's status reason as sent, which the run keeps as
// its reason, shows to whoever reads the run and writes to the server's
// log and the audit log. Every character textsafe flags is now a space.
func TestWorkloadsWordsInStatusAreSafe(t *testing.T) {
	for _, w := range hostileWords {
		t.Run(strings.ToValidUTF8(w, "?"), func(t *testing.T) {
			f := newFakeAPI(t)
			f.objs["nodes"]["n1"]["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "8"}
			b := f.startIn(t, t.TempDir())
			ctx := testContext(t)
			name, err := b.Submit(ctx, gpuSpec(4))
			if err != nil {
				t.Fatal(err)
			}
			job, _ := f.get("jobs", name)
			uid := meta(job)["uid"].(string)
			pod := endedPod(name+"-real", "pod-uid-0", name, uid, "", 3, false)
			pod["status"].(map[string]any)["containerStatuses"] = []any{map[string]any{"name": ContainerName,
				"state": map[string]any{"terminated": map[string]any{"exitCode": 3, "reason": "Error", "message": w}}}}
			f.putWithUID("pods", pod)
			eventually(t, "the cache did not take the pod", func() bool {
				j, ok := b.watch.job(name)
				return ok && len(b.watch.podsOf(j)) == 1
			})
			f.changeJob(name, map[string]any{"status": map[string]any{"failed": 1,
				"conditions": []any{map[string]any{"type": jobFailed, "status": "True", "reason": "BackoffLimitExceeded", "message": w}}}})
			eventually(t, "the cache did not take the Job's end", func() bool {
				j, ok := b.watch.job(name)
				return ok && b.jobFinished(j)
			})
			st, err := b.Status(ctx, name)
			if err != nil || st.State != backend.Failed || st.ExitCode != 3 {
				t.Fatalf("Status = %+v, %v; want Failed with exit code 3", st, err)
			}
			if !textsafe.Safe(st.Reason) {
				t.Errorf("reason %q holds what textsafe flags", st.Reason)
			}
			if !strings.HasPrefix(st.Reason, "exit code 3: ") {
				t.Errorf("reason %q; want the exit code and the message", st.Reason)
			}
		})
	}
	if got := siteWords(" a\x1b[2Jb\u202ec\u200bd\xff "); got != "a [2Jb c d\ufffd" {
		t.Errorf("siteWords = %q; want the flagged characters as spaces, the rest as sent", got)
	}
}
