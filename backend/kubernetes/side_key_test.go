package kubernetes

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// TestLongUIDsDoNotFillTheSideMaps: unfinished and gone (by Job UID, with
// pods' UIDs and names) and suspendedPods (by pod UID) are bounded by
// count (maxCachedObjects) and bytes (maxSideBytes), and their entries
// were keyed and filled by the API server's UIDs and names as the cache
// keeps them, up to maxKeptString: a few thousand pods of Jobs in the
// cache (which make no room), all named at 4 KiB by a hostile API server,
// filled the bytes long before the count, and the attempt's own pod that
// left after them was not recorded: not as gone unfinished (the attempt
// read Succeeded on the Job's word), not among the pods it ran, and not
// as deleted by its queue's suspension. UIDs and Job names longer than a
// real API server's are now keyed by their SHA-256 and pod names cut, so
// that the count always binds first.
func TestLongUIDsDoNotFillTheSideMaps(t *testing.T) {
	_, b := newHostile(t, nil)
	w := b.watch
	for what, n := range map[string]int{
		"unfinished": maxUnfinishedEntryBytes,
		"gone":       maxGoneEntryBytes,
		"suspended":  maxSuspendedEntryBytes,
	} {
		if need := int64(maxCachedObjects) * int64(n); need > maxSideBytes {
			t.Errorf("%s: %d entries of up to %d bytes need %d bytes; the map holds %d", what, maxCachedObjects, n, need, maxSideBytes)
		}
	}

	long := func(i int, what string) string {
		return fmt.Sprintf("%s-%06d-", what, i) + strings.Repeat("x", maxKeptString-16)
	}
	pod := func(name string, uid types.UID, job string, jobUID types.UID) *apiPod {
		p := &apiPod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: uid,
			Labels:          map[string]string{LabelManagedBy: managedBy, controllerUIDLabel: string(jobUID), jobNameLabel: job},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job, UID: jobUID, Controller: ptr.To(true)}}}}
		p.Status.Phase = podFailed
		return p
	}
	// Jobs in the cache of the longest UIDs it keeps, each with a pod
	// gone unfinished of the longest name and UID: enough to fill
	// maxSideBytes of unfinished and of gone with them alone.
	// Then short ones, so that what room is left over is taken too.
	jobs := int(maxSideBytes/int64(2*maxKeptString)) + 64 + 256
	for i := range jobs {
		name, uid := fmt.Sprint("filler-", i), types.UID(long(i, "jobuid"))
		podName, podUID := long(i, "pod"), types.UID(long(i, "poduid"))
		if i >= jobs-256 {
			uid, podName, podUID = types.UID(fmt.Sprint("short-", i)), fmt.Sprint("pod-", i), types.UID(fmt.Sprint("pod-uid-", i))
		}
		j := &apiJob{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: uid,
			Labels: map[string]string{LabelManagedBy: managedBy}}}
		if err := w.jobs.GetIndexer().Add(j); err != nil {
			t.Fatal(err)
		}
		w.podGone(pod(podName, podUID, name, uid))
	}
	// Pods of a suspended Job whose deletion began, of the longest UIDs,
	// enough to fill suspendedPods' bytes.
	susp := &apiJob{ObjectMeta: metav1.ObjectMeta{Name: "suspended", Namespace: "ns", UID: "suspended-uid",
		Labels: map[string]string{LabelManagedBy: managedBy}}}
	susp.Spec.Suspend = ptr.To(true)
	if err := w.jobs.GetIndexer().Add(susp); err != nil {
		t.Fatal(err)
	}
	ending := int(maxSideBytes/int64(maxKeptString)) + 64 + 256
	for i := range ending {
		uid := types.UID(long(i, "suspended"))
		if i >= ending-256 {
			uid = types.UID(fmt.Sprint("suspended-uid-", i))
		}
		w.podEnding(pod(fmt.Sprint("suspended-", i), uid, "suspended", "suspended-uid"))
	}
	w.mu.Lock()
	t.Logf("%d Jobs' pods gone and %d pods ending under a suspension, UIDs of %d KiB: unfinished %d entries in %.1f MiB, gone %d in %.1f MiB, suspended %d in %.1f MiB",
		jobs, ending, maxKeptString>>10, len(w.unfinished), float64(w.unfinishedBytes)/(1<<20),
		w.goneCount, float64(w.goneBytes)/(1<<20), len(w.suspendedPods), float64(w.suspendedBytes)/(1<<20))
	for what, n := range map[string]int64{"unfinished": w.unfinishedBytes, "gone": w.goneBytes, "suspendedPods": w.suspendedBytes} {
		if n > maxSideBytes {
			t.Errorf("%s counts %d bytes; want at most %d", what, n, maxSideBytes)
		}
	}
	w.mu.Unlock()

	// The attempt's own pod leaves, unfinished.
	w.podGone(pod(hostileJob+"-x", "pod-uid", hostileJob, "job-uid"))
	if got := w.unfinishedPod("job-uid"); got != hostileJob+"-x" {
		t.Errorf("the attempt's pod gone unfinished after the others: unfinishedPod = %q; want %q", got, hostileJob+"-x")
	}
	job, ok := w.job(hostileJob)
	if !ok {
		t.Fatal("the attempt's Job is not in the cache")
	}
	if ran := w.ranPods(job, nil); !slices.Contains(ran, hostileJob+"-x") {
		t.Errorf("the pods the attempt ran: %q; want its own among them", ran)
	}
	// A filler Job's pod is still told apart by its hashed key.
	if got := w.unfinishedPod(types.UID(long(0, "jobuid"))); got == "" {
		t.Error("a Job in the cache of a long UID lost its pod gone unfinished")
	}
	// A pod of the suspended Job ending after the others is recorded.
	late := pod("suspended-late", "late-uid", "suspended", "suspended-uid")
	w.podEnding(late)
	if ran := w.ranPods(susp, []*apiPod{late}); len(ran) != 0 {
		t.Errorf("a pod whose deletion began under its Job's suspension, after the others: the pods its Job ran are %q; want none (the queue's)", ran)
	}
}
