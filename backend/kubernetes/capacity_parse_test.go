package kubernetes

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

func TestPodRequest(t *testing.T) {
	const gpu = DefaultGPUResource
	tests := []struct {
		pod     string
		want    int
		wantErr string
	}{
		{`{"spec":{"containers":[{"name":"a","resources":{"limits":{"nvidia.com/gpu":"3"}}}]}}`, 3, ""},
		{`{"spec":{"containers":[{"name":"a","resources":{"requests":{"nvidia.com/gpu":"2"},"limits":{"nvidia.com/gpu":"2"}}},{"name":"b","resources":{"limits":{"nvidia.com/gpu":"1"}}}]}}`, 3, ""},
		// An init container larger than the containers' sum is what counts.
		{`{"spec":{"initContainers":[{"name":"i","resources":{"limits":{"nvidia.com/gpu":"4"}}}],"containers":[{"name":"a","resources":{"limits":{"nvidia.com/gpu":"1"}}}]}}`, 4, ""},
		{`{"spec":{"initContainers":[{"name":"i","resources":{"limits":{"nvidia.com/gpu":"1"}}}],"containers":[{"name":"a","resources":{"limits":{"nvidia.com/gpu":"2"}}}]}}`, 2, ""},
		{`{"spec":{"containers":[{"name":"a","resources":{"limits":{"cpu":"4","example.com/tpu":"8"}}}]}}`, 0, ""},
		{`{"spec":{"containers":[{"name":"a","resources":{"limits":{"nvidia.com/gpu":"-1"}}}]}}`, 0, "negative"},
		{`{"spec":{"containers":[{"name":"a","resources":{"limits":{"nvidia.com/gpu":"1e12"}}}]}}`, 0, "more than"},
		{`{"spec":{"containers":[{"name":"a","resources":{"limits":{"nvidia.com/gpu":"40000"}}},{"name":"b","resources":{"limits":{"nvidia.com/gpu":"40000"}}}]}}`, 0, "more than"},
	}
	for _, tt := range tests {
		var p apiPod
		if err := json.Unmarshal([]byte(tt.pod), &p); err != nil {
			t.Fatal(err)
		}
		got, err := podRequest(&p, gpu)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("podRequest(%s) = %d, %v; want an error with %q", tt.pod, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("podRequest(%s) = %d, %v; want %d", tt.pod, got, err, tt.want)
		}
	}
	if n, err := gpuCount(resource.MustParse("500m")); err != nil || n != 1 {
		t.Errorf("gpuCount(500m) = %d, %v; want 1 (rounded up)", n, err)
	}
}

func TestTakesPods(t *testing.T) {
	b := &Backend{tolerate: []toleration{{Key: "nvidia.com/gpu", Operator: "Exists", Effect: "NoSchedule"}}}
	tests := []struct {
		spec nodeSpec
		want bool
	}{
		{nodeSpec{}, true},
		{nodeSpec{Unschedulable: true}, false},
		{nodeSpec{Taints: []taint{{Key: "nvidia.com/gpu", Value: "present", Effect: "NoSchedule"}}}, true},
		{nodeSpec{Taints: []taint{{Key: "nvidia.com/gpu", Effect: "NoExecute"}}}, false},
		{nodeSpec{Taints: []taint{{Key: "dedicated", Value: "team-x", Effect: "NoSchedule"}}}, false},
		{nodeSpec{Taints: []taint{{Key: "dedicated", Value: "team-x", Effect: "PreferNoSchedule"}}}, true},
	}
	for _, tt := range tests {
		if got := b.takesPods(&apiNode{Spec: tt.spec}); got != tt.want {
			t.Errorf("takesPods(%+v) = %v", tt.spec, got)
		}
	}
	all := &Backend{tolerate: []toleration{{Operator: "Exists"}}}
	if !all.takesPods(&apiNode{Spec: nodeSpec{Taints: []taint{{Key: "x", Effect: "NoExecute"}}}}) {
		t.Error("an Exists toleration without a key tolerates nothing")
	}
	eq := &Backend{tolerate: []toleration{{Key: "dedicated", Value: "team-x"}}}
	if !eq.takesPods(&apiNode{Spec: nodeSpec{Taints: []taint{{Key: "dedicated", Value: "team-x", Effect: "NoSchedule"}}}}) ||
		eq.takesPods(&apiNode{Spec: nodeSpec{Taints: []taint{{Key: "dedicated", Value: "team-y", Effect: "NoSchedule"}}}}) {
		t.Error("Equal tolerations misread")
	}
}

// FuzzPodRequest feeds hostile pods (as an API server might send them) to
// podRequest: it must not panic, and what it accepts is within bounds.
func FuzzPodRequest(f *testing.F) {
	f.Add([]byte(`{"spec":{"containers":[{"name":"a","resources":{"limits":{"nvidia.com/gpu":"3"}}}]}}`))
	f.Add([]byte(`{"spec":{"initContainers":[{"resources":{"requests":{"nvidia.com/gpu":"1.5"}}}],"containers":[{"resources":{"limits":{"nvidia.com/gpu":"9Ei"}}}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p apiPod
		if json.Unmarshal(data, &p) != nil {
			return
		}
		n, err := podRequest(&p, DefaultGPUResource)
		if err == nil && (n < 0 || n > maxGPUsPerNode) {
			t.Fatalf("request %d out of bounds", n)
		}
	})
}
