package store

import (
	"sync"

	"meridian.dev/meridian/audit"
)

// appendedHead is the last entry this store appended to the audit log
// and saw committed: the highest seq, with its hash. An index that reads
// the log checks that it still holds it (transfer's notCut), so that
// entries this process wrote after the index last read the log, and that
// someone who writes the database cut before the index's next read, are
// found cut rather than never seen: the index's own head, read before
// them, is still there. Entries other processes append (other replicas
// of a server over one PostgreSQL) are not in it.
type appendedHead struct {
	mu   sync.Mutex
	seq  int64
	hash string
}

// raise moves a to head when head is past it. Commits made at once may
// tell theirs out of order: the highest stays.
func (a *appendedHead) raise(head *audit.Entry) {
	if head == nil {
		return
	}
	a.mu.Lock()
	if head.Seq > a.seq {
		a.seq, a.hash = head.Seq, head.Hash
	}
	a.mu.Unlock()
}

func (a *appendedHead) get() (seq int64, hash string, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seq, a.hash, a.seq > 0
}

// AuditAppended returns the seq and hash of the last audit entry this
// store appended (ok false: none since it was opened).
func (s *SQLite) AuditAppended() (seq int64, hash string, ok bool) { return s.appended.get() }

// AuditAppended returns the seq and hash of the last audit entry this
// store appended (ok false: none since it was opened). Other replicas'
// appends are not counted.
func (s *Postgres) AuditAppended() (seq int64, hash string, ok bool) { return s.appended.get() }
