package kubernetes

import (
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// An attempt of 9 GPUs on nodes of 8 is three pods of 3, which fit two to
// a node; the workload is told it has 3 nodes (MERIDIAN_NODES). The Job's
// pods must then each ask the scheduler for a node of their own: a
// required anti-affinity, by node, to the attempt's other pods (and to no
// other attempt's).
func TestPodsOfAnIndexedJobGetANodeEach(t *testing.T) {
	s := submitOnGPUNode(t, "8", gpuSpec(9), nil)
	obj, _ := s.f.get("jobs", s.name)
	data, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var job apiJob
	if err := json.Unmarshal(data, &job); err != nil {
		t.Fatal(err)
	}
	tmpl := job.Spec.Template
	if n, _ := submittedPods(&tmpl.Spec); n != 3 {
		t.Fatalf("%s = %d; want 3 pods of 3", envNodes, n)
	}
	var terms []podAffinityTerm
	if a := tmpl.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		terms = a.PodAntiAffinity.Required
	}
	own := labels.Set(tmpl.Labels)
	other := labels.Set{}
	for k, v := range tmpl.Labels {
		other[k] = v
	}
	other[LabelAttempt] = "2"
	spread := false
	for _, term := range terms {
		sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if err != nil {
			t.Fatal(err)
		}
		if term.TopologyKey == hostnameLabel && sel.Matches(own) && !sel.Matches(other) {
			spread = true
		}
	}
	if !spread {
		t.Errorf("the Job's pods may share a node: required pod anti-affinity %+v; want one by %s matching the attempt's pods only", terms, hostnameLabel)
	}
}
