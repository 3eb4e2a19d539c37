package kubernetes

import (
	"testing"
)

// An attempt's pods are shaped for the nodes that take them: a larger node
// that is cordoned, or one that claims more GPUs than any node has, would
// have the attempt made one pod that no node it may run on can hold, and
// stay pending for ever.
func TestPlacementShapesPodsForNodesThatTakeThem(t *testing.T) {
	for _, tc := range []struct {
		name string
		n2   func(n2 map[string]any)
	}{
		{"cordoned", func(n2 map[string]any) {
			n2["spec"] = map[string]any{"unschedulable": true}
			n2["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "16"}
		}},
		{"tainted", func(n2 map[string]any) {
			n2["spec"] = map[string]any{"taints": []any{map[string]any{"key": "maintenance", "effect": "NoSchedule"}}}
			n2["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "16"}
		}},
		{"not ready", func(n2 map[string]any) {
			n2["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "16"}
			n2["status"].(map[string]any)["conditions"] = []any{map[string]any{"type": "Ready", "status": "False"}}
		}},
		{"past any node", func(n2 map[string]any) {
			n2["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "1e12"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := submitOnGPUNode(t, "8", gpuSpec(16), func(f *fakeAPI) {
				n2 := clone(f.objs["nodes"]["n1"])
				meta(n2)["name"], meta(n2)["uid"] = "n2", "node2-uid"
				tc.n2(n2)
				f.objs["nodes"]["n2"] = n2
			})
			obj, _ := s.f.get("jobs", s.name)
			spec := obj["spec"].(map[string]any)
			pods := spec["parallelism"]
			env := spec["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["env"].([]any)
			each := ""
			for _, e := range env {
				if e.(map[string]any)["name"] == envAccelerators {
					each = e.(map[string]any)["value"].(string)
				}
			}
			if pods != float64(2) && pods != 2 || each != "8" {
				t.Errorf("16 GPUs on a Ready node of 8 beside node n2 (%s): %v pods of %s; want 2 of 8", tc.name, pods, each)
			}
		})
	}
}
