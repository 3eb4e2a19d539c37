package kubernetes

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/utils/ptr"
)

// extraPodsWhy is in the reason of an attempt lost to pods that claim its
// Job beyond what the Job runs (extraPods), of which it cannot be told
// which are the attempt's: Logs reads no output of it.
const extraPodsWhy = "not all live pods that claim its Job are the attempt's"

// extraPods says, or "", why pods that claim the attempt's Job are not all
// the attempt's own, so that neither their output nor their end can be
// read as the attempt's. Anyone who may create Pods in the namespace can
// make one with the Job's labels, annotations and controller reference:
//
//   - stray (claimsOf) claims the Job with marks the Job controller never
//     gives one of its pods together: a controller-uid label that is not
//     the Job's beside a reference that is, or the other way round;
//   - more live pods than the Job's parallelism are neither ending
//     (Succeeded, Failed) nor being deleted: the Job controller makes no
//     more, and makes a pod's replacement only once it has failed or is
//     being deleted, which the watch cache of pods sees before the
//     replacement (one stream, in order);
//   - two such pods of an Indexed Job run one completion index, or a pod
//     of the Job, live or ended, carries an index that is none of the
//     Job's.
//
// The pods' count is that of pods, which jobStatus lists anyway.
func extraPods(job *apiJob, pods []*apiPod, stray *apiPod) string {
	const changed = "the attempt's pods were changed at the site: "
	if stray != nil {
		ref := "none"
		for _, r := range stray.OwnerReferences {
			if ptr.Deref(r.Controller, false) {
				ref = shown(r.Kind) + " " + shown(string(r.UID))
			}
		}
		return changed + fmt.Sprintf("pod %s claims its Job with %s=%s, %s=%s and controller reference %s, which the Job controller gives no pod of the Job together",
			shown(stray.Name), controllerUIDLabel, shown(stray.Labels[controllerUIDLabel]),
			legacyControllerUIDLabel, shown(stray.Labels[legacyControllerUIDLabel]), ref)
	}
	want := int(ptr.Deref(job.Spec.Parallelism, 1))
	completions := ptr.Deref(job.Spec.Completions, -1)
	var live []string
	byIndex := make(map[string]string)
	for _, p := range pods {
		// An index of none is no pod of the Job's, live or ended: one
		// that ended first by such an index would be the first read for
		// the attempt's exit code (failedStatus).
		v, indexed := p.Annotations[completionIndexAnnotation]
		if i, err := strconv.Atoi(v); indexed && (err != nil || strconv.Itoa(i) != v || i < 0 || completions >= 0 && i >= int(completions)) {
			return changed + extraPodsWhy + fmt.Sprintf(": pod %s has completion index %s, none of its Job's", shown(p.Name), shown(v))
		}
		if p.Status.Phase == podSucceeded || p.Status.Phase == podFailed || p.DeletionTimestamp != nil {
			continue
		}
		live = append(live, shown(p.Name))
		if !indexed {
			continue
		}
		if other, ok := byIndex[v]; ok {
			return changed + extraPodsWhy + fmt.Sprintf(": pods %s and %s both run completion index %s", other, shown(p.Name), v)
		}
		byIndex[v] = shown(p.Name)
	}
	if n := len(live); n > want {
		if n > 4 {
			live = append(live[:4], "…")
		}
		return changed + extraPodsWhy + fmt.Sprintf(": %d live pods (%s), parallelism %d", n, strings.Join(live, ", "), want)
	}
	return ""
}
