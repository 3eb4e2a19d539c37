package kubernetes

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/internal/plainfile"
)

// record is what the state directory keeps per Job: that this controller
// submitted it and, once known, how it ended. The end matters after the Job
// is deleted (by Cancel), when the cluster no longer has it.
type record struct {
	RunID     string `json:"runID"`
	Attempt   int    `json:"attempt"`
	Namespace string `json:"namespace"`
	// UID is the attempt's Job's, from the API server's answer to its
	// creation (or, for a record written before the creation was answered
	// or by an older version, from the first sight of the Job): the
	// annotation and label that name the attempt can be copied by anyone
	// who may create Jobs in the namespace, the UID cannot (replaced).
	UID types.UID `json:"uid,omitempty"`
	// Nonce is the attempt's submission value (AnnotationSubmission),
	// drawn when the record is created, before the Job.
	Nonce     string          `json:"nonce,omitempty"`
	Submitted time.Time       `json:"submitted,omitzero"`
	Final     *backend.Status `json:"final,omitempty"`
	// EarlyPodMade is when the earliest-made pod of the Job that the
	// backend saw end of itself (Succeeded, or Failed before its deletion
	// began) while the Job was suspended, unstarted or started after it,
	// was made (its creationTimestamp), and EarlyPod its name (cut to
	// maxNodeName), to show: a queued Job ended by such a pod did not run
	// the attempt (neverStarted), and the pod, once counted by the Job
	// controller, can be deleted, leaving nothing else to date it by.
	EarlyPodMade time.Time `json:"earlyPodMade,omitzero"`
	EarlyPod     string    `json:"earlyPod,omitempty"`
	// Succeeded holds the pods of the Job (ownedBy, with Meridian's
	// labels, so followed by the watch cache) that the backend saw
	// succeed, at most maxSeenSucceeded: a pod that succeeded and was
	// deleted since (by pod garbage collection, or by hand) is one the Job
	// counts and the cache no longer holds; a Job that counts more
	// successes than the backend saw did not complete by its own pods
	// (uncountedSuccess), after a restart as well.
	Succeeded []seenPod `json:"succeeded,omitempty"`
	// SucceededIndexes holds the completion indexes of the pods of an
	// Indexed Job that Succeeded is for, without its bound (as the Job
	// controller writes status.completedIndexes: "0-299"), within
	// maxSucceededIndexes bytes, and SucceededIndexesMade when the
	// earliest-made of them was made: after a restart, the watcher's
	// memory of pods gone is empty, and an attempt of more pods than
	// Succeeded keeps, whose succeeded pods were deleted, is told by them
	// (uncountedSuccess).
	SucceededIndexes     string    `json:"succeededIndexes,omitempty"`
	SucceededIndexesMade time.Time `json:"succeededIndexesMade,omitzero"`
	// Ended holds, likewise, the Job's pods seen Failed or being deleted
	// before they succeeded, at most maxSeenSucceeded: a failed Job that
	// counts more ended pods than the backend saw did not fail by its own
	// pods (uncountedEnds).
	Ended []seenPod `json:"ended,omitempty"`
}

// seenPod is a pod the backend saw succeed: its UID and creation time
// (kept to judge it against the Job's start), as the API server gave them.
type seenPod struct {
	UID  types.UID `json:"uid"`
	Made time.Time `json:"made"`
}

// maxSeenSucceeded bounds the pods a record keeps as seen succeeded
// (record.Succeeded), and as seen ended otherwise (record.Ended).
const maxSeenSucceeded = 256

func (b *Backend) recordPath(name string) string {
	return filepath.Join(b.stateDir, "jobs", name+".json")
}

// maxRecordBytes bounds a record file read: Submit writes a few hundred
// bytes, and an end's reason repeats messages the watch cache cuts to
// maxKeptString.
const maxRecordBytes = 1 << 20

// readRecordFile reads a record file, a regular one within maxRecordBytes
// (a FIFO put in its place is not waited on); tests count its calls.
var readRecordFile = func(path string) ([]byte, error) { return plainfile.Read(path, maxRecordBytes) }

