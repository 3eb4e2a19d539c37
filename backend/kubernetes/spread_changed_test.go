package kubernetes

import (
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// An attempt of 9 GPUs on nodes of 8 is an Indexed Job of three pods kept
// one to a node by a required pod anti-affinity (jobFor). Someone who may
// update a suspended Job can change its template's labels (and, should an
// API server let them, its pod affinities): relabelling the pods so the
// term matches none of them, or replacing or narrowing the term, lets the
// pods share a node while the workload is told it has three, so Status
// says the Job was changed at the site. What a
// queue's admission (Kueue) adds to the same fields (a node selector,
// tolerations, labels, node affinity, more terms) runs the attempt as
// placed.
func TestStatusOfAJobWhosePodsMayShareANode(t *testing.T) {
	own := func(tmpl map[string]any) map[string]any {
		return tmpl["spec"].(map[string]any)["affinity"].(map[string]any)["podAntiAffinity"].(map[string]any)["requiredDuringSchedulingIgnoredDuringExecution"].([]any)[0].(map[string]any)
	}
	zone := map[string]any{"topologyKey": "topology.kubernetes.io/zone",
		"labelSelector": map[string]any{"matchLabels": map[string]any{"team": "x"}}}
	for _, tc := range []struct {
		name   string
		change func(tmpl map[string]any)
		want   string // in the reason; "" for not changed
	}{
		{"as submitted", func(map[string]any) {}, ""},
		{"admitted by a queue", func(tmpl map[string]any) {
			tmpl["metadata"].(map[string]any)["labels"].(map[string]any)["kueue.x-k8s.io/podset"] = "main"
			spec := tmpl["spec"].(map[string]any)
			spec["nodeSelector"] = map[string]any{"cloud.example/flavor": "a100"}
			spec["tolerations"] = []any{map[string]any{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}}
			a := spec["affinity"].(map[string]any)
			a["nodeAffinity"] = map[string]any{"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{
				"nodeSelectorTerms": []any{map[string]any{"matchExpressions": []any{
					map[string]any{"key": "pool", "operator": "In", "values": []any{"gpu"}}}}}}}
			pa := a["podAntiAffinity"].(map[string]any)
			req := pa["requiredDuringSchedulingIgnoredDuringExecution"].([]any)
			pa["requiredDuringSchedulingIgnoredDuringExecution"] = append([]any{zone}, req...)
		}, ""},
		// No term at all is a Job from before attempts had one (an API
		// server refuses the change that would drop it), and a term
		// without its matchLabelKeys one from before the key, or stored
		// by an API server that dropped it: neither is trusted to keep
		// the attempt's pods apart from others' (unkeptSpread).
		{"from before the term", func(tmpl map[string]any) {
			tmpl["spec"].(map[string]any)["affinity"] = nil // a merge patch's removal
		}, "lacks " + spreadFieldPath},
		{"from before the key", func(tmpl map[string]any) {
			delete(own(tmpl), "matchLabelKeys")
		}, "lacks " + spreadFieldPath},
		{"replaced by another term", func(tmpl map[string]any) {
			tmpl["spec"].(map[string]any)["affinity"].(map[string]any)["podAntiAffinity"].(map[string]any)["requiredDuringSchedulingIgnoredDuringExecution"] = []any{zone}
		}, "no longer have a node each"},
		{"made preferred beside another term", func(tmpl map[string]any) {
			pa := tmpl["spec"].(map[string]any)["affinity"].(map[string]any)["podAntiAffinity"].(map[string]any)
			pa["preferredDuringSchedulingIgnoredDuringExecution"] = []any{map[string]any{"weight": 100, "podAffinityTerm": own(tmpl)}}
			pa["requiredDuringSchedulingIgnoredDuringExecution"] = []any{zone}
		}, "no longer have a node each"},
		{"by zone", func(tmpl map[string]any) { own(tmpl)["topologyKey"] = "topology.kubernetes.io/zone" }, "no longer have a node each"},
		{"in another namespace", func(tmpl map[string]any) { own(tmpl)["namespaces"] = []any{"elsewhere"} }, "no longer have a node each"},
		{"by namespace label", func(tmpl map[string]any) {
			own(tmpl)["namespaceSelector"] = map[string]any{"matchLabels": map[string]any{"x": "y"}}
		}, "no longer have a node each"},
		{"narrowed by expression", func(tmpl map[string]any) {
			own(tmpl)["labelSelector"].(map[string]any)["matchExpressions"] = []any{
				map[string]any{"key": "nobody", "operator": "Exists"}}
		}, "no longer have a node each"},
		{"narrowed by label", func(tmpl map[string]any) {
			own(tmpl)["labelSelector"].(map[string]any)["matchLabels"].(map[string]any)["nobody"] = "x"
		}, "no longer have a node each"},
		{"narrowed by mismatch key", func(tmpl map[string]any) {
			own(tmpl)["mismatchLabelKeys"] = []any{"batch.kubernetes.io/job-completion-index"}
		}, "no longer have a node each"},
		{"pods relabelled", func(tmpl map[string]any) {
			tmpl["metadata"].(map[string]any)["labels"].(map[string]any)[LabelAttempt] = "7"
		}, LabelAttempt + `="7", submitted with "1"`},
		{"pods and term relabelled", func(tmpl map[string]any) {
			tmpl["metadata"].(map[string]any)["labels"].(map[string]any)[LabelRun] = "other"
			own(tmpl)["labelSelector"].(map[string]any)["matchLabels"].(map[string]any)[LabelRun] = "other"
		}, LabelRun + `="other"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := submitOnGPUNode(t, "8", gpuSpec(9), nil)
			f, b, ctx, name := s.f, s.b, s.ctx, s.name
			job, _ := f.get("jobs", name)
			tmpl := clone(job["spec"].(map[string]any)["template"].(map[string]any))
			tc.change(tmpl)
			f.changeJob(name, map[string]any{"spec": map[string]any{"template": tmpl}})
			changed, _ := f.get("jobs", name)
			rv := meta(changed)["resourceVersion"]
			eventually(t, "the changed Job is not in the cache", func() bool {
				j, ok := b.watch.job(name)
				return ok && j.ResourceVersion == rv
			})
			st, err := b.Status(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if st.State != backend.Pending {
					t.Fatalf("Status = %+v; want Pending", st)
				}
				return
			}
			why := "changed at the site"
			if strings.HasPrefix(tc.want, "lacks ") {
				why = "not run as the attempt"
			}
			if st.State != backend.Lost || !strings.Contains(st.Reason, why) || !strings.Contains(st.Reason, tc.want) {
				t.Fatalf("Status = %+v; want Lost, %s (%q)", st, why, tc.want)
			}
		})
	}
}
