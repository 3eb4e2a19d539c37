package kubernetes

import (
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// Anyone who may create Pods in the namespace can make one that claims an
// attempt's Job with the Job's labels and controller reference. An attempt
// of 9 GPUs on a node of 8 is an Indexed Job of three pods, run at once:
// a fourth live pod that claims it, two live pods of one completion index,
// a pod of an index the Job has none of, or one whose controller-uid
// labels do not agree with its reference, make the attempt lost, the pods
// changed at the site, and Logs reads none of it. A pod that failed beside
// its replacement, or one being deleted beside its replacement, is how
// the Job controller runs an attempt, and is no change.
func TestStatusOfAnAttemptWithPodsThatAreNotItsOwn(t *testing.T) {
	type pod struct {
		name, index, phase string
		deleting           bool
		uidLabel           string // controllerUIDLabel's value; "" for the Job's, "-" for none
	}
	for _, tc := range []struct {
		name string
		pods []pod
		want string // in the reason; "" for not lost
		logs bool   // Logs refuses
	}{
		{"one a node", []pod{{name: "p0", index: "0"}, {name: "p1", index: "1"}, {name: "p2", index: "2"}}, "", false},
		{"a failed pod and its replacement", []pod{{name: "p0", index: "0", phase: podFailed}, {name: "p0b", index: "0"},
			{name: "p1", index: "1"}, {name: "p2", index: "2"}}, "", false},
		{"a pod being deleted and its replacement", []pod{{name: "p0", index: "0", deleting: true}, {name: "p0b", index: "0"},
			{name: "p1", index: "1"}, {name: "p2", index: "2"}}, "", false},
		{"a fourth live pod", []pod{{name: "p0", index: "0"}, {name: "p1", index: "1"}, {name: "p2", index: "2"}, {name: "px"}},
			"4 live pods", true},
		{"two pods of one index", []pod{{name: "p0", index: "0"}, {name: "p1", index: "1"}, {name: "px", index: "1"}},
			"both run completion index 1", true},
		{"an index of none", []pod{{name: "p0", index: "0"}, {name: "px", index: "-1"}},
			"completion index \"-1\"", true},
		{"an ended pod of an index of none", []pod{{name: "px", index: "-1", phase: podFailed}, {name: "p0", index: "0"}},
			"completion index \"-1\"", true},
		{"an index past the Job's", []pod{{name: "p0", index: "0"}, {name: "px", index: "3"}},
			"completion index \"3\"", true},
		{"another controller-uid label", []pod{{name: "p0", index: "0"}, {name: "p1", index: "1"}, {name: "px", index: "2", uidLabel: "other"}},
			"pod \"px\" claims its Job with " + controllerUIDLabel + "=\"other\"", false},
		{"only the older controller-uid label", []pod{{name: "p0", index: "0"}, {name: "p1", index: "1"}, {name: "px", index: "2", uidLabel: "-"}},
			"pod \"px\" claims its Job with " + controllerUIDLabel + "=\"\"", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := submitOnGPUNode(t, "8", gpuSpec(9), nil)
			f, b, ctx, name := s.f, s.b, s.ctx, s.name
			// The selector that the API server gives a Job since Kubernetes 1.27.
			f.changeJob(name, map[string]any{"spec": map[string]any{"suspend": false,
				"selector": map[string]any{"matchLabels": map[string]any{controllerUIDLabel: s.uid}}}})
			for i, p := range tc.pods {
				phase := p.phase
				if phase == "" {
					phase = podRunning
				}
				o := fakePod(p.name, name, s.uid, "n"+string(rune('1'+i)), phase)
				m := meta(o)
				m["creationTimestamp"] = "2026-01-01T00:00:0" + string(rune('0'+i)) + "Z"
				if p.index != "" {
					m["annotations"] = map[string]any{completionIndexAnnotation: p.index}
				}
				if p.deleting {
					m["deletionTimestamp"] = "2026-01-01T00:01:00Z"
				}
				if p.uidLabel != "" {
					l := m["labels"].(map[string]any)
					l[controllerUIDLabel] = p.uidLabel
					if p.uidLabel == "-" {
						delete(l, controllerUIDLabel)
					}
					l[legacyControllerUIDLabel] = s.uid
				}
				f.put("pods", o)
			}
			eventually(t, "the Job's pods are not in the cache", func() bool {
				j, ok := b.watch.job(name)
				if !ok {
					return false
				}
				objs, _ := b.watch.pods.GetIndexer().ByIndex(podsByJob, name)
				return len(objs) == len(tc.pods) && j.Spec.Suspend != nil && !*j.Spec.Suspend && j.Spec.Selector != nil
			})
			st, err := b.Status(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if st.State == backend.Lost {
					t.Fatalf("Status = %+v; want not Lost", st)
				}
			} else if st.State != backend.Lost || !strings.Contains(st.Reason, "changed at the site") || !strings.Contains(st.Reason, tc.want) {
				t.Fatalf("Status = %+v; want Lost, its pods changed at the site (%q)", st, tc.want)
			}
			rc, _, err := b.openLogs(ctx, name)
			if rc != nil {
				rc.Close()
			}
			if tc.logs != (err != nil) {
				t.Fatalf("Logs: err %v; want refused %v", err, tc.logs)
			}
		})
	}
}
