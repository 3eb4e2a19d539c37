package dataset

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
)

// KeyRecordKind is the kind of the audit record of a dataset key's change:
// written before the key is stored, by the server's key change (PUT
// /v1/datasets/{name}/key) and by `meridian dataset add` on a dataset's
// first key. Its payload names the dataset and the key's fingerprint
// (seal.Key.Fingerprint), never the key.
const KeyRecordKind = "dataset-key"

// ErrKeyUnrecorded means a keyring's key is not the one the audit log
// records for its dataset: written into the keyring outside Meridian (by
// whoever may write the state directory, or a backup restored over it), or
// kept from before keys were recorded.
var ErrKeyUnrecorded = errors.New("the keyring's key is not the one the audit log records")

// ErrKeyLogUnread means the audit log's key records could not be read (its
// store failed): the key was neither confirmed nor refused, and the same
// read may pass a while later (Transient).
var ErrKeyLogUnread = errors.New("the audit log's key records could not be read")

type keyLogError struct{ err error }

func (e *keyLogError) Error() string        { return e.err.Error() }
func (e *keyLogError) Unwrap() error        { return e.err }
func (e *keyLogError) Is(target error) bool { return target == ErrKeyLogUnread }

// KeyRecord returns the audit record of tenant's key for dataset name, put
// by by ("tenant T", "owner"): to append before the key is stored.
func KeyRecord(tenant, name string, key seal.Key, by string) (audit.Record, error) {
	rec, err := audit.NewRecord(KeyRecordKind, "", map[string]string{"dataset": name, "fingerprint": key.Fingerprint(), "sha256": keySHA256(key), "by": by})
	if err != nil {
		return audit.Record{}, err
	}
	rec.Tenant = tenant
	return rec, nil
}

// keySHA256 is the hex SHA-256 of key's text form; its first 16 digits are
// the fingerprint.
func keySHA256(k seal.Key) string {
	sum := sha256.Sum256([]byte(k.String()))
	return hex.EncodeToString(sum[:])
}

// KeyLog is what a KeyWitness reads of the audit log (store.SQLite,
// store.Postgres and store.AuditReader are KeyLogs). Record appends to
// one that is a KeyAppender too.
type KeyLog interface {
	AuditSelect(ctx context.Context, q store.AuditQuery) ([]audit.Entry, error)
}

// KeyAppender is a KeyLog that Record appends to.
type KeyAppender interface {
	AppendAudit(ctx context.Context, recs ...audit.Record) error
}

// Key records are about 200 bytes: a page holds many, and an entry of
// that kind much larger (a row written into the database by hand) is
// passed over unread.
const (
	keyWitnessPage       = 1000
	keyWitnessPageBytes  = 1 << 20
	keyWitnessEntryBytes = 4 << 10
)

// KeyWitness confirms every key read from a keyring against the latest
// sealed key record of its tenant and dataset in the audit log, so that a
// key written into a keyring file outside Meridian is never used to stage,
// unseal, verify or be handed out. Only records sealed under the log's key
// (Chain) count: a row added to the database by hand names no key.
//
// It reads the key records once, then on each check only those appended
// since (a read of the log's kind index, usually empty): a check costs one
// indexed read however long the log.
type KeyWitness struct {
	Log   KeyLog
	Chain *audit.Chain
	// Remedy, when set, ends the refusal of a key no record names: what
	// its owner does to record it (a server: send the key again).
	Remedy string

	mu     sync.Mutex
	after  int64
	latest map[keyRef]keyRecorded
}

type keyRef struct{ tenant, name string }

type keyRecorded struct {
	fingerprint, sha256 string
	seq                 int64
}

