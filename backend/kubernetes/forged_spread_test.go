package kubernetes

import (
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// The pods of an attempt split over nodes keep one another off their
// nodes by a required anti-affinity. Anyone who may create pods in the
// namespace can give a pod of their own any labels: one that carries the
// run's and attempt's labels (known before the attempt is submitted) and
// sits on a node kept every pod of the attempt off it, and one on each
// node kept the attempt pending for good. The term must match the pods
// of the attempt's Job only, by the controller-uid label the Job
// controller gives them (the Job's UID, drawn as the Job is made), which
// the API server adds to a pod's term from the pod's own labels as it
// creates it (matchLabelKeys).
func TestForgedPodWithTheAttemptsLabelsKeepsNoPodOffItsNode(t *testing.T) {
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
	// What the Job controller makes of the template: its labels, with
	// the Job's name and UID.
	const uid = "0b5c6e3a-5d0e-4d4f-9a55-6f1c1f1b7c01"
	own := labels.Set{}
	for k, v := range tmpl.Labels {
		own[k] = v
	}
	own[jobNameLabel] = s.name
	own[controllerUIDLabel] = uid
	own[legacyControllerUIDLabel] = uid
	// Someone else's pod: every label of the attempt's pods it can know
	// before the Job exists, and a controller-uid of its own making.
	forged := labels.Set{}
	for k, v := range tmpl.Labels {
		forged[k] = v
	}
	forged[jobNameLabel] = s.name
	forgedOtherUID := labels.Set{}
	for k, v := range forged {
		forgedOtherUID[k] = v
	}
	forgedOtherUID[controllerUIDLabel] = "6f1c1f1b-0000-4000-8000-000000000000"

	var terms []podAffinityTerm
	if a := tmpl.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		terms = a.PodAntiAffinity.Required
	}
	if len(terms) == 0 {
		t.Fatalf("the Job's pods have no required pod anti-affinity")
	}
	for _, term := range terms {
		if term.TopologyKey != hostnameLabel {
			continue
		}
		// The term as the API server gives it to a pod of the Job.
		sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range term.MatchLabelKeys {
			if v, ok := own[k]; ok {
				r, err := labels.NewRequirement(k, selection.In, []string{v})
				if err != nil {
					t.Fatal(err)
				}
				sel = sel.Add(*r)
			}
		}
		if !sel.Matches(own) {
			t.Errorf("term %+v does not keep the attempt's pods apart", term)
		}
		if sel.Matches(forged) || sel.Matches(forgedOtherUID) {
			t.Errorf("term %+v (selector %s on the Job's pods) matches a pod anyone may label %v: it keeps the attempt's pods off that pod's node", term, sel, forged)
		}
	}
	// The Job as submitted keeps its pods a node each: no change at the
	// site is read into it.
	if why := changedAtSite(&job); why != "" {
		t.Errorf("changedAtSite = %q for the Job as submitted", why)
	}
}
