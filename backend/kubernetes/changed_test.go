package kubernetes

import (
	"strconv"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	"meridian.dev/meridian/backend"
)

// changeJob applies a merge patch to the Job name as someone who may
// update Jobs in the namespace can, telling the watchers.
func (f *fakeAPI) changeJob(name string, patch map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objs["jobs"][name]
	if !ok {
		f.t.Fatalf("no Job %s to change", name)
	}
	o = clone(o)
	applyMergePatch(o, patch)
	f.rv++
	meta(o)["resourceVersion"] = strconv.Itoa(f.rv)
	f.objs["jobs"][name] = o
	f.notify("jobs", "MODIFIED", o)
}

// An attempt placed as an Indexed Job of two pods, whose Job someone who
// may update Jobs in the namespace scales down to one pod (parallelism and
// completions together, as the API server lets them change an Indexed
// Job's), and which then completes with that one pod, did not run the
// attempt: it is Lost, not Succeeded. The same for retries and a deadline
// given to a Job Meridian submitted without either.
func TestStatusOfAJobChangedAtTheSite(t *testing.T) {
	for _, tc := range []struct {
		name   string
		patch  map[string]any
		status map[string]any
		want   string
	}{
		{"scaled down and complete", map[string]any{"spec": map[string]any{"parallelism": 1, "completions": 1}},
			map[string]any{"conditions": []any{map[string]any{"type": jobComplete, "status": "True"}}}, "parallelism 1, submitted with 2"},
		{"fewer running", map[string]any{"spec": map[string]any{"parallelism": 1}}, nil, "parallelism 1, submitted with 2"},
		{"retries", map[string]any{"spec": map[string]any{"backoffLimit": 6}}, nil, "given backoffLimit 6 at the site"},
		{"deadline", map[string]any{"spec": map[string]any{"activeDeadlineSeconds": 1}},
			map[string]any{"conditions": []any{map[string]any{"type": jobFailed, "status": "True", "reason": "DeadlineExceeded"}}},
			"deadline set at the site (activeDeadlineSeconds 1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := submitOnGPUNode(t, "1", backend.Spec{RunID: "run-two", Attempt: 1, Command: []string{"true"}, Accelerators: 2}, nil)
			f, b, ctx, name := s.f, s.b, s.ctx, s.name
			f.putPodOf(name, map[string]any{"phase": podRunning})
			waitPodsCached(t, b, name, 1, "the attempt's pod is not in the cache")
			if st, err := b.Status(ctx, name); err != nil || st.State != backend.Pending {
				t.Fatalf("Status with one of the two pods running = %+v, %v; want Pending", st, err)
			}
			patch := clone(tc.patch)
			if tc.status != nil {
				patch["status"] = tc.status
			}
			f.changeJob(name, patch)
			if tc.name == "retries" {
				// Its pod fails; the Job, not failed, would run it again.
				f.putPodOf(name, map[string]any{"phase": podFailed})
			}
			eventually(t, "the changed Job is not in the cache", func() bool {
				j, ok := b.watch.job(name)
				return ok && (changedAtSite(j) != "" || retriedOrTimedOut(j, b.watch.podsOf(j)) != "")
			})
			st, err := b.Status(ctx, name)
			if err != nil || st.State != backend.Lost || !strings.Contains(st.Reason, tc.want) {
				t.Fatalf("Status of the changed Job = %+v, %v; want Lost naming %q", st, err, tc.want)
			}
		})
	}
}

// Someone who may update Jobs in the namespace raises the attempt's Job's
// parallelism and runs a pod of their own that copies its label, name and
// owner reference: what the Job's pods add back to the site's free GPUs
// stays what Submit placed (none, now that the Job is not what it
// submitted), so the copier's GPUs are not reported free.
func TestCapacityOwnPodsIgnoreARaisedParallelism(t *testing.T) {
	s := submitOnGPUNode(t, "8", gpuSpec(4), nil)
	f, b, ctx, name, uid := s.f, s.b, s.ctx, s.name, s.uid
	f.put("pods", gpuPod(name+"-p", name, uid, "4"))
	f.put("pods", gpuPod("spoof-p", name, uid, "4"))
	f.changeJob(name, map[string]any{"spec": map[string]any{"parallelism": 2}})
	eventually(t, "the changed Job is not in the cache", func() bool {
		j, ok := b.watch.job(name)
		return ok && ptr.Deref(j.Spec.Parallelism, 0) == 2
	})
	got, err := b.Capacity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 8 GPUs, all held; the spoof's 4 are not free whatever the Job's
	// parallelism says.
	if got[backend.SiteAccelerator] > 4 {
		t.Fatalf("Capacity = %v; want at most 4: the copier's GPUs are not free", got)
	}
}

// Someone who may update Jobs in the namespace suspends the attempt's Job,
// raises its container's GPU request (the API server lets a suspended
// Job's container resources change) and resumes it: its pod now holds 8
// GPUs of which Submit asked 2. What it adds back to the site's free GPUs
// stays what Submit asked, which the template's environment (immutable)
// keeps, so the 6 more are not reported free.
func TestCapacityOwnPodsIgnoreARaisedRequest(t *testing.T) {
	s := submitOnGPUNode(t, "8", gpuSpec(2), nil)
	f, b, ctx, name, uid := s.f, s.b, s.ctx, s.name, s.uid
	job, _ := f.get("jobs", name)
	tmpl := clone(job["spec"].(map[string]any)["template"].(map[string]any))
	c := tmpl["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	c["resources"] = map[string]any{"limits": map[string]any{DefaultGPUResource: "8"},
		"requests": map[string]any{DefaultGPUResource: "8"}}
	f.changeJob(name, map[string]any{"spec": map[string]any{"template": tmpl}})
	f.put("pods", gpuPod(name+"-p", name, uid, "8"))
	eventually(t, "the changed Job and its pod are not in the cache", func() bool {
		j, ok := b.watch.job(name)
		if !ok || len(b.watch.podsOf(j)) != 1 {
			return false
		}
		n, err := specRequest(&j.Spec.Template.Spec, DefaultGPUResource)
		return err == nil && n == 8
	})
	got, err := b.Capacity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got[backend.SiteAccelerator] > 2 {
		t.Fatalf("Capacity = %v; want at most 2: the 6 GPUs Submit did not ask for are not free", got)
	}
}

