package kubernetes

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

// The attempt's Job's UID went into a label selector as it was: one that
// is no label value (an API server's answer that no Kubernetes gives, or
// a record changed by hand) was written into the selector, where a comma
// adds a requirement of its own. It is now refused, naming the UID and
// the label.
func TestUIDSelectorRefusesNoLabelValue(t *testing.T) {
	sel, err := uidSelector(controllerUIDLabel, "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0")
	if err != nil || sel != controllerUIDLabel+"=0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0" {
		t.Fatalf("uidSelector of a UID = %q, %v", sel, err)
	}
	for _, uid := range []types.UID{"a,app=other", "a b", types.UID(strings.Repeat("u", 64))} {
		sel, err := uidSelector(legacyControllerUIDLabel, uid)
		if err == nil || !strings.Contains(err.Error(), "is no label value") || !strings.Contains(err.Error(), legacyControllerUIDLabel) {
			t.Errorf("uidSelector(%q) = %q, %v; want an error naming the label", uid, sel, err)
		}
	}
}
