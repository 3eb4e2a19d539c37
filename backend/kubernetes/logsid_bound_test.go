package kubernetes

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

// TestLogsIDIsBounded: a hostile API server gives its pods names, UIDs
// and container IDs up to the cache's bound each, and several statuses
// of the attempt's container; the output's identity (LogInfo.ID), made
// at each opening and kept by its followers, repeated them all, some
// 48 KiB a pod. Each pod now adds one entry of at most maxLogIDEntry
// bytes, the same at each opening, and a real pod's entry is as before.
func TestLogsIDIsBounded(t *testing.T) {
	big := func(c string) string { return strings.Repeat(c, maxKeptString) }
	var pods []*apiPod
	for i := range 3 {
		p := &apiPod{}
		p.Name = fmt.Sprintf("%s-%d", big("n"), i)
		p.UID = types.UID(big("u"))
		for range maxKeptItems {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses,
				containerStatus{Name: ContainerName, ContainerID: "containerd://" + big("c"), RestartCount: 1})
		}
		pods = append(pods, p)
	}
	id := podLogsID(pods)
	if max := len(pods) * (maxLogIDEntry + 1); len(id) > max {
		t.Errorf("ID of %d pods is %d bytes; want at most %d", len(pods), len(id), max)
	}
	if strings.Count(id, ";") != len(pods) {
		t.Errorf("ID %.300q: want one entry a pod", id)
	}
	if again := podLogsID(pods); again != id {
		t.Errorf("ID changed between openings: %.300q, then %.300q", id, again)
	}
	if grown := podLogsID(pods[:2]); !strings.HasPrefix(id, grown) {
		t.Errorf("ID of the first two pods %.300q is not the start of the three's %.300q", grown, id)
	}
	real := &apiPod{}
	real.Name, real.UID = "m-run-1-abcde", "3b1f1c2e-8a4d-4b7e-9c0a-1d2e3f4a5b6c"
	real.Status.ContainerStatuses = []containerStatus{{Name: ContainerName, ContainerID: "containerd://0123abcd", RestartCount: 2}}
	if got, want := podLogsID([]*apiPod{real}), "m-run-1-abcde/3b1f1c2e-8a4d-4b7e-9c0a-1d2e3f4a5b6c/containerd://0123abcd/2;"; got != want {
		t.Errorf("ID of a real pod = %q; want %q", got, want)
	}
}
