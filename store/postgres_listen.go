package store

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"meridian.dev/meridian/catalog"
)

// runsChannel is the channel each replica announces the run changes it
// commits on: a payload is lines "tenant id", one per changed run, or "*"
// for "some were not announced: read everything again".
const runsChannel = "meridian_run_changes"

// Announcement bounds: changes waiting to be sent (past it, the next
// payload says "*"), and a payload's size (PostgreSQL refuses 8,000 bytes).
const (
	announceQueue   = 4096
	announceMaxSize = 7900
)

// announcer sends the run changes this process commits, after their
// commits and off their transactions: a notification inside a writing
// transaction takes the database's notification lock at commit, while the
// audit chain's head is locked, and cost submissions on three replicas 7 %
// of their throughput; out here one NOTIFY carries every change committed
// meanwhile. A crash between a commit and its announcement loses that
// announcement; the event streams' own reads (a second for a run's, five
// for a tenant's list) cover it.
type announcer struct {
	ch     chan string
	lost   atomic.Bool
	cancel context.CancelFunc
	done   chan struct{}
}

// announce queues a committed change to tenant's run id, without blocking.
// A line longer than a listener takes (maxAnnounceLine) goes as "*".
func (s *Postgres) announce(tenant, id string) {
	line := tenant + " " + id
	if len(line) > maxAnnounceLine {
		line = "*"
	}
	select {
	case s.ann.ch <- line:
	default:
		s.ann.lost.Store(true)
	}
}

// startAnnouncer sends queued changes until Close.
func (s *Postgres) startAnnouncer() {
	ctx, cancel := context.WithCancel(context.Background())
	s.ann = &announcer{ch: make(chan string, announceQueue), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.ann.done)
		var b strings.Builder
		for {
			b.Reset()
			select {
			case <-ctx.Done():
				return
			case line := <-s.ann.ch:
				b.WriteString(line)
			}
			if s.ann.lost.Swap(false) {
				b.WriteString("\n*")
			}
		more:
			for b.Len() < announceMaxSize-len("\n")-maxAnnounceLine {
				select {
				case line := <-s.ann.ch:
					b.WriteString("\n" + line)
				default:
					break more
				}
			}
			if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, runsChannel, b.String()); err != nil && ctx.Err() == nil {
				s.ann.lost.Store(true) // the next payload asks for a full read
			}
		}
	}()
}

// maxAnnounceLine bounds one line: a tenant name (a DNS label, 63 bytes)
// and a run id, with room to spare. Listeners drop longer lines.
const maxAnnounceLine = 200

func (s *Postgres) stopAnnouncer() {
	s.ann.cancel()
	<-s.ann.done
}

// RunChanges is what a RunListener tells its caller.
type RunChanges struct {
	// Changed is called with the tenant and id of a run whose change some
	// replica committed (this one included), in commit order.
	Changed func(tenant, id string)
	// Resync is called each time listening (re)starts: changes committed
	// while nobody listened were not announced, so whoever waits on one
	// should read again.
	Resync func()
	// Lost is called when the listening connection fails, before
	// ListenRuns connects again.
	Lost func(err error)
}

// RunListener is a Store that announces the run changes every replica
// commits, not only this process's: the API's event streams wake on them
// instead of waiting for their next poll.
type RunListener interface {
	// ListenRuns calls h's functions until ctx ends. It never returns
	// early: a lost connection is reported to h.Lost and opened again, the
	// waits between tries doubling from 100 ms to 5 s.
	ListenRuns(ctx context.Context, h RunChanges)
}

// Listener backoff bounds; a connection that listened this long before it
// failed starts the backoff over.
const (
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 5 * time.Second
	listenHealthy    = time.Minute
)

// ListenRuns implements RunListener with PostgreSQL's LISTEN on a
// connection of its own, taken out of the pool (a listening session must
// not serve other queries). The notification queue is the database's:
// a listener that stops reading without closing its connection (a frozen
// process) holds notifications back for every replica until the queue,
// 8 GB by default, is full and notifying transactions fail; the database
// logs a warning from half full on, naming the listener's process.
func (s *Postgres) ListenRuns(ctx context.Context, h RunChanges) {
	wait := listenBackoffMin
	for ctx.Err() == nil {
		start := time.Now()
		err := s.listenOnce(ctx, h)
		if ctx.Err() != nil {
			return
		}
		if h.Lost != nil {
			h.Lost(err)
		}
		if time.Since(start) >= listenHealthy {
			wait = listenBackoffMin
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, listenBackoffMax)
	}
}

// listenOnce listens on one connection until it fails or ctx ends.
func (s *Postgres) listenOnce(ctx context.Context, h RunChanges) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := pc.Hijack()
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+runsChannel); err != nil {
		return err
	}
	if h.Resync != nil {
		h.Resync()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel != runsChannel {
			continue
		}
		heard(n.Payload, h)
	}
}

// heard passes a payload's lines to h. Any session of the database may
// notify the channel, so a payload is read as hostile: "*" asks h for a
// Resync once a payload however many times it is there (each is a read
// of every watched run, and a payload of 8,000 bytes holds 4,000 of
// them), and a line that no replica writes (longer than maxAnnounceLine,
// or whose tenant is not a tenant name) is dropped.
func heard(payload string, h RunChanges) {
	resynced := false
	for line := range strings.Lines(payload) {
		line = strings.TrimSuffix(line, "\n")
		if line == "*" {
			if !resynced && h.Resync != nil {
				h.Resync()
			}
			resynced = true
			continue
		}
		if len(line) > maxAnnounceLine {
			continue
		}
		if tenant, id, ok := strings.Cut(line, " "); ok && catalog.ValidTenant(tenant) && id != "" && h.Changed != nil {
			h.Changed(tenant, id)
		}
	}
}
