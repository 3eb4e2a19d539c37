package kubernetes

import (
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// Anyone who may create Pods in the namespace can make one with every mark
// of an attempt's Job (its labels and controller reference) that ends at
// once: the Job controller counts it, ends the Job by it and kills the
// attempt's own pod. Status finds the attempt lost (completedWithout,
// failedWithout), but Logs read the ended copy's log as the attempt's
// output: the first log read, with no line naming its pod, where the
// attempt's own pod's log was gone with it. A Job whose end is not its
// own pods' has no output that can be told to be the attempt's, and Logs
// refuses it, as it does for extra live pods.
func TestLogsOfAJobEndedByAnotherPodAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cond      string
		copyPhase string
		want      string
	}{
		{"completed by a copy", jobComplete, podSucceeded, "its pod"},
		{"failed by a copy", jobFailed, podFailed, "2 pods of the Job were seen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := submitOnGPUNode(t, "8", gpuSpec(4), nil)
			f, b, ctx, name, uid := s.f, s.b, s.ctx, s.name, s.uid
			// The copy, made first and sorted first; the attempt's own
			// pod, killed by the Job controller once the copy ended it.
			forged := fakePod("aaa-copy", name, uid, "n1", tc.copyPhase)
			meta(forged)["creationTimestamp"] = "2026-01-01T00:00:00Z"
			f.put("pods", forged)
			own := fakePod(name+"-p", name, uid, "n1", podFailed)
			meta(own)["creationTimestamp"] = "2026-01-01T00:00:01Z"
			f.put("pods", own)
			eventually(t, "the cache did not take the pods", func() bool {
				j, ok := b.watch.job(name)
				return ok && len(b.watch.podsOf(j)) == 2
			})
			setJobConditions(f, name, map[string]any{"type": tc.cond, "status": "True"})
			eventually(t, "the cache did not take the Job's end", func() bool {
				j, ok := b.watch.job(name)
				return ok && b.jobFinished(j)
			})
			rc, _, err := b.openLogs(ctx, name)
			if rc != nil {
				rc.Close()
			}
			if err == nil || !strings.Contains(err.Error(), "not by its own pods alone") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Logs: err %v; want refused, the Job ended not by its own pods alone (%q)", err, tc.want)
			}
		})
	}
}

// A workload writes its pod's termination message, which a failed
// attempt's reason repeats: one that says what the backend's verdicts of
// pods not the attempt's say had Logs refuse the attempt's output as
// though the backend had found so (it matched the words in any end on
// record). Only a lost attempt's reason, which the backend words, is
// taken for its verdict: the failed attempt's output is read.
func TestLogsOfAFailedAttemptQuotingAVerdictAreRead(t *testing.T) {
	for _, words := range []string{extraPodsWhy, notOwnPodsWhy} {
		t.Run(words, func(t *testing.T) {
			s := submitOnGPUNode(t, "8", gpuSpec(4), nil)
			f, b, ctx, name, uid := s.f, s.b, s.ctx, s.name, s.uid
			pod := fakePod(name+"-p", name, uid, "n1", podFailed)
			pod["status"].(map[string]any)["containerStatuses"] = []any{map[string]any{"name": ContainerName,
				"state": map[string]any{"terminated": map[string]any{"exitCode": 1, "message": "the attempt's Job failed, but " + words}}}}
			f.put("pods", pod)
			eventually(t, "the cache did not take the pod", func() bool {
				j, ok := b.watch.job(name)
				return ok && len(b.watch.podsOf(j)) == 1
			})
			setJobConditions(f, name, map[string]any{"type": jobFailed, "status": "True", "reason": "BackoffLimitExceeded"})
			eventually(t, "the cache did not take the Job's end", func() bool {
				j, ok := b.watch.job(name)
				return ok && b.jobFinished(j)
			})
			st, err := b.Status(ctx, name)
			if err != nil || st.State != backend.Failed || !strings.Contains(st.Reason, words) {
				t.Fatalf("Status = %+v, %v; want Failed, quoting the workload's words", st, err)
			}
			if fin, ok := b.knownFinal(name); !ok || fin.State != backend.Failed {
				t.Fatalf("end on record %+v, %v; want Failed", fin, ok)
			}
			rc, _, err := b.openLogs(ctx, name)
			if err != nil {
				t.Fatalf("Logs: %v; want the failed attempt's output read", err)
			}
			rc.Close()
		})
	}
}
