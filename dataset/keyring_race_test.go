package dataset

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
)

// meetingLog is a key log whose appends wait a moment for a second
// appender; when one comes, the first appends and stores its key file
// before the second appends: the order in which two creators of one key,
// unserialised, leave the keyring's key older than the latest record.
type meetingLog struct {
	*store.SQLite
	keyFile string

	mu    sync.Mutex
	n     int
	met   chan struct{}
	first chan struct{}
}

func (l *meetingLog) AppendAudit(ctx context.Context, recs ...audit.Record) error {
	l.mu.Lock()
	l.n++
	n := l.n
	if n == 2 {
		close(l.met)
	}
	l.mu.Unlock()
	if n == 1 {
		select {
		case <-l.met:
		case <-time.After(500 * time.Millisecond):
		}
		defer close(l.first)
		return l.SQLite.AppendAudit(ctx, recs...)
	}
	<-l.first
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if fileExists(l.keyFile) {
			break
		}
	}
	return l.SQLite.AppendAudit(ctx, recs...)
}

// TestConcurrentCreatorsKeepTheRecordedKey: two creators of one new
// dataset's key at once (two `dataset add` of one name, each its own
// process with its own view of the log) both made a key and recorded it;
// one key file was written, and the latest record could name the other
// key, which refused the dataset's key for good. Now the second waits for
// the first's key and takes it: both get the key the log records, and it
// is used.
func TestConcurrentCreatorsKeepTheRecordedKey(t *testing.T) {
	const auditKey = "0123456789abcdef"
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "keyring")
	log := &meetingLog{SQLite: openKeyLog(t, auditKey), keyFile: filepath.Join(dir, "chat.key"),
		met: make(chan struct{}), first: make(chan struct{})}
	witness := func() *KeyWitness { return &KeyWitness{Log: log, Chain: audit.NewChain([]byte(auditKey))} }

	var wg sync.WaitGroup
	keys := make([]seal.Key, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kr := Keyring{Dir: dir, Tenant: DefaultTenant, Witness: witness()}
			keys[i], errs[i] = kr.GetOrCreateContext(ctx, "chat", "owner")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("creator %d: %v", i, err)
		}
	}
	if keys[0] != keys[1] {
		t.Fatalf("the creators got different keys: %s and %s", keys[0].Fingerprint(), keys[1].Fingerprint())
	}
	got, err := Keyring{Dir: dir, Tenant: DefaultTenant, Witness: witness()}.Get("chat")
	if err != nil || got != keys[0] {
		t.Fatalf("the dataset's key afterwards: %v (the one both got: %v)", err, got == keys[0])
	}
	if _, err := os.Stat(filepath.Join(dir, KeyLockFile)); err != nil {
		t.Fatalf("lock file: %v", err)
	}
}
