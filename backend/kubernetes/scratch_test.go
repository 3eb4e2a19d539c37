package kubernetes

import (
	"context"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// TestScratchSizeBoundsThePod: backend.scratchSize becomes the scratch
// volume's sizeLimit and the container's ephemeral-storage request and
// limit, with the scratch in memory too: the pod's memory counts the tmpfs,
// but the container's writable layer (/tmp) and its log are on the node's
// disk whatever the scratch's medium. Without it the pod asks for no
// storage.
func TestScratchSizeBoundsThePod(t *testing.T) {
	for _, tc := range []struct {
		name, size, medium string
		wantLimit, wantEph string
	}{
		{"on disk", "20Gi", "", "20Gi", "20Gi"},
		{"in memory", "2Gi", catalog.ScratchMemory, "2Gi", "2Gi"},
		{"unset", "", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			b := f.start(t, func(s *catalog.BackendSpec) { s.ScratchSize, s.ScratchMedium = tc.size, tc.medium })
			spec := secretSpec()
			spec.Secret = nil
			name, err := b.Submit(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			job, _ := f.get("jobs", name)
			pod := job["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
			vol := pod["volumes"].([]any)[0].(map[string]any)["emptyDir"].(map[string]any)
			if got, _ := vol["sizeLimit"].(string); got != tc.wantLimit {
				t.Errorf("emptyDir.sizeLimit = %q, want %q", got, tc.wantLimit)
			}
			res, _ := pod["containers"].([]any)[0].(map[string]any)["resources"].(map[string]any)
			for _, k := range []string{"limits", "requests"} {
				m, _ := res[k].(map[string]any)
				if got, _ := m["ephemeral-storage"].(string); got != tc.wantEph {
					t.Errorf("resources.%s[ephemeral-storage] = %q, want %q", k, got, tc.wantEph)
				}
			}
		})
	}
	if _, err := NewFromConfig(catalog.BackendSpec{Type: catalog.BackendKubernetes, Image: "img", ScratchSize: "lots"}, t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "scratchSize") {
		t.Errorf("a scratchSize that is no quantity: %v, want an error naming scratchSize", err)
	}
}

// TestEvictedForItsOwnStorageFails: a pod the kubelet evicts for writing
// past its own limits failed by its workload's doing, and would do the
// same at any site: the attempt fails, naming the setting, where every
// eviction used to make it lost (and the run move on to fill another
// site's disk). A pod evicted because its node ran short of disk is still
// lost.
func TestEvictedForItsOwnStorageFails(t *testing.T) {
	for _, tc := range []struct {
		name, message string
		want          backend.State
	}{
		{"scratch past its sizeLimit", `Usage of EmptyDir volume "scratch" exceeds the limit "20Gi". `, backend.Failed},
		{"container past its limit", `Container workload exceeded its local ephemeral storage limit "20Gi". `, backend.Failed},
		{"pod past its limit", `Pod ephemeral local storage usage exceeds the total limit of containers 20Gi. `, backend.Failed},
		{"node short of disk", `The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 9Gi. `, backend.Lost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			b := f.start(t, func(s *catalog.BackendSpec) { s.ScratchSize = "20Gi" })
			spec := secretSpec()
			spec.Secret = nil
			name, err := b.Submit(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			f.putPodOf(name, map[string]any{"phase": "Failed", "reason": "Evicted", "message": tc.message,
				"conditions": []any{map[string]any{"type": disruptionTarget, "status": "True", "reason": "TerminationByKubelet", "message": tc.message}}})
			var st backend.Status
			deadline := time.Now().Add(10 * time.Second)
			for {
				st, err = b.Status(context.Background(), name)
				if err == nil && st.State.Final() {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("Status = %+v, %v; want %s", st, err, tc.want)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if st.State != tc.want {
				t.Fatalf("Status = %+v, want %s", st, tc.want)
			}
			if tc.want == backend.Failed && !strings.Contains(st.Reason, "backend.scratchSize") {
				t.Errorf("reason %q does not name the setting", st.Reason)
			}
			job, _ := f.get("jobs", name)
			ann, _ := meta(job)["annotations"].(map[string]any)
			if _, lost := ann[AnnotationLost]; lost != (tc.want == backend.Lost) {
				t.Errorf("Job annotations %v: lost verdict written %v, want %v", ann, lost, tc.want == backend.Lost)
			}
		})
	}
}
