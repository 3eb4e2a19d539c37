package kubernetes

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/klog/v2"
)

// clientLogEvery is how often one kind of client-go error is logged: a
// site's API server that keeps answering what Meridian refuses (an object
// past a bound, say) makes its reflector retry, and each retry reported
// an error line of its own.
const clientLogEvery = 30 * time.Second

// RouteClientLogs sends what client-go logs (through klog, and the errors
// it cannot return, through utilruntime.HandleError) to l, tagged
// component=kubernetes-client, in the server's format. The errors are
// logged at warn level, each message at most once per clientLogEvery with
// how many were not: they are a site's trouble, which the run's state and
// the site's status already report, not the server's. The hooks are
// client-go's globals, set once; a later call (another server in the same
// process) moves them to its logger.
func RouteClientLogs(l *slog.Logger) {
	clientLogger.Store(l.With("component", "kubernetes-client"))
	routeOnce.Do(func() {
		klog.SetSlogLogger(slog.New(forward{}))
		rl := &rateLog{every: clientLogEvery, now: time.Now, last: map[string]time.Time{}, held: map[string]int{}}
		utilruntime.ErrorHandlers = []utilruntime.ErrorHandler{rl.handle}
	})
}

var (
	routeOnce    sync.Once
	clientLogger atomic.Pointer[slog.Logger]
)

// forward is a slog.Handler that hands each record to the logger
// RouteClientLogs was last given.
type forward struct {
	attrs []slog.Attr
	group string
}

func (f forward) Enabled(ctx context.Context, l slog.Level) bool {
	return clientLogger.Load().Handler().Enabled(ctx, l)
}

func (f forward) Handle(ctx context.Context, r slog.Record) error {
	h := clientLogger.Load().Handler()
	if f.group != "" {
		h = h.WithGroup(f.group)
	}
	return h.WithAttrs(f.attrs).Handle(ctx, r)
}

func (f forward) WithAttrs(as []slog.Attr) slog.Handler {
	return forward{attrs: append(append([]slog.Attr{}, f.attrs...), as...), group: f.group}
}

func (f forward) WithGroup(name string) slog.Handler {
	if f.group != "" {
		name = f.group + "." + name
	}
	return forward{attrs: f.attrs, group: name}
}

// rateLog logs each message at most once per every, counting the rest.
type rateLog struct {
	l     *slog.Logger // nil: the logger RouteClientLogs was last given
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int
}

// maxRateKeys bounds the messages rateLog remembers: past it all are
// forgotten (client-go's messages are a handful of fixed strings).
const maxRateKeys = 1000

func (r *rateLog) handle(ctx context.Context, err error, msg string, kv ...any) {
	now := r.now()
	r.mu.Lock()
	if t, ok := r.last[msg]; ok && now.Sub(t) < r.every {
		r.held[msg]++
		r.mu.Unlock()
		return
	}
	if len(r.last) >= maxRateKeys {
		clear(r.last)
		clear(r.held)
	}
	held := r.held[msg]
	r.last[msg], r.held[msg] = now, 0
	r.mu.Unlock()
	args := append([]any{}, kv...)
	if err != nil {
		args = append(args, "err", err.Error())
	}
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	if msg == "" {
		msg = "client-go error"
	}
	l := r.l
	if l == nil {
		l = clientLogger.Load()
	}
	l.WarnContext(ctx, msg, args...)
}
