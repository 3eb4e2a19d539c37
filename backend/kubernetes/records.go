package kubernetes

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/internal/atomicfile"
)

// record is what the state directory keeps per Job: that this controller
// submitted it and, once known, how it ended. The end matters after the Job
// is deleted (by Cancel), when the cluster no longer has it.
type record struct {
	RunID     string          `json:"runID"`
	Attempt   int             `json:"attempt"`
	Namespace string          `json:"namespace"`
	Submitted time.Time       `json:"submitted,omitzero"`
	Final     *backend.Status `json:"final,omitempty"`
}

func (b *Backend) recordPath(name string) string {
	return filepath.Join(b.stateDir, "jobs", name+".json")
}

// record reads the Job's record; a missing or unreadable one is absent.
// Records with an end never change and are kept in memory.
func (b *Backend) record(name string) (record, bool) {
	b.recMu.Lock()
	fin, ok := b.finals[name]
	b.recMu.Unlock()
	if ok {
		return fin, true
	}
	data, err := os.ReadFile(b.recordPath(name))
	if err != nil {
		return record{}, false
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil || r.Namespace != b.ns {
		return record{}, false
	}
	if r.Final != nil {
		b.recMu.Lock()
		if len(b.finals) >= maxFinals {
			// A server's life sees more finished Jobs than it needs to
			// hold: the ones asked about again are read from disk again.
			clear(b.finals)
		}
		b.finals[name] = r
		b.recMu.Unlock()
	}
	return r, true
}

// maxFinals bounds the records with an end kept in memory.
const maxFinals = 4096

func (b *Backend) writeRecord(name string, r record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b.recMu.Lock()
	defer b.recMu.Unlock()
	if err := atomicfile.WriteFile(b.recordPath(name), data, 0o644); err != nil {
		return fmt.Errorf("record of job %s: %w", name, err)
	}
	return nil
}

// saveFinal records how the Job ended, unless an end is on record already.
func (b *Backend) saveFinal(name string, r record, st backend.Status) error {
	if cur, ok := b.record(name); ok && cur.Final != nil {
		return nil
	}
	r.Namespace = b.ns
	r.Final = &st
	return b.writeRecord(name, r)
}

// removeRecordIfUnfinished drops the record of a Job whose creation failed.
func (b *Backend) removeRecordIfUnfinished(name string) {
	if r, ok := b.record(name); ok && r.Final == nil {
		b.recMu.Lock()
		defer b.recMu.Unlock()
		if err := os.Remove(b.recordPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return
		}
	}
}