// CheckKey refuses key unless the latest sealed key record of tenant's
// dataset name names it: with an error (wrapping ErrKeyUnrecorded) that
// names the dataset, the key's fingerprint and, when there is one, the
// record's.
func (w *KeyWitness) CheckKey(ctx context.Context, tenant, name string, key seal.Key) error {
	rec, ok, err := w.recorded(ctx, tenant, name)
	if err != nil {
		return fmt.Errorf("dataset %s: read the key records of the audit log: %w", name, err)
	}
	fp := key.Fingerprint()
	if !ok {
		msg := fmt.Sprintf("dataset %s of tenant %s: key %s: no sealed record of the audit log names a key of this dataset: %v (a key written into the keyring outside Meridian, or one kept from before keys were recorded); refused",
			name, catalog.TenantOr(tenant), fp, ErrKeyUnrecorded)
		if w.Remedy != "" {
			msg += "; " + w.Remedy
		}
		return &keyError{msg}
	}
	same := subtle.ConstantTimeCompare([]byte(fp), []byte(rec.fingerprint)) == 1
	if rec.sha256 != "" {
		same = subtle.ConstantTimeCompare([]byte(keySHA256(key)), []byte(rec.sha256)) == 1
	}
	if !same {
		return &keyError{fmt.Sprintf("dataset %s of tenant %s: key %s: %v, which names key %s (entry %d): written into the keyring outside Meridian, or a backup restored over it; refused: put back the recorded key, or change the key through Meridian",
			name, catalog.TenantOr(tenant), fp, ErrKeyUnrecorded, rec.fingerprint, rec.seq)}
	}
	return nil
}

type keyError struct{ msg string }

func (e *keyError) Error() string        { return e.msg }
func (e *keyError) Is(target error) bool { return target == ErrKeyUnrecorded }

// Recorded returns the latest sealed key record of tenant's dataset name
// (its fingerprint and seq), and whether there is one.
func (w *KeyWitness) Recorded(ctx context.Context, tenant, name string) (fingerprint string, seq int64, ok bool, err error) {
	rec, ok, err := w.recorded(ctx, tenant, name)
	return rec.fingerprint, rec.seq, ok, err
}

func (w *KeyWitness) recorded(ctx context.Context, tenant, name string) (keyRecorded, bool, error) {
	if w == nil || w.Log == nil || w.Chain == nil {
		// Fails closed: a witness with no log confirms nothing.
		return keyRecorded{}, false, errors.New("no audit log to confirm keys against")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.catchUp(ctx); err != nil {
		return keyRecorded{}, false, &keyLogError{err}
	}
	rec, ok := w.latest[keyRef{catalog.TenantOr(tenant), name}]
	return rec, ok, nil
}

// catchUp reads the key records sealed since the last read.
func (w *KeyWitness) catchUp(ctx context.Context) error {
	if w.latest == nil {
		w.latest = map[keyRef]keyRecorded{}
	}
	q := store.AuditQuery{Kinds: []string{KeyRecordKind}, AllTenants: true, After: w.after,
		Limit: keyWitnessPage, MaxBytes: keyWitnessPageBytes, MaxEntryBytes: keyWitnessEntryBytes}
	for {
		page, err := w.Log.AuditSelect(ctx, q)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		for _, e := range page {
			w.after = max(w.after, e.Seq)
			if e.Kind != KeyRecordKind || !w.Chain.Sealed(e) {
				continue
			}
			var p struct {
				Dataset     string `json:"dataset"`
				Fingerprint string `json:"fingerprint"`
				SHA256      string `json:"sha256"`
			}
			if json.Unmarshal(e.Payload, &p) != nil || p.Dataset == "" || p.Fingerprint == "" {
				continue
			}
			w.latest[keyRef{catalog.TenantOr(e.Tenant), p.Dataset}] = keyRecorded{p.Fingerprint, p.SHA256, e.Seq}
		}
		q.After = w.after
	}
}

// Record appends the key record of tenant's key for dataset name (by says
// who put it), sealed: to call before the key is stored, so that no stop in
// between leaves a key the log never named.
func (w *KeyWitness) Record(ctx context.Context, tenant, name string, key seal.Key, by string) error {
	var log KeyAppender
	if w != nil {
		log, _ = w.Log.(KeyAppender)
	}
	if log == nil {
		return fmt.Errorf("dataset %s: no audit log to record the key in, so it was not kept", name)
	}
	rec, err := KeyRecord(tenant, name, key, by)
	if err != nil {
		return err
	}
	if err := log.AppendAudit(ctx, rec); err != nil {
		return fmt.Errorf("dataset %s: the key could not be recorded, so it was not kept: %w", name, err)
	}
	return nil
}
