package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// markBatch is how many runs one transaction of the data mark's backfill
// marks: each batch locks its rows only until it commits, so a write of
// one of them waits at most one batch.
const markBatch = 1000

// A batch of the backfill that fails (a serialization failure, a
// statement timeout, the database restarting) is tried again after
// markRetryMin, each further failure in a row waiting twice as long, up to
// markRetryMax, until the store closes. A backfill that gave up at its
// first error left every run after it unmarked, and every list reading
// them through the slower function, until the server next started.
const (
	markRetryMin = time.Second
	markRetryMax = 5 * time.Minute
)

// marker is the background backfill of migration 00010's mark.
type marker struct {
	cancel context.CancelFunc
	done   chan struct{}
	// marked and err are what the backfill did, read after done closes.
	marked int64
	err    error
}

// startMarker marks, in the background, the runs written before migration
// 00010 gave runs.data_object: until a run is marked every list without
// documents reads its data through meridian_list_data, several times the
// cost of the plain read, and a finished run is never written again to be
// marked. The open does not wait for it (a large table takes a while);
// Close stops it.
func (s *Postgres) startMarker() {
	ctx, cancel := context.WithCancel(context.Background())
	m := &marker{cancel: cancel, done: make(chan struct{})}
	s.mark = m
	go func() {
		defer close(m.done)
		m.marked, m.err = s.markDataObjects(ctx, markBatch)
	}()
}

func (s *Postgres) stopMarker() {
	if s.mark != nil {
		s.mark.cancel()
		<-s.mark.done
	}
}

// markDataObjects marks every run whose data is not marked yet, batch
// rows to a transaction, in the order of their ids, until none is left or
// ctx ends, and returns how many it marked. Replicas started together
// each do it: a batch skips the rows another transaction holds (another
// replica's batch, a write of the run, which marks it itself) instead of
// waiting for them, so neither waits on the other nor on a run's writer.
// A row skipped that stays unmarked is read correctly, through the slower
// function, and is marked at the next start.
//
// A batch that fails is tried again (see markRetryMin), half as large: a
// batch of runs whose data is large enough to outlast the statement
// timeout would fail the same way each time it was tried whole. The
// batches stay that size: growing them again would fail again, at the
// cost of a timeout's work each time. A batch of one run that fails
// passes that run by (it is read through the slower function until the
// next start marks it) rather than leave every run after it unmarked.
// The error returned is only ever ctx's.
func (s *Postgres) markDataObjects(ctx context.Context, batch int) (int64, error) {
	var total int64
	after := ""
	wait := markRetryMin
	size := batch
	for {
		n, last, err := s.markDataObjectBatch(ctx, after, size)
		if err != nil {
			if ctx.Err() != nil {
				return total, ctx.Err()
			}
			if err := s.markPause(ctx, wait); err != nil {
				return total, err
			}
			wait = min(2*wait, markRetryMax)
			if size > 1 {
				size /= 2
				continue
			}
			next, ok, err := s.nextUnmarked(ctx, after)
			if err != nil || !ok {
				// Tried again after the next wait, or none is left
				// (another replica marked it).
				continue
			}
			after = next
			continue
		}
		wait = markRetryMin
		total += n
		if n == 0 {
			return total, nil
		}
		after = last
	}
}

// nextUnmarked is the id of the first unmarked run after after.
func (s *Postgres) nextUnmarked(ctx context.Context, after string) (string, bool, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT id FROM runs WHERE data_object IS NULL AND id > $1 ORDER BY id LIMIT 1`, after).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return id, err == nil, err
}

// markPause waits d before a failed batch is tried again, or until ctx
// ends (its error).
func (s *Postgres) markPause(ctx context.Context, d time.Duration) error {
	if s.markWait != nil {
		return s.markWait(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// markDataObjectBatch marks up to batch unmarked runs whose id is after
// after, in one transaction, and returns how many it marked and the last
// id it marked. The mark is what the runs table's trigger writes; the
// trigger is told not to parse the data a second time.
func (s *Postgres) markDataObjectBatch(ctx context.Context, after string, batch int) (n int64, last string, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `WITH batch AS (
				SELECT id FROM runs WHERE data_object IS NULL AND id > $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
			), marked AS (
				UPDATE runs SET data_object = `+pgGivenMark(`meridian_list_data(runs.data) IS NOT NULL`)+`
				FROM batch WHERE runs.id = batch.id AND runs.data_object IS NULL
				RETURNING runs.id
			)
			SELECT count(*), coalesce(max(id), '') FROM marked`, after, batch).Scan(&n, &last)
	})
	if err != nil {
		return 0, "", err
	}
	return n, last, nil
}
