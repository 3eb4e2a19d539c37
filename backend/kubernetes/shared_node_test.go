package kubernetes

import (
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// The attempt's pods are kept one to a node by their template's
// anti-affinity, which matches them by their labels; anyone who may update
// Pods can relabel a running pod of the attempt out of it, and a sibling
// scheduled after that may share its node while the workload is told it
// has a node each. What the pods were given is judged: two live pods of
// the attempt's Job (by its controller reference, not by the labels that
// were changed) on one node make the attempt lost, as a spread changed in
// the template does. Pods that ended, pods not yet placed and pods that
// merely carry the Job's name hold no node of the attempt's.
func TestStatusOfAnAttemptWhosePodsShareANode(t *testing.T) {
	for _, tc := range []struct {
		name string
		pods func(name, uid string) []map[string]any
		want string // in the reason; "" for not lost
		old  bool   // a Job from before attempts had the term
	}{
		{"a node each", func(name, uid string) []map[string]any {
			return []map[string]any{fakePod("p0", name, uid, "n1", podRunning), fakePod("p1", name, uid, "n2", podRunning),
				fakePod("p2", name, uid, "n3", podRunning)}
		}, "", false},
		{"two on one node, one relabelled", func(name, uid string) []map[string]any {
			p0 := fakePod("p0", name, uid, "n1", podRunning)
			meta(p0)["labels"].(map[string]any)[LabelAttempt] = "moved"
			return []map[string]any{p0, fakePod("p1", name, uid, "n1", podRunning), fakePod("p2", name, uid, "n2", podRunning)}
		}, "p0 and p1 share node n1", false},
		{"one starting beside a running one", func(name, uid string) []map[string]any {
			return []map[string]any{fakePod("p0", name, uid, "n1", podRunning), fakePod("p1", name, uid, "n2", podRunning),
				fakePod("p2", name, uid, "n2", podPending)}
		}, "p1 and p2 share node n2", false},
		{"one ended on the node", func(name, uid string) []map[string]any {
			return []map[string]any{fakePod("p0", name, uid, "n1", podSucceeded), fakePod("p1", name, uid, "n1", podRunning),
				fakePod("p2", name, uid, "n2", podRunning)}
		}, "", false},
		{"one not yet placed", func(name, uid string) []map[string]any {
			return []map[string]any{fakePod("p0", name, uid, "", podPending), fakePod("p1", name, uid, "n1", podRunning),
				fakePod("p2", name, uid, "n2", podRunning)}
		}, "", false},
		{"another's pod under the Job's name", func(name, uid string) []map[string]any {
			return []map[string]any{fakePod("p0", name, uid, "n1", podRunning), fakePod("p1", name, uid, "n2", podRunning),
				fakePod("p2", name, uid, "n3", podRunning), fakePod("x", name, "another-uid", "n1", podRunning)}
		}, "", false},
		// A Job from before attempts had the term is not trusted to keep
		// its pods apart from others' (unkeptSpread): lost for that.
		{"from before the term", func(name, uid string) []map[string]any {
			return []map[string]any{fakePod("p0", name, uid, "n1", podRunning), fakePod("p1", name, uid, "n1", podRunning),
				fakePod("p2", name, uid, "n2", podRunning)}
		}, "lacks " + spreadFieldPath, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := submitOnGPUNode(t, "8", gpuSpec(9), nil)
			f, b, ctx, name := s.f, s.b, s.ctx, s.name
			f.changeJob(name, map[string]any{"spec": map[string]any{"suspend": false}})
			if tc.old {
				job, _ := f.get("jobs", name)
				tmpl := clone(job["spec"].(map[string]any)["template"].(map[string]any))
				tmpl["spec"].(map[string]any)["affinity"] = nil
				f.changeJob(name, map[string]any{"spec": map[string]any{"template": tmpl}})
			}
			pods := tc.pods(name, s.uid)
			for _, p := range pods {
				f.put("pods", p)
			}
			eventually(t, "the pods are not in the cache", func() bool {
				n := 0
				for _, p := range pods {
					if _, ok, _ := b.watch.pods.GetStore().GetByKey("ns/" + meta(p)["name"].(string)); ok {
						n++
					}
				}
				return n == len(pods)
			})
			st, err := b.Status(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if st.State == backend.Lost {
					t.Fatalf("Status = %+v; want not Lost", st)
				}
				return
			}
			why := "changed at the site"
			if tc.old {
				why = "not run as the attempt"
			}
			if st.State != backend.Lost || !strings.Contains(st.Reason, why) || !strings.Contains(st.Reason, tc.want) {
				t.Fatalf("Status = %+v; want Lost, %s (%q)", st, why, tc.want)
			}
			job, _ := f.get("jobs", name)
			if !strings.Contains(meta(job)["annotations"].(map[string]any)[AnnotationLost].(string), tc.want) {
				t.Errorf("the Job is not marked lost: %v", meta(job)["annotations"])
			}
		})
	}
}
