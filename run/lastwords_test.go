package run

import (
	"context"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// TestLastWordsFromAttemptEnd: an ended attempt's agent may send its last
// output and exit code for logGrace after the attempt ended. The window
// was measured from the run's last write, so each later write to the ended
// run (a sweep's) opened it again and the attempt's credential kept
// working. Past logGrace from the attempt's end it is now refused, however
// recently the run was written.
func TestLastWordsFromAttemptEnd(t *testing.T) {
	var shift atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	e := newEnv(t, func(c *Config) {
		st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "m.db"), store.Options{AuditKey: []byte("test key 0123456"), Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		c.Store, c.Now = st, clock
		c.Stager.Ledger = transfer.AuditLedger{Store: st}
	})
	r, a := cancelledAttempt(t, e)
	shift.Add(int64(logGrace * 3 / 4))
	if _, err := e.c.update(context.Background(), r.ID, func(r *Run, ch *store.Change) error {
		ch.Events = append(ch.Events, store.Event{Kind: "note", Reason: "a later write to the ended run"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	shift.Add(int64(logGrace / 2))
	if code, msg, _ := agentPost(t, e, r, a, agent.RouteExit, []byte(`{"code": 0}`)); code != http.StatusGone {
		t.Errorf("an exit %v after the attempt ended, %v after a later write to the run: %d %s; want 410", logGrace*5/4, logGrace/2, code, msg)
	}
}