// record reads the Job's record; a missing or unreadable one is absent.
// Records with an end never change and are kept in memory. name may be
// what the API server says (a deleted Job's or Secret's): one that is not
// a Kubernetes object name ("../x", "a/b") names no record, and no file
// outside the records' directory is read for it.
func (b *Backend) record(name string) (record, bool) {
	if len(validation.IsDNS1123Subdomain(name)) != 0 {
		return record{}, false
	}
	b.recMu.Lock()
	fin, ok := b.finals[name]
	b.recMu.Unlock()
	if ok {
		return fin, true
	}
	data, err := readRecordFile(b.recordPath(name))
	if err != nil {
		return record{}, false
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil || r.Namespace != b.ns || r.Submitted.IsZero() {
		// Submit has always written the time of submission into the
		// record it creates, before the Job; a record without it was not
		// written by Submit. An older Cancel wrote one, ending Cancelled
		// and holding the Job's UID, for a Job of the attempt's name that
		// it had no record of: someone else's, whom it took for the
		// attempt's. Such a record says nothing of the attempt.
		return record{}, false
	}
	if r.Final != nil {
		// A record written before status reasons were passed through
		// siteWords holds what the site said as it said it.
		r.Final.Reason = siteWords(r.Final.Reason)
		b.recMu.Lock()
		b.rememberFinalLocked(name, r)
		b.recMu.Unlock()
	}
	if r.UID != "" {
		b.rememberUID(name, r.UID)
	}
	return r, true
}

// removeStaleTemps removes the temporary files that writers killed before
// their rename left in the records' directory (a Job's record, NAME.json,
// and the key for marks), once atomicfile.StaleTempAge old: a record's
// writers hold recMu, which another process sharing the state directory
// does not, and that process may be filling a fresher one. Before, each
// stayed for good. It reads at most atomicfile.MaxTempScan entries, never
// goes through a link, and removes only regular files named as a
// temporary file of what the backend writes there. It reports how many it
// removed.
func removeStaleTemps(jobsDir string) int {
	return atomicfile.RemoveStaleTemps(jobsDir, isRecordFile, atomicfile.StaleTempAge)
}

// isRecordFile says whether name is that of a file the backend writes in
// the records' directory: a Job's record (recordPath) or the key for marks.
func isRecordFile(name string) bool {
	if name == markKeyFile {
		return true
	}
	job, ok := strings.CutSuffix(name, ".json")
	return ok && len(validation.IsDNS1123Subdomain(job)) == 0
}

// maxFinals bounds the records with an end kept in memory, and the UIDs
// (knownUID).
const maxFinals = 4096

// knownUID is the UID of the attempt's Job as its record has it, from
// memory: Status asks for it at every poll of every attempt, and a record's
// UID, once written, never changes (keepUID and saveFinal keep it; a record
// with a UID is never removed). The record stays the source: a UID not in
// memory (after a restart, or written by another process sharing the state
// directory) is read from it, by record, which remembers it.
func (b *Backend) knownUID(name string) (types.UID, bool) {
	b.recMu.Lock()
	defer b.recMu.Unlock()
	uid, ok := b.uids[name]
	return uid, ok
}

func (b *Backend) rememberUID(name string, uid types.UID) {
	b.recMu.Lock()
	defer b.recMu.Unlock()
	b.rememberUIDLocked(name, uid)
}

// rememberUIDLocked is rememberUID with recMu held.
func (b *Backend) rememberUIDLocked(name string, uid types.UID) {
	if _, ok := b.uids[name]; !ok && len(b.uids) >= maxFinals {
		// Those forgotten are read from their records again.
		clear(b.uids)
	}
	b.uids[name] = uid
}

func (b *Backend) writeRecord(name string, r record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b.recMu.Lock()
	defer b.recMu.Unlock()
	if err := atomicfile.WriteFile(b.recordPath(name), data, 0o600); err != nil {
		return fmt.Errorf("record of job %s: %w", name, err)
	}
	if r.UID != "" {
		b.rememberUIDLocked(name, r.UID)
	}
	if r.Final != nil {
		b.rememberFinalLocked(name, r)
	}
	return nil
}

// knownFinal is the end on record of the attempt's Job, from memory (a
// record read or written with its end; record, writeRecord), and false
// when memory has none: then it is not known to have ended, or was
// forgotten (maxFinals), and is read from the record again by record.
func (b *Backend) knownFinal(name string) (backend.Status, bool) {
	b.recMu.Lock()
	defer b.recMu.Unlock()
	if r, ok := b.finals[name]; ok && r.Final != nil {
		return *r.Final, true
	}
	return backend.Status{}, false
}

// knownOver reports whether the cancelled attempt name was found stopped
// (rememberOver).
func (b *Backend) knownOver(name string) bool {
	b.recMu.Lock()
	defer b.recMu.Unlock()
	_, ok := b.overs[name]
	return ok
}

// rememberOver keeps in memory that the cancelled attempt name was found
// stopped, its Job ended, being deleted or replaced and no pod labelled
// with its UID unfinished (cancelledStatus): a forgotten one (past
// maxFinals, or after a restart) is looked at again.
func (b *Backend) rememberOver(name string) {
	b.recMu.Lock()
	defer b.recMu.Unlock()
	if _, ok := b.overs[name]; !ok && len(b.overs) >= maxFinals {
		clear(b.overs)
	}
	if b.overs == nil {
		b.overs = map[string]struct{}{}
	}
	b.overs[name] = struct{}{}
}

// rememberFinalLocked keeps the record r, which has an end, in memory;
// recMu is held.
func (b *Backend) rememberFinalLocked(name string, r record) {
	if _, ok := b.finals[name]; !ok && len(b.finals) >= maxFinals {
		// A server's life sees more finished Jobs than it needs to
		// hold: the ones asked about again are read from disk again.
		clear(b.finals)
	}
	// An end is not judged again: the indexes that judged it need not
	// be held.
	r.SucceededIndexes = ""
	b.finals[name] = r
}

// createRecord writes the Job's record unless it has one; created is false
// when another Submit wrote one first.
func (b *Backend) createRecord(name string, r record) (created bool, err error) {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return false, err
	}
	b.recMu.Lock()
	defer b.recMu.Unlock()
	created, err = atomicfile.CreateFile(b.recordPath(name), data, 0o600)
	if err != nil {
		return false, fmt.Errorf("record of job %s: %w", name, err)
	}
	return created, nil
}

