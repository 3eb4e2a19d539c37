package kubernetes

import (
	"context"
	"testing"

	"meridian.dev/meridian/backend"
)

// gpuPod is a running pod on n1 in namespace ns, with Meridian's label,
// named as Job job's and owned by jobUID, that holds n GPUs.
func gpuPod(name, job, jobUID string, n string) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": "ns",
			"labels":          map[string]any{LabelManagedBy: managedBy, controllerUIDLabel: jobUID, jobNameLabel: job},
			"ownerReferences": []any{map[string]any{"apiVersion": "batch/v1", "kind": "Job", "name": job, "uid": jobUID, "controller": true}}},
		"spec": map[string]any{"nodeName": "n1", "containers": []any{map[string]any{"name": ContainerName, "image": "img",
			"resources": map[string]any{"requests": map[string]any{DefaultGPUResource: n}, "limits": map[string]any{DefaultGPUResource: n}}}}},
		"status": map[string]any{"phase": podRunning}}
}

// gpuSite is a backend on the fake API whose node n1 has GPUs to
// allocate, with one attempt submitted: its Job's name and UID.
type gpuSite struct {
	f         *fakeAPI
	b         *Backend
	ctx       context.Context
	name, uid string
}

// submitOnGPUNode gives n1 of a fake API gpus GPUs to allocate, lets
// nodes (if not nil) change the fake's nodes before the backend starts,
// and submits spec.
func submitOnGPUNode(t *testing.T, gpus string, spec backend.Spec, nodes func(*fakeAPI)) gpuSite {
	t.Helper()
	f := newFakeAPI(t)
	f.objs["nodes"]["n1"]["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: gpus}
	if nodes != nil {
		nodes(f)
	}
	b := f.start(t)
	ctx := testContext(t)
	name, err := b.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	job, _ := f.get("jobs", name)
	return gpuSite{f: f, b: b, ctx: ctx, name: name, uid: meta(job)["uid"].(string)}
}

// gpuSpec is an attempt of run-gpu asking n GPUs.
func gpuSpec(n int) backend.Spec {
	return backend.Spec{RunID: "run-gpu", Attempt: 1, Command: []string{"true"}, Accelerators: n}
}

// Capacity counts the GPUs that Meridian's own pods hold as the site's:
// only those of the pods of its attempts' Jobs (by the UID on record), not
// of any pod that carries its label, which anyone who may write Pods in the
// namespace can give one, to have GPUs it holds reported free.
func TestCapacityCountsOnlyItsOwnPods(t *testing.T) {
	s := submitOnGPUNode(t, "8", gpuSpec(4), nil)
	f, b, ctx, name := s.f, s.b, s.ctx, s.name
	f.put("pods", gpuPod(name+"-p", name, s.uid, "4"))
	// Labelled as Meridian's, named as its Job, owned by another Job.
	f.put("pods", gpuPod("other-p", name, "someone-elses-job-uid", "4"))
	got, err := b.Capacity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 8 GPUs, all held: 4 by the attempt's pod (Meridian's to place
	// again), 4 by another's.
	if got[backend.SiteAccelerator] != 4 {
		t.Errorf("Capacity = %v; want 4: the attempt's pod's GPUs, not the other pod's", got)
	}
}

// A pod's owner reference is anyone's to write, and a Job's UID anyone's
// to read who may read Jobs: a pod with Meridian's label, named as its
// Job's and owned by that Job's UID, copied, is taken for one of the Job's
// pods. What all of them add back, over every node of the poll (counted at
// once), is what the Job asks: its parallelism times what its template
// requests, here one pod of 4.
func TestCapacityOwnPodsAddBackNoMoreThanTheirJobAsks(t *testing.T) {
	s := submitOnGPUNode(t, "8", gpuSpec(4), func(f *fakeAPI) {
		n2 := clone(f.objs["nodes"]["n1"])
		meta(n2)["name"], meta(n2)["uid"] = "n2", "node2-uid"
		f.objs["nodes"]["n2"] = n2
	})
	f, b, ctx, name, uid := s.f, s.b, s.ctx, s.name, s.uid
	eventually(t, "the watch cache did not take the attempt's Job", func() bool {
		j, ok := b.watch.job(name)
		return ok && string(j.UID) == uid
	})
	f.put("pods", gpuPod(name+"-p", name, uid, "4"))
	got, err := b.Capacity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 16 GPUs; the attempt's pod holds 4, Meridian's to place again.
	if got[backend.SiteAccelerator] != 16 {
		t.Fatalf("Capacity with the attempt's pod alone = %v; want 16", got)
	}
	// Another's pod on n2 that copies the label, the name and the UID.
	spoof := gpuPod("spoof-p", name, uid, "4")
	spoof["spec"].(map[string]any)["nodeName"] = "n2"
	f.put("pods", spoof)
	for range 3 { // the nodes are counted at once, in no set order
		got, err = b.Capacity(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// 16 GPUs, 8 held: 4 by the attempt's pod, 4 by another's.
		if got[backend.SiteAccelerator] != 12 {
			t.Fatalf("Capacity = %v; want 12: the copier's 4 GPUs are not free, whatever its owner reference says", got)
		}
	}
}

// A pod labelled as Meridian's and named as the attempt's Job's that names
// the Job's UID in an owner reference that is not the controller's, or
// without the controller-uid label, is not one the Job controller counts:
// its GPUs are not added back as the attempt's.
func TestCapacityAddsBackOnlyPodsTheJobControls(t *testing.T) {
	s := submitOnGPUNode(t, "8", gpuSpec(4), nil)
	f, b, ctx, name, uid := s.f, s.b, s.ctx, s.name, s.uid
	notController := gpuPod("other-a", name, uid, "4")
	delete(meta(notController)["ownerReferences"].([]any)[0].(map[string]any), "controller")
	noLabel := gpuPod("other-b", name, uid, "4")
	delete(meta(noLabel)["labels"].(map[string]any), controllerUIDLabel)
	f.put("pods", notController)
	f.put("pods", noLabel)
	got, err := b.Capacity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 8 GPUs, all held by pods that are not the attempt's.
	if got[backend.SiteAccelerator] != 0 {
		t.Errorf("Capacity = %v; want 0: no pod the Job controls holds any", got)
	}
}
