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
	"meridian.dev/meridian/internal/pgtest"
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

// TestAuditFirstAnchorRaceReplicas: replicas of one PostgreSQL store that
// start together each find a log that names no anchor key, and each would
// record the key of their shared anchor directory. The state directory's
// lock serialises them only where they share it through a file system
// whose locks reach every machine: each replica here has a state
// directory of its own (holding the same audit key). A lease in the store
// lets one record the key and the others find it.
func TestAuditFirstAnchorRaceReplicas(t *testing.T) {
	pgtest.ServerURL(t)
	ctx := context.Background()
	for i := 0; i < 8; i++ {
		db := pgtest.NewDatabase(t)
		base := t.TempDir()
		for _, d := range []string{filepath.Dir(base), base} {
			os.Chmod(d, 0o711) // workloads run as another user pass through
		}
		anchorDir := filepath.Join(base, "anchor")
		if _, err := audit.OpenAnchors(anchorDir); err != nil { // its key, as a deployment provisions it
			t.Fatal(err)
		}
		var dirs []string
		var key []byte
		for r := 0; r < 3; r++ {
			d := filepath.Join(base, fmt.Sprintf("state-%d", r))
			if err := os.MkdirAll(d, 0o711); err != nil {
				t.Fatal(err)
			}
			if r == 0 {
				var err error
				if key, err = audit.LoadKey(d); err != nil {
					t.Fatal(err)
				}
				// A log of entries from before anchoring: none names a key.
				s, err := store.OpenPostgres(ctx, db, store.Options{AuditKey: key})
				if err != nil {
					t.Fatal(err)
				}
				for n := 0; n < 200; n++ {
					rec, _ := audit.NewRecord(KindScreeningDecision, "", map[string]int{"n": n})
					if err := s.AppendAudit(ctx, rec); err != nil {
						t.Fatal(err)
					}
				}
				s.Close()
			} else {
				b, err := os.ReadFile(filepath.Join(dirs[0], "audit.key"))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(d, "audit.key"), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			dirs = append(dirs, d)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, len(dirs))
		for r, d := range dirs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				s, err := startServer(serverOptions{StateDir: d, Store: db, AnchorDir: anchorDir, Replica: fmt.Sprintf("r%d", r),
					Listen: "127.0.0.1:0", Poll: 100 * time.Millisecond, SiteTimeout: 5 * time.Second, Log: io.Discard})
				if err == nil {
					s.Close()
				}
				errs[r] = err
			}()
		}
		close(start)
		wg.Wait()
		for r, err := range errs {
			if err != nil {
				t.Fatalf("try %d: replica %d: %v", i, r, err)
			}
		}
		s, err := store.OpenPostgres(ctx, db, store.Options{AuditKey: key})
		if err != nil {
			t.Fatal(err)
		}
		es, err := s.AuditSelect(ctx, store.AuditQuery{Kinds: []string{audit.KindAnchored}, AllTenants: true})
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 {
			t.Fatalf("try %d: the log holds %d audit-anchored entries, want 1", i, len(es))
		}
	}
}
