package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

func nowUTC() time.Time { return time.Now().UTC() }

// anchorer follows the store's audit head into the anchor directory.
type anchorer struct {
	*audit.Follower
	st serverStore
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
func checkAuditAtStart(ctx context.Context, st serverStore, anchors *audit.Anchors, accept bool, w io.Writer) error {
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
	st      serverStore
	anchors *audit.Anchors
}

func (a auditReader) AuditSelect(ctx context.Context, q store.AuditQuery) ([]audit.Entry, error) {
	return a.st.AuditSelect(ctx, q)
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
