package kubernetes

import (
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// A running Job of an attempt's name that the state directory has no
// record of (made by someone who may write Jobs in the namespace, with the
// run-id annotation and labels copied) is not the attempt's, though the
// watch cache holds it: Status does not report its state, Logs does not
// read its pods' output, and Cancel neither marks nor deletes it, nor
// writes a record that would have Find and Status take it for the
// attempt's from then on. All three answer ErrNotFound.
func TestStatusCancelAndLogsLeaveAJobWithoutARecord(t *testing.T) {
	f := newFakeAPI(t)
	spec := secretSpec()
	name := JobName(spec.RunID, spec.Attempt)
	other := lookAlike(spec)
	meta(other)["uid"] = "planted-uid"
	other["status"] = map[string]any{}
	f.put("jobs", other)
	f.put("pods", fakePod(name+"-p", name, "planted-uid", "n1", podRunning))
	b := f.start(t)
	ctx := testContext(t)
	waitPodsCached(t, b, name, 1, "the planted Job and its pod are not in the cache")

	if st, err := b.Status(ctx, name); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Status of a Job without a record = %+v, %v; want ErrNotFound", st, err)
	}
	rc, err := b.Logs(ctx, name)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Logs of a Job without a record: %v; want ErrNotFound", err)
	}
	if err := b.Cancel(ctx, name); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Cancel of a Job without a record: %v; want ErrNotFound", err)
	}
	job, ok := f.get("jobs", name)
	if !ok || meta(job)["uid"] != "planted-uid" {
		t.Fatal("Cancel deleted a Job its state directory has no record of")
	}
	if v, ok := annotations(job)[AnnotationCancelled]; ok {
		t.Errorf("Cancel marked a Job it has no record of cancelled: %s=%v", AnnotationCancelled, v)
	}
	if _, err := os.Stat(b.recordPath(name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Cancel wrote a record for a Job it has no record of: %v", err)
	}
	if h, ok, err := b.Find(ctx, spec.RunID, spec.Attempt); ok || err != nil {
		t.Errorf("Find after Cancel = %q, %v, %v; want none", h, ok, err)
	}
}

// sweepBesideLookAlike puts a look-alike of secretSpec's Job to a fake
// API, starts a backend on it, runs before (if not nil), writes the
// attempt's Secret, waits for the look-alike in the watch cache and
// sweeps. It answers the sweep's result and the Secret after it.
func sweepBesideLookAlike(t *testing.T, before func(*Backend, backend.Spec)) (SweepResult, map[string]any) {
	t.Helper()
	f := newFakeAPI(t)
	spec := secretSpec()
	name := JobName(spec.RunID, spec.Attempt)
	f.put("jobs", lookAlike(spec))
	b := f.start(t)
	ctx := testContext(t)
	if before != nil {
		before(b, spec)
	}
	if err := b.WriteSecretForTest(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitJobCached(t, b, name, "the look-alike")
	res, err := b.SweepSecrets(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sec, _ := f.get("secrets", name)
	return res, sec
}

// A Secret of Meridian's left without an owner and without a record (a
// Submit whose Job create was refused removed its record, and the delete
// of its Secret failed) is not given to a Job that someone else then made
// under the attempt's name: that Job is none that Submit made, and would
// keep the credential for as long as its maker keeps it.
func TestSweepGivesNoJobWithoutARecordTheSecret(t *testing.T) {
	res, sec := sweepBesideLookAlike(t, nil)
	if res.Owned != 0 || meta(sec)["ownerReferences"] != nil {
		t.Errorf("sweep %+v gave the Secret to a Job without a record: owners %v", res, meta(sec)["ownerReferences"])
	}
}

// An older Cancel, asked to cancel a Job of an attempt's name that it had
// no record of (someone else's, made with the run-id annotation and
// labels copied), wrote a record for it: its UID, ending Cancelled, and no
// time of submission, which Submit has always written. Such a record left
// in the state directory is not the attempt's: Find does not take the
// attempt for submitted and cancelled, Status does not report it
// Cancelled, and Submit does not answer with its handle as if the attempt
// had ended.
func TestARecordThatSubmitDidNotWriteIsNoAttempts(t *testing.T) {
	f := newFakeAPI(t)
	spec := secretSpec()
	name := JobName(spec.RunID, spec.Attempt)
	b := f.start(t)
	ctx := testContext(t)
	// As the older Cancel wrote it (saveFinal of a record made from the Job).
	planted := record{RunID: spec.RunID, Attempt: spec.Attempt, Namespace: b.ns, UID: "planted-uid",
		Final: &backend.Status{State: backend.Cancelled, ExitCode: 128 + 15, Reason: "cancelled"}}
	data, err := json.Marshal(planted)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.recordPath(name), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if h, ok, err := b.Find(ctx, spec.RunID, spec.Attempt); ok || err != nil {
		t.Errorf("Find with a record Submit did not write = %q, %v, %v; want none", h, ok, err)
	}
	if st, err := b.Status(ctx, name); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Status with a record Submit did not write = %+v, %v; want ErrNotFound", st, err)
	}
	if h, err := b.Submit(ctx, spec); err == nil {
		if _, ok := f.get("jobs", name); !ok {
			t.Errorf("Submit with a record Submit did not write = %q and created no Job: the attempt never runs", h)
		}
	}
}
