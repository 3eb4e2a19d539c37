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
			made := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
			name, uid := JobName("batch", 1), types.UID("job-uid")
			rec := record{RunID: "batch", Attempt: 1, Namespace: be.ns, Nonce: newNonce(), Submitted: made, UID: uid}
			if _, err := be.createRecord(name, rec); err != nil {
				t.Fatal(err)
			}
			const pods = maxSeenSucceeded + 10
			for p := range pods {
				if err := be.keepSucceeded(name, uid, types.UID(fmt.Sprintf("pod-uid-%d", p)), made, true, p); err != nil {
					t.Fatal(err)
				}
			}
			onRecord := func() string { r, _ := be.record(name); return r.SucceededIndexes }
			if got, want := onRecord(), fmt.Sprintf("0-%d", maxSeenSucceeded-1); got != want {
				t.Fatalf("indexes on record %q just after the successes; want %q (the rest pending)", got, want)
			}
			if via == "Close" {
				be.Close()
			}
			want := fmt.Sprintf("0-%d", pods-1)
			eventually(t, "the pending indexes were not written", func() bool { return onRecord() == want })
		})
	}
}
