package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/store"
)

// agentKeyFile holds the secret the attempts' credentials derive from.
const agentKeyFile = "agent.key"

// loadSecret reads a 32-byte hex secret from dir/name, creating it (0600)
// on first use; one that others may read is refused.
func loadSecret(dir, name string) ([]byte, error) {
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return key, nil
	}
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %v lets others read it; want 0600", path, fi.Mode().Perm())
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("%s: want at least 16 hex-encoded bytes", path)
	}
	return key, nil
}

func nowUTC() time.Time { return time.Now().UTC() }

// anchorer follows the store's audit head into the anchor directory.
type anchorer struct {
	*audit.Follower
	st *store.SQLite
}

func newAnchorer(a *audit.Anchors, log *slog.Logger) *anchorer {
	an := &anchorer{}
	an.Follower = audit.NewFollower(a, func(ctx context.Context, seq int64) (string, bool, error) {
		return an.st.AuditHashAt(ctx, seq)
	}, func(err error) {
		log.Error("audit anchor not advanced: the log no longer extends its anchor, or the anchor cannot be written", "err", err)
	})
	return an
}

func (a *anchorer) notify(seq int64, head string) { a.Notify(seq, head) }
func (a *anchorer) run()                          { a.Run() }
func (a *anchorer) close()                        { a.Close() }

// checkAuditAtStart verifies the whole chain and its anchor. A broken log
// stops the server unless the operator accepts it, which is written to the
// log (and the anchor moved to the accepted head) before anything else.
func checkAuditAtStart(ctx context.Context, st *store.SQLite, anchors *audit.Anchors, accept bool, w io.Writer) error {
	res, err := st.VerifyAuditAnchored(ctx, anchors)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if !res.OK {
		if !accept {
			return fmt.Errorf("audit log does not verify: %v; refusing to serve (start with --accept-broken-audit to serve anyway; that acceptance is itself recorded)", res.Problem)
		}
		fmt.Fprintf(w, "warning: audit log does not verify (%v); serving because --accept-broken-audit was given\n", res.Problem)
		if err := audit.NewLog(st).Append(ctx, "audit-broken-accepted", "", map[string]any{"problem": res.Problem, "anchored": res.Anchored, "by": "operator (serve --accept-broken-audit)"}); err != nil {
			return err
		}
		seq, head, err := st.AuditHead(ctx)
		if err != nil {
			return err
		}
		return anchors.Reset(seq, head, nowUTC())
	}
	seq, head, err := st.AuditHead(ctx)
	if err != nil || seq == 0 {
		return err
	}
	return anchors.Advance(ctx, seq, head, st.AuditHashAt, nowUTC())
}

// auditReader serves the API's audit routes, verifying against the anchor.
type auditReader struct {
	st      *store.SQLite
	anchors *audit.Anchors
}

func (a auditReader) AuditEntries(ctx context.Context, runID string) ([]audit.Entry, error) {
	return a.st.AuditEntries(ctx, runID)
}

func (a auditReader) VerifyAudit(ctx context.Context) (audit.Result, error) {
	return a.st.VerifyAuditAnchored(ctx, a.anchors)
}

// raiseFileLimit lifts the soft limit on open files to the hard one, so
// that connection limits, not the kernel's default, bound the server.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
