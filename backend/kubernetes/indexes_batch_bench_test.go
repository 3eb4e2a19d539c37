package kubernetes

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// scatteredIndexes is the record's list of an Indexed attempt whose pods
// succeed out of order: runs of two indexes with one apart, from 0 up to
// below n ("0-1,3-4,…"): within a few bytes of the longest a list of
// indexes below n can be (392,587 bytes of 392,593 below
// maxIndexedCompletions).
func scatteredIndexes(n int) []indexRange {
	var rs []indexRange
	for lo := 0; lo+1 < n; lo += 3 {
		rs = append(rs, indexRange{lo, lo + 1})
	}
	return rs
}

// BenchmarkKeepSucceededBatch measures what the watch's pod handler
// spends on the record for one batch (indexBatch successes past the
// record's maxSeenSucceeded pods, keepSucceeded), into a record holding a
// scattered list of indexes of about 14 KiB: per op, the whole batch.
func BenchmarkKeepSucceededBatch(b *testing.B) {
	be := newFakeAPI(b).start(b)
	made := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	list := scatteredIndexes(4800)
	pods := make([]seenPod, maxSeenSucceeded)
	for i := range pods {
		pods[i] = seenPod{UID: types.UID(fmt.Sprintf("pod-uid-%d", i)), Made: made}
	}
	for i := 0; b.Loop(); i++ {
		name := JobName(fmt.Sprintf("bench-%d", i), 1)
		uid := types.UID(fmt.Sprintf("job-uid-%d", i))
		rec := record{RunID: fmt.Sprintf("bench-%d", i), Attempt: 1, Namespace: be.ns, Nonce: newNonce(), Submitted: made,
			UID: uid, Succeeded: pods, SucceededIndexes: formatIndexes(list), SucceededIndexesMade: made}
		if _, err := be.createRecord(name, rec); err != nil {
			b.Fatal(err)
		}
		// The indexes in the list's gaps, one batch of them.
		for k := range indexBatch {
			index := list[k].hi + 1
			if err := be.keepSucceeded(name, uid, types.UID(fmt.Sprintf("late-pod-uid-%d", k)), made, true, index); err != nil {
				b.Fatal(err)
			}
		}
		if r, _ := be.record(name); r.SucceededIndexes == formatIndexes(list) {
			b.Fatal("the batch was not written")
		}
	}
}

// BenchmarkAddPendingIndexes measures adding one batch of pending indexes
// (indexBatch) to a record holding a scattered list of about 14 KiB
// (pendingIndexes.addTo), without the record's read and write.
func BenchmarkAddPendingIndexes(b *testing.B) {
	made := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	list := scatteredIndexes(4800)
	text := formatIndexes(list)
	p := &pendingIndexes{made: made}
	for k := range indexBatch {
		p.indexes = append(p.indexes, list[k].hi+1)
	}
	for b.Loop() {
		r := record{SucceededIndexes: text, SucceededIndexesMade: made}
		if !p.addTo(&r) {
			b.Fatal("the batch was not added")
		}
	}
}

// Each success of an Indexed attempt past the record's maxSeenSucceeded
// pods read the record (a file read and a JSON decode, under recMu, in
// the watch's pod handler) only to add its index to the batch pending:
// indexBatch reads a batch, of a record that may hold a scattered list of
// many KiB. A batch now reads it where it begins and where it is written,
// and the indexes all reach the record.
func TestABatchOfIndexesReadsTheRecordWhereItBeginsAndIsWritten(t *testing.T) {
	be := newFakeAPI(t).start(t)
	made := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	name, uid := JobName("batch-reads", 1), types.UID("job-uid")
	rec := record{RunID: "batch-reads", Attempt: 1, Namespace: be.ns, Nonce: newNonce(), Submitted: made, UID: uid}
	if _, err := be.createRecord(name, rec); err != nil {
		t.Fatal(err)
	}
	for p := range maxSeenSucceeded {
		if err := be.keepSucceeded(name, uid, types.UID(fmt.Sprintf("pod-uid-%d", p)), made, true, p); err != nil {
			t.Fatal(err)
		}
	}
	var reads atomic.Int64
	read := readRecordFile
	readRecordFile = func(path string) ([]byte, error) {
		reads.Add(1)
		return read(path)
	}
	t.Cleanup(func() { readRecordFile = read })
	for p := maxSeenSucceeded; p < maxSeenSucceeded+indexBatch; p++ {
		if err := be.keepSucceeded(name, uid, types.UID(fmt.Sprintf("pod-uid-%d", p)), made, true, p); err != nil {
			t.Fatal(err)
		}
	}
	if n := reads.Load(); n != 2 {
		t.Errorf("a batch of %d indexes read the record %d times; want 2 (where it began, where it was written)", indexBatch, n)
	}
	readRecordFile = read
	if r, _ := be.record(name); r.SucceededIndexes != fmt.Sprintf("0-%d", maxSeenSucceeded+indexBatch-1) {
		t.Errorf("indexes on record %q after a whole batch; want every one", r.SucceededIndexes)
	}
}
