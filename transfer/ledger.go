package transfer

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"meridian.dev/meridian/audit"
)

// Ledger records what crossed which border. *audit.Log implements it on the
// hash-chained audit log. Append is called once per completed staging, after the
// data is in place; it must be durable when it returns.
type Ledger interface {
	Append(ctx context.Context, kind, runID string, payload any) error
}

// KindTransfer is the ledger kind of a staging: the audit log's own kind
// for data transfers, so `meridian audit verify` covers the ledger.
const KindTransfer = audit.KindTransfer

// Entry is the payload of one KindTransfer ledger record.
type Entry struct {
	Dataset    string   `json:"dataset"`
	Site       string   `json:"site"`
	From       string   `json:"from"`
	To         string   `json:"to"`
	Basis      string   `json:"basis,omitempty"`
	Rules      []string `json:"rules"`               // ids of the rules that reported a finding
	Evaluated  []string `json:"evaluated,omitempty"` // ids of every transfer rule in force on AsOf (when the law can list them)
	AsOf       string   `json:"asOf"`
	RunID      string   `json:"runId,omitempty"`
	Chunks     int      `json:"chunks"`     // chunks in the dataset
	ChunksSent int      `json:"chunksSent"` // chunks copied this time
	Bytes      int64    `json:"bytes"`      // plaintext bytes in the dataset
	BytesSent  int64    `json:"bytesSent"`  // sealed bytes copied this time
	// Who exported what, for volume thresholds that count a year of
	// exports (policy.Exports, read by LedgerExports). Entries written
	// before these fields existed lack them and are not counted.
	Organization   string `json:"organization,omitempty"`   // the exporting organisation
	Origin         string `json:"origin,omitempty"`         // the dataset's origin country
	Classification string `json:"classification,omitempty"` // the dataset's classification
	Subjects       int64  `json:"subjects,omitempty"`       // people the dataset covers
}

// FileLedger is a Ledger kept as JSON lines in one file, each line fsynced
// before Append returns, for tests and embedders without the audit store.
// It is append-only by convention, not tamper-evident; the command line
// uses the audit log.
type FileLedger struct {
	Path string
	Now  func() time.Time // defaults to time.Now

	mu sync.Mutex
}

// Record is one line of a FileLedger.
type Record struct {
	Time    time.Time       `json:"time"`
	Kind    string          `json:"kind"`
	RunID   string          `json:"runId,omitempty"`
	Payload json.RawMessage `json:"payload"`
}

// Append implements Ledger.
func (l *FileLedger) Append(ctx context.Context, kind, runID string, payload any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	line, err := json.Marshal(Record{Time: now().UTC(), Kind: kind, RunID: runID, Payload: p})
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.OpenFile(l.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("ledger: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("ledger: %w", err)
	}
	return f.Close()
}

// ReadFileLedger returns the transfer entries of a FileLedger in order,
// those of one dataset when dataset is not empty. A missing file is an empty
// ledger; a damaged line is an error naming its line number.
func ReadFileLedger(path, dataset string) ([]Record, []Entry, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var recs []Record
	var ents []Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if r.Kind != KindTransfer {
			continue
		}
		var e Entry
		if err := json.Unmarshal(r.Payload, &e); err != nil {
			return nil, nil, fmt.Errorf("%s:%d: payload: %w", path, n, err)
		}
		if dataset != "" && e.Dataset != dataset {
			continue
		}
		recs = append(recs, r)
		ents = append(ents, e)
	}
	return recs, ents, sc.Err()
}

// The audit log is the production Ledger.
var _ Ledger = (*audit.Log)(nil)
