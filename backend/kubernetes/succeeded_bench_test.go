package kubernetes

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// BenchmarkKeepSucceeded measures what the watch's pod handler spends on
// the record as an Indexed attempt of 2,000 pods succeeds pod by pod
// (keepSucceeded): per op, all 2,000 successes of one attempt.
func BenchmarkKeepSucceeded(b *testing.B) {
	const pods = 2000
	be := newFakeAPI(b).start(b)
	made := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	for i := 0; b.Loop(); i++ {
		name := JobName(fmt.Sprintf("bench-%d", i), 1)
		uid := types.UID(fmt.Sprintf("job-uid-%d", i))
		rec := record{RunID: fmt.Sprintf("bench-%d", i), Attempt: 1, Namespace: be.ns, Nonce: newNonce(), Submitted: made, UID: uid}
		if _, err := be.createRecord(name, rec); err != nil {
			b.Fatal(err)
		}
		for p := range pods {
			if err := be.keepSucceeded(name, uid, types.UID(fmt.Sprintf("pod-uid-%d", p)), made, true, p); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// Each success of an Indexed attempt past the record's maxSeenSucceeded
// pods wrote the record again (an atomic write and a sync, under recMu,
// in the watch's pod handler): 17 s of writes for 2,000 pods. They are now
// written in batches: not at once, but within indexBatchEvery (a timer),
// and at Close. What is not written yet is not on record: a crash loses
// it, and the attempt fails closed.
func TestSuccessesPastTheRecordsPodsAreWrittenInBatches(t *testing.T) {
	for _, via := range []string{"timer", "Close"} {
		t.Run(via, func(t *testing.T) {
			be := newFakeAPI(t).start(t)
			onRecord := pendingSuccesses(t, be)
			if via == "Close" {
				be.Close()
			}
			want := fmt.Sprintf("0-%d", maxSeenSucceeded+9)
			eventually(t, "the pending indexes were not written", func() bool { return onRecord() == want })
		})
	}
}

// pendingSuccesses records maxSeenSucceeded+10 successes of an attempt's
// pods (keepSucceeded) and checks that those past maxSeenSucceeded are
// not on record yet, returning a look at the attempt's record's indexes. They are written once indexBatchEvery has passed
// since the first of them (its timer, or the next success): a loaded
// machine took that long between the first and the look, and the record
// rightly held them all, which the test read as written at once. Such a
// try says nothing and is made again, with another attempt; one made
// within indexBatchEvery must find them pending.
func pendingSuccesses(t *testing.T, be *Backend) func() string {
	t.Helper()
	made := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	for try := range 5 {
		runID := fmt.Sprint("batch-", try)
		name, uid := JobName(runID, 1), types.UID(fmt.Sprint("job-uid-", try))
		rec := record{RunID: runID, Attempt: 1, Namespace: be.ns, Nonce: newNonce(), Submitted: made, UID: uid}
		if _, err := be.createRecord(name, rec); err != nil {
			t.Fatal(err)
		}
		keep := func(p int) {
			if err := be.keepSucceeded(name, uid, types.UID(fmt.Sprintf("pod-uid-%d", p)), made, true, p); err != nil {
				t.Fatal(err)
			}
		}
		for p := range maxSeenSucceeded {
			keep(p)
		}
		first := time.Now()
		for p := maxSeenSucceeded; p < maxSeenSucceeded+10; p++ {
			keep(p)
		}
		onRecord := func() string { r, _ := be.record(name); return r.SucceededIndexes }
		got := onRecord()
		if took := time.Since(first); took >= indexBatchEvery {
			t.Logf("try %d: the successes past the record's pods and the look took %v, past indexBatchEvery", try, took)
			continue
		}
		if want := fmt.Sprintf("0-%d", maxSeenSucceeded-1); got != want {
			t.Fatalf("indexes on record %q just after the successes; want %q (the rest pending)", got, want)
		}
		return onRecord
	}
	t.Fatalf("no try recorded the successes past the record's pods within indexBatchEvery (%v)", indexBatchEvery)
	return nil
}
