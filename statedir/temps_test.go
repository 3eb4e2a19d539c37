package statedir

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/internal/atomicfile"
)

// TestStaleTempsRemovedAtStart: a server or CLI command killed between
// writing a secret or client.json to its temporary file and renaming it
// left the file in the state directory for good. The next Secret (a
// server's start) and WriteClient remove those an hour old; a fresh one,
// which a concurrent writer may be filling, and files of other names stay.
func TestStaleTempsRemovedAtStart(t *testing.T) {
	for _, call := range []struct {
		name string
		do   func(Dir) error
	}{
		{"Secret", func(d Dir) error { _, err := d.Secret(AgentKey); return err }},
		{"WriteClient", func(d Dir) error { return d.WriteClient(Client{Server: "https://x"}) }},
	} {
		t.Run(call.name, func(t *testing.T) {
			d := Dir{Path: t.TempDir()}
			old := time.Now().Add(-2 * atomicfile.StaleTempAge)
			write := func(name string, mtime time.Time) string {
				p := d.Join(name)
				if err := os.WriteFile(p, []byte("torn"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, mtime, mtime); err != nil {
					t.Fatal(err)
				}
				return p
			}
			stale := []string{write(".agent.key.tmp-1", old), write(".audit.key.tmp-22", old), write(".client.json.tmp-333", old), write(".store.shared.tmp-4", old)}
			kept := []string{write(".agent.key.tmp-5", time.Now()), write(".client.json.tmp-6", time.Now()), write(".meridian.db.tmp-7", old)}
			if err := call.do(d); err != nil {
				t.Fatal(err)
			}
			for _, p := range stale {
				if _, err := os.Lstat(p); !os.IsNotExist(err) {
					t.Errorf("%s: %v, want it removed", filepath.Base(p), err)
				}
			}
			for _, p := range kept {
				if _, err := os.Lstat(p); err != nil {
					t.Errorf("%s: %v, want it kept", filepath.Base(p), err)
				}
			}
		})
	}
}
