package kubernetes

import (
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// The watch cache follows an attempt's pods by their labels (managed by
// Meridian, the Job's name); anyone who may update Pods can change them
// on a running pod of the attempt, which then runs out of the backend's
// sight: beside a sibling on its node, and the attempt read Pending while
// it ran. When the Job controller counts more live pods than the cache
// shows, the Job's pods are listed by its selector: a live pod of the Job
// (by its controller reference) with those labels changed makes the
// attempt lost. A cache that trails the Job's count is no change. A Job
// made before Kubernetes 1.27 selects its pods by the older controller-uid
// label, the only one they carry: its hidden pod is found by that.
func TestStatusOfAnAttemptWithAPodHiddenByItsLabels(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(p map[string]any) // of pod p0; nil: p0 is not made yet
		want   string                 // in the reason; "" for not lost
		legacy bool                   // the pods carry only legacyControllerUIDLabel
	}{
		{"all in sight", func(map[string]any) {}, "", false},
		{"not made yet", nil, "", false},
		{"no longer managed", func(p map[string]any) {
			delete(meta(p)["labels"].(map[string]any), LabelManagedBy)
		}, "pod \"p0\" is labelled " + LabelManagedBy + "=\"\"", false},
		{"under another Job's name", func(p map[string]any) {
			meta(p)["labels"].(map[string]any)[jobNameLabel] = "other"
		}, jobNameLabel + "=\"other\"", false},
		{"all in sight, labelled as before 1.27", func(map[string]any) {}, "", true},
		{"no longer managed, labelled as before 1.27", func(p map[string]any) {
			delete(meta(p)["labels"].(map[string]any), LabelManagedBy)
		}, "pod \"p0\" is labelled " + LabelManagedBy + "=\"\"", true},
		{"ended", func(p map[string]any) {
			delete(meta(p)["labels"].(map[string]any), LabelManagedBy)
			p["status"] = map[string]any{"phase": podSucceeded}
		}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := submitOnGPUNode(t, "8", gpuSpec(9), nil)
			f, b, ctx, name := s.f, s.b, s.ctx, s.name
			f.changeJob(name, map[string]any{"spec": map[string]any{"suspend": false}, "status": map[string]any{"active": 3}})
			pod := func(n, node string) map[string]any {
				p := fakePod(n, name, s.uid, node, podRunning)
				if tc.legacy {
					l := meta(p)["labels"].(map[string]any)
					delete(l, controllerUIDLabel)
					l[legacyControllerUIDLabel] = s.uid
				}
				return p
			}
			f.put("pods", pod("p1", "n2"))
			f.put("pods", pod("p2", "n3"))
			if tc.change != nil {
				p0 := pod("p0", "n1")
				tc.change(p0)
				f.put("pods", p0)
			}
			eventually(t, "the Job and its pods in sight are not in the cache", func() bool {
				j, ok := b.watch.job(name)
				return ok && j.Status.Active == 3 && len(b.watch.podsOf(j)) >= 2
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
			if st.State != backend.Lost || !strings.Contains(st.Reason, "changed at the site") || !strings.Contains(st.Reason, tc.want) {
				t.Fatalf("Status = %+v; want Lost, its pod p0 relabelled at the site (%q)", st, tc.want)
			}
		})
	}
}
