package metrics

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// logEvery is how often a scrape's error of one kind is logged: a store
// that does not answer fails every scrape until it is back, a Prometheus
// scrapes every few seconds and anyone who reaches --metrics-listen as
// often as they like (100 a second make 100 lines a second otherwise).
// A line says how many of its kind went unlogged since the last.
const logEvery = time.Minute

// maxLogKinds bounds the kinds an errorLog keeps a time for; others share
// one. promhttp's kinds are a handful of fixed texts.
const maxLogKinds = 16

// errorLog is the metrics handlers' promhttp.Logger (HandlerOpts.ErrorLog)
// and the store reads' own: each kind of error goes to log at most once
// each logEvery. A nil errorLog, or one with no log, logs nothing.
type errorLog struct {
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex
	kinds map[string]*logKind
}

// logKind is when a kind of error was last logged, and how many of it
// were not logged since.
type logKind struct {
	last     time.Time
	unlogged int
}

// Println is promhttp's call: its first value says what failed ("error
// gathering metrics:"), which is the kind, and the rest is the error.
func (l *errorLog) Println(v ...any) {
	if len(v) == 0 {
		return
	}
	kind := strings.TrimSuffix(strings.TrimSpace(fmt.Sprint(v[0])), ":")
	l.note(kind, strings.TrimSpace(fmt.Sprintln(v[1:]...)))
}

// note logs err, of kind, unless one of its kind was logged less than
// logEvery ago.
func (l *errorLog) note(kind, err string) {
	if l == nil || l.log == nil {
		return
	}
	unlogged, ok := l.due(kind)
	if !ok {
		return
	}
	l.log.Warn("metrics: "+kind, "err", err, "unlogged", unlogged)
}

// due says whether an error of kind may be logged now, counting it as
// unlogged when not; unlogged is how many were not since the last.
func (l *errorLog) due(kind string) (unlogged int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kinds == nil {
		l.kinds = map[string]*logKind{}
	}
	k := l.kinds[kind]
	if k == nil {
		if len(l.kinds) >= maxLogKinds {
			kind = otherRoute
		}
		if k = l.kinds[kind]; k == nil {
			k = &logKind{}
			l.kinds[kind] = k
		}
	}
	t := l.now()
	// A clock set back counts as due, as storeDue does, so that a step
	// back does not silence the log for as long as it stepped.
	if !k.last.IsZero() && t.Sub(k.last) < logEvery && !t.Before(k.last) {
		k.unlogged++
		return 0, false
	}
	unlogged, k.unlogged, k.last = k.unlogged, 0, t
	return unlogged, true
}