// saveFinal records how the Job ended, unless an end is on record already.
// The Job's UID on record is kept: a Job made later under the name is told
// from the attempt's by it.
func (b *Backend) saveFinal(name string, r record, st backend.Status) error {
	cur, ok := b.record(name)
	if ok && cur.Final != nil {
		return nil
	}
	if ok && r.UID == "" {
		r.UID = cur.UID
	}
	r.Namespace = b.ns
	r.Final = &st
	return b.writeRecord(name, r)
}

// removeRecordIfUnfinished drops the record of a Job whose creation failed.
// A record with the Job's UID is kept: the Job was created.
func (b *Backend) removeRecordIfUnfinished(name string) {
	if r, ok := b.record(name); ok && r.Final == nil && r.UID == "" {
		b.recMu.Lock()
		defer b.recMu.Unlock()
		if err := os.Remove(b.recordPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return
		}
	}
}

// maxUIDBytes bounds a UID the backend keeps: the API server makes UUIDs
// (36 bytes).
const maxUIDBytes = 128

// plausibleUID reports a UID that the API server could have made: at most
// maxUIDBytes of printable ASCII, no space.
func plausibleUID(uid types.UID) bool {
	if len(uid) == 0 || len(uid) > maxUIDBytes {
		return false
	}
	for i := 0; i < len(uid); i++ {
		if c := uid[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// keepUID records the UID of the attempt's Job in its record, unless the
// record has one or an end already. The record is read and written under
// recMu, so that an end written meanwhile (saveFinal, which also writes
// under it) is not undone.
func (b *Backend) keepUID(name string, uid types.UID) error {
	if uid == "" {
		return nil
	}
	if !plausibleUID(uid) {
		// The API server's answer (to the Job's create, or a read of it
		// whole) may name any UID, up to the megabytes of an answer: one
		// that is no UID Kubernetes makes is not kept in the record, read
		// within maxRecordBytes, nor in memory. The record matches the Job
		// as one without a UID does (attemptsJob).
		return fmt.Errorf("record of job %s: the API server gave the Job a UID of %d bytes, not one it makes; not kept", name, len(uid))
	}
	b.recMu.Lock()
	defer b.recMu.Unlock()
	written, err := b.changeRecordLocked(name, func(r *record) bool {
		if r.UID != "" {
			return false
		}
		r.UID = uid
		return true
	})
	if written {
		b.rememberUIDLocked(name, uid)
	}
	return err
}

// changeRecordLocked reads the attempt's record (name), has change change
// it, and writes it back when change says so: never a record that is
// not this controller's (none, not of its namespace, unreadable) or that
// has an end already. The caller holds recMu, so that an end written
// meanwhile (saveFinal, which also writes under it) is not undone.
func (b *Backend) changeRecordLocked(name string, change func(r *record) bool) (bool, error) {
	data, err := readRecordFile(b.recordPath(name))
	if err != nil {
		return false, nil // no record: the Job is not one this controller submitted
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil || r.Namespace != b.ns || r.Final != nil || !change(&r) {
		return false, nil
	}
	if data, err = json.MarshalIndent(r, "", "  "); err != nil {
		return false, err
	}
	if err := atomicfile.WriteFile(b.recordPath(name), data, 0o600); err != nil {
		return false, fmt.Errorf("record of job %s: %w", name, err)
	}
	return true, nil
}

// keepEarlyPod records in the attempt's record (name, of the Job of UID
// uid) that a pod of its Job, named pod and made at made, ended before
// the Job was started (record.EarlyPodMade), unless the record has an end
// already, names another Job's UID, or holds a pod made no later. The
// record is read and written under recMu, as keepUID does. A record is
// written at most once per pod made earlier than the last, and only for a
// queued attempt's pods made before its start (podEnded): the API server
// sets creation times, so a copier cannot have it written at will.
func (b *Backend) keepEarlyPod(name string, uid types.UID, pod string, made time.Time) error {
	if len(validation.IsDNS1123Subdomain(name)) != 0 || uid == "" || made.IsZero() {
		return nil
	}
	b.recMu.Lock()
	defer b.recMu.Unlock()
	_, err := b.changeRecordLocked(name, func(r *record) bool {
		if r.Submitted.IsZero() || r.UID != uid || !r.EarlyPodMade.IsZero() && !made.Before(r.EarlyPodMade) {
			return false
		}
		r.EarlyPodMade, r.EarlyPod = made.UTC(), sidePodName(pod)
		return true
	})
	return err
}

// keepSucceeded records in the attempt's record (name, of the Job of UID
// uid) that its pod of UID pod, made at made, was seen Succeeded
// (record.Succeeded), unless the record has an end already, names another
// Job's UID, holds the pod, or holds maxSeenSucceeded pods. The record is
// read and written under recMu, as keepUID does: written at most once per
// pod, for pods the Job controller counts as the Job's.
// With succeeded false the pod is kept in record.Ended instead. A pod
// that succeeded with a completion index (index, or -1) has it kept in
// record.SucceededIndexes, past maxSeenSucceeded too: those past it in
// batches (batchIndexLocked).
func (b *Backend) keepSucceeded(name string, uid, pod types.UID, made time.Time, succeeded bool, index int) error {
	if len(validation.IsDNS1123Subdomain(name)) != 0 || uid == "" || pod == "" || made.IsZero() {
		return nil
	}
	b.recMu.Lock()
	defer b.recMu.Unlock()
	if succeeded && index >= 0 && b.queueIndexLocked(name, uid, index, made) {
		return nil
	}
	pod = sideUID(pod)
	_, err := b.changeRecordLocked(name, func(r *record) bool {
		if r.Submitted.IsZero() || r.UID != uid {
			return false
		}
		list := &r.Succeeded
		if !succeeded {
			list = &r.Ended
		}
		if succeeded && index >= 0 && len(*list) >= maxSeenSucceeded {
			return b.batchIndexLocked(name, r, index, made)
		}
		changed := succeeded && index >= 0 && keepIndex(r, index, made)
		if len(*list) >= maxSeenSucceeded {
			return changed
		}
		for _, s := range *list {
			if s.UID == pod {
				return changed
			}
		}
		*list = append(*list, seenPod{UID: pod, Made: made.UTC()})
		return true
	})
	return err
}

// keepIndex adds index, of a pod made at made, to r's SucceededIndexes,
// reporting whether r changed. A list that would pass
// maxSucceededIndexes, or that does not read, is left as it is: the
// attempt is then told by its pods alone, and fails closed.
// It is a batch of one (addTo), so that the two ways an index reaches the
// record read, bound and write the list alike.
func keepIndex(r *record, index int, made time.Time) bool {
	return (&pendingIndexes{indexes: []int{index}, made: made}).addTo(r)
}

// Successes past maxSeenSucceeded change only the record's indexes, and
// each write of the record is an atomic write and a sync, made under recMu
// in the watch's pod handler: about 8 ms a success on a shared disk, 17 s
// for an attempt of 2,000 pods (BenchmarkKeepSucceeded). They are written
// in batches instead: once indexBatch are pending, indexBatchEvery after
// the first of them (a timer), at the Job's end, and at Close
// (flushIndexes). Indexes not yet written are lost at a crash, and the
// attempt is then told by its pods and fails closed (succeededByIndex):
// the record never holds an index at which no pod of the attempt's was
// seen to succeed.
const (
	indexBatch      = 128
	indexBatchEvery = time.Second
)

// pendingIndexes are completion indexes seen succeeded, of the Job of UID
// uid, not yet on record: made is when the earliest of their pods was
// made, since when the first was seen.
type pendingIndexes struct {
	uid     types.UID
	indexes []int
	made    time.Time
	since   time.Time
	// timer writes them indexBatchEvery after the first, where no later
	// success does it first.
	timer *time.Timer
}

// batchIndexLocked adds index, of a pod made at made, to what is pending
// for the attempt's record r (name), and adds all that is pending to r
// where a batch is due, reporting whether r changed. recMu is held.
func (b *Backend) batchIndexLocked(name string, r *record, index int, made time.Time) bool {
	p := b.pending[name]
	if p == nil || p.uid != r.UID {
		if b.pending == nil {
			b.pending = map[string]*pendingIndexes{}
		}
		if p != nil {
			p.timer.Stop()
		}
		p = &pendingIndexes{uid: r.UID, made: made, since: time.Now()}
		p.timer = time.AfterFunc(indexBatchEvery, func() { _ = b.flushIndexes(name) })
		b.pending[name] = p
	}
	p.add(index, made)
	if len(p.indexes) < indexBatch && time.Since(p.since) < indexBatchEvery {
		return false
	}
	p.timer.Stop()
	delete(b.pending, name)
	return p.addTo(r)
}

// queueIndexLocked adds index, of a pod made at made, to the batch
// pending for the attempt's record (name) where one is pending for the
// Job of UID uid and the index does not make it due, and reports whether
// it did. The record was read when the batch began: it had
// maxSeenSucceeded pods then, and its UID, neither of which changes (an
// end written since is not undone: flushIndexesLocked writes through
// changeRecordLocked). A success in a batch then costs no read of the
// record (a file read and a JSON decode under recMu); false, and the
// record is read as before (batchIndexLocked).
func (b *Backend) queueIndexLocked(name string, uid types.UID, index int, made time.Time) bool {
	p := b.pending[name]
	if p == nil || p.uid != uid || len(p.indexes)+1 >= indexBatch || time.Since(p.since) >= indexBatchEvery {
		return false
	}
	p.add(index, made)
	return true
}

// add puts index, of a pod made at made, in the batch.
func (p *pendingIndexes) add(index int, made time.Time) {
	p.indexes = append(p.indexes, index)
	if made.Before(p.made) {
		p.made = made
	}
}

// addTo adds the pending indexes to r, reporting whether r changed. The
// record's list is read and written once for the batch, not once per
// index (keepIndex): a batch is up to indexBatch indexes, each read of a
// scattered list thousands of ranges, all under recMu. A list that does
// not read, or that with the batch would pass maxSucceededIndexes, is left
// as it is, as keepIndex leaves it: the attempt is then told by its pods
// alone, and fails closed.
func (p *pendingIndexes) addTo(r *record) bool {
	rs, ok := parseIndexes(r.SucceededIndexes, maxIndexedCompletions)
	if !ok {
		return false
	}
	batch := make([]indexRange, 0, len(p.indexes))
	for _, i := range p.indexes {
		if i >= 0 && i < maxIndexedCompletions {
			batch = append(batch, indexRange{i, i})
		}
	}
	all := unionIndexes(rs, batch)
	if slices.Equal(all, rs) {
		return false
	}
	s := formatIndexes(all)
	if len(s) > maxSucceededIndexes {
		return false
	}
	r.SucceededIndexes = s
	if r.SucceededIndexesMade.IsZero() || p.made.Before(r.SucceededIndexesMade) {
		r.SucceededIndexesMade = p.made.UTC()
	}
	return true
}

// flushIndexes writes what is pending for the attempt's record (name), of
// the Job whose UID it holds: at the Job's end, or before its record is
// read to judge its success. A write that fails leaves them unwritten (fails
// closed).
func (b *Backend) flushIndexes(name string) error {
	b.recMu.Lock()
	defer b.recMu.Unlock()
	return b.flushIndexesLocked(name)
}

// flushIndexesLocked is flushIndexes with recMu held.
func (b *Backend) flushIndexesLocked(name string) error {
	p := b.pending[name]
	if p == nil {
		return nil
	}
	p.timer.Stop()
	delete(b.pending, name)
	_, err := b.changeRecordLocked(name, func(r *record) bool {
		return r.UID == p.uid && p.addTo(r)
	})
	return err
}

// flushAllIndexes writes what is pending for every attempt's record
// (Close). A write that fails leaves its indexes unwritten (fails closed).
func (b *Backend) flushAllIndexes() {
	b.recMu.Lock()
	defer b.recMu.Unlock()
	for name := range b.pending {
		_ = b.flushIndexesLocked(name)
	}
}