// A cluster whose admission policy gives every Job a deadline and retries
// when it is created runs the attempt as placed: such a Job is not lost
// for having them (every attempt at such a site was, at its first poll),
// only once they act (TestStatusOfAJobChangedAtTheSite).
func TestSiteDefaultsThatDoNotActAreNoChange(t *testing.T) {
	s := submitOnGPUNode(t, "1", backend.Spec{RunID: "run-defaults", Attempt: 1, Command: []string{"true"}, Accelerators: 1}, nil)
	f, b, ctx, name := s.f, s.b, s.ctx, s.name
	f.changeJob(name, map[string]any{"spec": map[string]any{"backoffLimit": 6, "activeDeadlineSeconds": 86400}})
	f.putPodOf(name, map[string]any{"phase": podRunning})
	eventually(t, "the Job's defaults and pod are not in the cache", func() bool {
		j, ok := b.watch.job(name)
		return ok && j.Spec.ActiveDeadlineSeconds != nil && len(b.watch.podsOf(j)) == 1
	})
	if st, err := b.Status(ctx, name); err != nil || st.State != backend.Running {
		t.Fatalf("Status of a running Job with the site's defaults = %+v, %v; want Running", st, err)
	}
}

// An attempt's pod that requests more of the site's GPU resource than
// Submit asked of each (its Job's container resources raised while it was
// suspended, as the API server lets them be, and the Job resumed) holds
// GPUs the attempt was not placed with: Status says the attempt's Job was
// changed at the site, as for a changed parallelism. A pod given more of
// other resources, or another container that asks for no GPU (what a
// site's admission policy may add to every pod), runs the attempt as
// placed; so does one that asks what Submit asked.
func TestStatusOfAPodGivenMoreGPUs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		request map[string]any // of Meridian's container
		extra   []any          // containers added
		want    string         // in the reason; "" for still Running
	}{
		{"as submitted", map[string]any{DefaultGPUResource: "2"}, nil, ""},
		{"more of other resources", map[string]any{DefaultGPUResource: "2", "cpu": "64", "memory": "512Gi", "example.com/rdma": "4"},
			[]any{map[string]any{"name": "istio-proxy", "image": "proxy", "resources": map[string]any{"requests": map[string]any{"cpu": "1"}}}}, ""},
		{"more GPUs", map[string]any{DefaultGPUResource: "8"}, nil, "requests 8 nvidia.com/gpu, submitted with 2 each"},
		{"a GPU container added", map[string]any{DefaultGPUResource: "2"},
			[]any{map[string]any{"name": "added", "image": "x", "resources": map[string]any{"limits": map[string]any{DefaultGPUResource: "1"}}}},
			"requests 3 nvidia.com/gpu"},
		{"more GPUs than any node has", map[string]any{DefaultGPUResource: "9Ei"}, nil, "requests more than 65536"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := submitOnGPUNode(t, "8", gpuSpec(2), nil)
			f, b, ctx, name, uid := s.f, s.b, s.ctx, s.name, s.uid
			p := gpuPod(name+"-p", name, uid, "2")
			spec := p["spec"].(map[string]any)
			spec["containers"].([]any)[0].(map[string]any)["resources"] = map[string]any{"requests": tc.request, "limits": tc.request}
			spec["containers"] = append(spec["containers"].([]any), tc.extra...)
			f.put("pods", p)
			waitPodsCached(t, b, name, 1, "the attempt's pod is not in the cache")
			st, err := b.Status(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if st.State != backend.Running {
					t.Fatalf("Status = %+v; want Running", st)
				}
				return
			}
			if st.State != backend.Lost || !strings.Contains(st.Reason, "changed at the site") || !strings.Contains(st.Reason, tc.want) {
				t.Fatalf("Status = %+v; want Lost, the Job changed at the site (%q)", st, tc.want)
			}
		})
	}
}

// The attempt's Job's template raised to more GPUs a pod than Submit
// asked (while suspended) is the attempt changed at the site before any
// pod is made of it.
func TestStatusOfAJobTemplateGivenMoreGPUs(t *testing.T) {
	s := submitOnGPUNode(t, "8", gpuSpec(2), nil)
	f, b, ctx, name := s.f, s.b, s.ctx, s.name
	job, _ := f.get("jobs", name)
	tmpl := clone(job["spec"].(map[string]any)["template"].(map[string]any))
	c := tmpl["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	c["resources"] = map[string]any{"limits": map[string]any{DefaultGPUResource: "4"}, "requests": map[string]any{DefaultGPUResource: "4"}}
	f.changeJob(name, map[string]any{"spec": map[string]any{"template": tmpl}})
	eventually(t, "the changed Job is not in the cache", func() bool {
		j, ok := b.watch.job(name)
		n, err := specRequest(&j.Spec.Template.Spec, DefaultGPUResource)
		return ok && err == nil && n == 4
	})
	st, err := b.Status(ctx, name)
	if err != nil || st.State != backend.Lost || !strings.Contains(st.Reason, "its pods request 4 nvidia.com/gpu each, submitted with 2") {
		t.Fatalf("Status = %+v, %v; want Lost, the Job changed at the site", st, err)
	}
}
