package kubernetes

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"
)

// A Job's completed indexes longer than the watch cache keeps of a string
// were cut to their first 4 KiB, and the cut list could still read as a
// list of other indexes ("…,40001" cut to "…,4000"): a restarted backend
// then judged the attempt's success by an index the Job never completed.
// A list too long for the cache is now not kept at all, and the success is
// not taken from it (fails closed).
func TestCompletedIndexesCutShortAreNotRead(t *testing.T) {
	// "0", then even indexes from 1000 (5 bytes each with their comma), so
	// that the cut falls after the first four digits of 40001.
	parts := []string{"0"}
	for i := 1000; len(strings.Join(parts, ","))+1+4 < maxKeptString; i += 2 {
		parts = append(parts, strconv.Itoa(i))
	}
	head := len(parts)
	for i := 40001; len(strings.Join(parts, ",")) < 5<<10; i += 2 {
		parts = append(parts, strconv.Itoa(i))
	}
	full := strings.Join(parts, ",")
	if got := full[:maxKeptString]; !strings.HasSuffix(got, ",4000") {
		t.Fatalf("the list's first %d bytes end %q; want the cut in 40001", maxKeptString, got[len(got)-10:])
	}
	// The indexes the cut list reads as, each seen to succeed, and as
	// many successes counted.
	var onRecord []indexRange
	for _, p := range append(parts[:head:head], "4000") {
		i, _ := strconv.Atoi(p)
		onRecord = addIndex(onRecord, i)
	}
	job := &apiJob{Spec: jobSpec{Completions: ptr.To(int32(maxIndexedCompletions))},
		Status: jobStatus{CompletedIndexes: full, Succeeded: int32(head + 1)}}
	cached := trimCached(job, DefaultGPUResource).(*apiJob)
	if c := cached.Status.CompletedIndexes; c != "" && c != full {
		t.Errorf("the cache keeps %d bytes of the %d-byte list; want it whole or none", len(c), len(full))
	}
	rec := record{SucceededIndexes: formatIndexes(onRecord), SucceededIndexesMade: time.Now()}
	if succeededByIndex(cached, rec, nil, time.Time{}) {
		t.Error("the success was read from the cut list; want it not read (fails closed)")
	}
}
