package kubernetes

import (
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// Pods that name the attempt's Job's UID in an owner reference or a
// controller-uid label, as anyone who may create pods in the namespace can
// write, but not as the Job controller gives its pods both: one whose
// reference to the Job is not the controller's, one whose controller
// reference names the UID under another kind, one without the
// controller-uid label the Job's selector matches. Status does not take
// them for the attempt's pods (it does not read it running by them) and
// says the attempt's pods were changed at the site, naming one.
func TestPodsTheJobControllerDoesNotCountAreNotTheAttempts(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	ctx := testContext(t)
	spec := backend.Spec{RunID: "run-owned", Attempt: 1, Command: []string{"true"}}
	name, err := b.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	job, _ := f.get("jobs", name)
	uid := meta(job)["uid"].(string)

	notController := fakePod("forged-a", name, uid, "n1", podRunning)
	delete(meta(notController)["ownerReferences"].([]any)[0].(map[string]any), "controller")
	otherKind := fakePod("forged-b", name, uid, "n1", podRunning)
	meta(otherKind)["ownerReferences"].([]any)[0].(map[string]any)["kind"] = "ReplicaSet"
	meta(otherKind)["ownerReferences"] = append(meta(otherKind)["ownerReferences"].([]any),
		map[string]any{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid})
	noLabel := fakePod("forged-c", name, uid, "n1", podRunning)
	delete(meta(noLabel)["labels"].(map[string]any), controllerUIDLabel)
	for _, p := range []map[string]any{notController, otherKind, noLabel} {
		f.put("pods", p)
	}
	eventually(t, "the forged pods are not in the cache", func() bool {
		objs, err := b.watch.pods.GetIndexer().ByIndex(podsByJob, name)
		return err == nil && len(objs) == 3
	})
	st, err := b.Status(ctx, name)
	if err != nil || st.State != backend.Lost || !strings.Contains(st.Reason, "changed at the site") || !strings.Contains(st.Reason, "\"forged-") {
		t.Fatalf("Status with only pods the Job controller does not count = %+v, %v; want Lost, a forged pod named", st, err)
	}
}
