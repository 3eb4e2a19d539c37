package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/store"
)

// keyEntries counts the log's audit-anchored entries.
func keyEntries(t *testing.T, st state) int {
	t.Helper()
	r, err := store.OpenAuditReader(context.Background(), st.Database())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	es, err := r.AuditSelect(context.Background(), store.AuditQuery{Kinds: []string{audit.KindAnchored}, AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestAuditFirstAnchorRace: a CLI command that writes the log and a
// server's first start on the same state directory each anchor a log that
// names no anchor key: verify it, write a first anchor, record the key.
// Both could find no key and both anchor it, the server in its
// --audit-anchor directory and the CLI in STATE/anchor: the log then named
// two keys, and whichever anchor its last entry did not name failed at
// the next start (anchor-replaced or anchor-missing), or, in one directory,
// the log recorded the key twice. Both now take the state directory's
// audit lock around the check and the writes: exactly one key entry, and
// the log verifies against the anchor it names.
func TestAuditFirstAnchorRace(t *testing.T) {
	ctx := context.Background()
	for _, elsewhere := range []bool{false, true} {
		for i := 0; i < 12; i++ {
			dir := t.TempDir()
			for _, d := range []string{filepath.Dir(dir), dir} {
				os.Chmod(d, 0o711) // workloads run as another user pass through
			}
			st := state{Dir: statedir.Dir{Path: filepath.Join(dir, "state")}}
			// An upgrade's log: entries, no anchor, no key entry; long
			// enough that verifying it takes a while.
			db := openStateDB(t, st)
			appendUnanchored(t, db, 2000)
			db.Close()
			anchorDir := ""
			if elsewhere {
				anchorDir = filepath.Join(dir, "anchor-elsewhere")
			}
			opts := serverOptions{StateDir: st.Path, AnchorDir: anchorDir, Listen: "127.0.0.1:0", Poll: 100 * time.Millisecond, SiteTimeout: 5 * time.Second, Log: io.Discard}
			var wg sync.WaitGroup
			start := make(chan struct{})
			var cliErr, serveErr error
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				d, err := st.auditStore(ctx)
				if err != nil {
					cliErr = err
					return
				}
				cliErr = d.Close()
			}()
			go func() {
				defer wg.Done()
				<-start
				s, err := startServer(opts)
				if err != nil {
					serveErr = err
					return
				}
				s.Close()
			}()
			close(start)
			wg.Wait()
			name := fmt.Sprintf("anchor elsewhere %v, try %d", elsewhere, i)
			if cliErr != nil {
				t.Fatalf("%s: CLI: %v", name, cliErr)
			}
			if n := keyEntries(t, st); n != 1 {
				t.Fatalf("%s: the log holds %d audit-anchored entries, want 1 (server: %v)", name, n, serveErr)
			}
			// The log verifies against the anchor it names: the server's
			// when it started, else the CLI's (and the server refused,
			// naming STATE/anchor).
			against := ""
			if serveErr == nil {
				against = anchorDir
			} else if !elsewhere || !strings.Contains(serveErr.Error(), audit.AnchorMissing) {
				t.Fatalf("%s: serve: %v", name, serveErr)
			}
			res, err := verifyOffline(ctx, st.Path, against)
			if err != nil || !res.OK || res.Unproven != "" || res.AnchorKeySeq != 2001 {
				t.Fatalf("%s: verify against %q: %+v %v (server: %v)", name, against, res, err, serveErr)
			}
		}
	}
}
