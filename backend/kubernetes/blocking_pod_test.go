package kubernetes

import (
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// An attempt of three pods keeps them a node each by its Job's
// controller-uid label. Anyone who may read the Job can put its UID on a
// pod of their own, under another controller (so that the Job controller
// neither adopts nor counts it) and without the labels the watch cache
// follows: the attempt's pod that waits for a node would wait for good,
// the attempt reading Pending. While a pod of the attempt waits
// unschedulable, the pods carrying the label are listed, and one that is
// not the Job's makes the attempt lost, naming it.
func TestPodCarryingTheJobsUIDKeepingItsPodsOffANodeIsFound(t *testing.T) {
	for _, tc := range []struct {
		name    string
		blocker bool
		want    backend.State
	}{
		{"another's pod carries the Job's UID", true, backend.Lost},
		{"a pod waits for a node, none other", false, backend.Pending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := submitOnGPUNode(t, "8", gpuSpec(9), nil)
			f, b, ctx, name, uid := s.f, s.b, s.ctx, s.name, s.uid
			waiting := gpuPod(name+"-w", name, uid, "3")
			meta(waiting)["uid"] = "waiting-uid"
			delete(waiting["spec"].(map[string]any), "nodeName")
			waiting["status"] = map[string]any{"phase": "Pending", "conditions": []any{map[string]any{
				"type": podScheduled, "status": "False", "reason": "Unschedulable",
				"message": "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules."}}}
			f.putWithUID("pods", waiting)
			if tc.blocker {
				blocker := map[string]any{"apiVersion": "v1", "kind": "Pod",
					"metadata": map[string]any{"name": "blocker", "namespace": "ns", "uid": "blocker-uid",
						"labels": map[string]any{controllerUIDLabel: uid, LabelRun: "run-gpu", LabelAttempt: "1"},
						"ownerReferences": []any{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "name": "mine",
							"uid": "cm-uid", "controller": true}}},
					"spec":   map[string]any{"nodeName": "n1", "containers": []any{map[string]any{"name": "c", "image": "img"}}},
					"status": map[string]any{"phase": podRunning}}
				f.putWithUID("pods", blocker)
			}
			eventually(t, "the cache did not take the waiting pod", func() bool {
				j, ok := b.watch.job(name)
				return ok && len(b.watch.podsOf(j)) == 1
			})
			st, err := b.Status(ctx, name)
			if err != nil || st.State != tc.want || tc.want == backend.Lost && (!strings.Contains(st.Reason, "changed at the site") || !strings.Contains(st.Reason, "blocker")) {
				t.Fatalf("Status = %+v, %v; want %s", st, err, tc.want)
			}
		})
	}
}
