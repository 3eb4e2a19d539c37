package kubernetes

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
)

// within fails the test unless f returns within d: a hostile quantity
// that would hold it for minutes ends the test, not the run.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: no answer within %v", what, d)
	}
}

// TestHostileQuantities: a quantity of the site's (a Node's allocatable
// GPUs, what a Pod or a Job's template requests) is decoded and compared
// with maxGPUsPerNode. A hostile API server sent "1e200000000", eleven
// bytes that the comparison turns into a number of 200 million digits
// (minutes of a core and hundreds of megabytes per object, each time
// capacity, placement or the watch cache looked at it), or a number of a
// megabyte of digits, whose decoding alone takes seconds of a core and
// grows with the square of its length. A quantity of more than
// maxQuantityBytes is refused as it is decoded, naming the resource, and
// one whose exponent no count of accelerators has is no count.
func TestHostileQuantities(t *testing.T) {
	// Eleven bytes the parser reads at once, the comparison for minutes.
	q, err := resource.ParseQuantity("1e200000000")
	if err != nil {
		t.Fatal(err)
	}
	within(t, 2*time.Second, "gpuCount(1e200000000)", func() {
		if n, err := gpuCount(q); err == nil {
			t.Errorf("gpuCount(1e200000000) = %d; want an error", n)
		} else if len(err.Error()) > 200 {
			t.Errorf("gpuCount(1e200000000): an error of %d bytes", len(err.Error()))
		}
	})
	for _, s := range []string{"8", "0", "3", "2500m", "1k"} {
		q := resource.MustParse(s)
		if _, err := gpuCount(q); (err == nil) != (q.Cmp(*resource.NewQuantity(maxGPUsPerNode, resource.DecimalSI)) <= 0) {
			t.Errorf("gpuCount(%s): %v", s, err)
		}
	}
	long := "1" + strings.Repeat("0", 1<<20)
	for _, doc := range []string{
		`{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"},"status":{"allocatable":{"` + DefaultGPUResource + `":"` + long + `"}}}`,
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","resources":{"requests":{"` + DefaultGPUResource + `":` + long + `}}}]}}`,
		// Eleven bytes that the parser itself works out to 200 million
		// digits, to round them.
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","resources":{"limits":{"` + DefaultGPUResource + `":"1e-200000000"}}}]}}`,
		`{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j"},"spec":{"template":{"spec":{"containers":[{"name":"c","resources":{"requests":{"` + DefaultGPUResource + `":"1E-200000000"}}}]}}}}`,
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"volumes":[{"name":"scratch","emptyDir":{"sizeLimit":"1e-200000000"}}]}}`,
	} {
		within(t, 2*time.Second, "decoding", func() {
			_, _, err := codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
			if err == nil || !strings.Contains(err.Error(), "quantity of ") {
				t.Errorf("decoding %.120s...: %v; want an error naming the quantity", doc, err)
			}
		})
	}
	// What an honest API server sends decodes as before.
	obj, _, err := codecs.UniversalDeserializer().Decode([]byte(`{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"},"status":{"allocatable":{"`+DefaultGPUResource+`":"8","memory":"1056939800Ki","cpu":"95500m"}}}`), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var _ k8sruntime.Object = obj
	if q := obj.(*apiNode).Status.Allocatable[DefaultGPUResource]; q.Value() != 8 {
		t.Errorf("allocatable %s = %s; want 8", DefaultGPUResource, q.String())
	}
}
