package transfer

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadFileLedger: any file content gives entries or an error naming a
// line, never a panic.
func FuzzReadFileLedger(f *testing.F) {
	f.Add([]byte(`{"time":"2026-01-15T00:00:00Z","kind":"transfer","runId":"r","payload":{"dataset":"d","site":"s","from":"CN","to":"MY","rules":[],"asOf":"2026-01-15","chunks":1,"chunksSent":1,"bytes":5,"bytesSent":34}}` + "\n"))
	f.Add([]byte("{\n"))
	f.Add([]byte(`{"kind":"transfer","payload":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "ledger.jsonl")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		recs, ents, err := ReadFileLedger(p, "")
		if err == nil && len(recs) != len(ents) {
			t.Fatalf("%d records but %d entries", len(recs), len(ents))
		}
	})
}
