package kubernetes

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/klog/v2"

	"meridian.dev/meridian/internal/textsafe"
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
//
// What client-go logs repeats the API server's words (a Status's message,
// an object's name, an event it could not decode): each string of a line
// is escaped as textsafe escapes a site's text, and cut at maxLogText,
// before l has it, whatever its format.
func RouteClientLogs(l *slog.Logger) {
	clientLogger.Store(clientLog(l))
	routeOnce.Do(routeClientLogs)
}

// routeClientLogsByDefault routes client-go's logs, as a backend is made,
// to standard error in slog's text format, unless RouteClientLogs was
// called first: klog's own lines wrote the API server's words there as
// sent.
func routeClientLogsByDefault() {
	clientLogger.CompareAndSwap(nil, clientLog(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	routeOnce.Do(routeClientLogs)
}

func routeClientLogs() {
	klog.SetSlogLogger(slog.New(forward{}))
	rl := &rateLog{every: clientLogEvery, now: time.Now, last: map[string]time.Time{}, held: map[string]int{}}
	utilruntime.ErrorHandlers = []utilruntime.ErrorHandler{rl.handle}
}

// clientLog is l as client-go's lines reach it: tagged, and escaped.
func clientLog(l *slog.Logger) *slog.Logger {
	return slog.New(escaped{l.Handler()}).With("component", "kubernetes-client")
}

// maxLogText bounds each string of a client-go log line: an error repeats
// the API server's answer, up to the megabytes of an object.
const maxLogText = 4 << 10

// logText is s as a log line has it: cut at maxLogText, escaped as
// textsafe escapes a site's text.
func logText(s string) string { return cutEscaped(s, maxLogText) }

// cutEscaped is s cut at max bytes (at a character's start), escaped as
// textsafe escapes a site's text, and saying how long it was when cut.
func cutEscaped(s string, max int) string {
	all := len(s)
	if all > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	s = textsafe.Escape(s)
	if all > max {
		s += fmt.Sprintf("... (%d bytes in all)", all)
	}
	return s
}

// escaped is a slog.Handler that hands h each record with its message,
// and its attributes' keys and values, as logText has them: strings,
// errors, and other values as fmt writes them (numbers, times and
// durations stay as they are).
type escaped struct{ h slog.Handler }

func (e escaped) Enabled(ctx context.Context, l slog.Level) bool { return e.h.Enabled(ctx, l) }

func (e escaped) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, logText(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(escapeAttr(a))
		return true
	})
	return e.h.Handle(ctx, out)
}

func (e escaped) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = escapeAttr(a)
	}
	return escaped{e.h.WithAttrs(out)}
}

func (e escaped) WithGroup(name string) slog.Handler { return escaped{e.h.WithGroup(logText(name))} }

func escapeAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	a.Key = logText(a.Key)
	switch v.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(logText(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, ga := range g {
			out[i] = escapeAttr(ga)
		}
		a.Value = slog.GroupValue(out...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case nil:
			a.Value = v
		case error:
			a.Value = slog.StringValue(logText(x.Error()))
		case fmt.Stringer:
			a.Value = slog.StringValue(logText(x.String()))
		default:
			a.Value = slog.StringValue(logText(fmt.Sprintf("%+v", x)))
		}
	default:
		a.Value = v
	}
	return a
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

// maxWarnings is how many of the API server's warnings a backend logs per
// clientLogEvery. Each Warning header of an answer is a warning, and
// client-go logged each as a line of its own: a hostile API server's
// answers, each with megabytes of headers, had every request write
// hundreds of thousands of lines.
const maxWarnings = 10

// warningLog is a backend's handler of the API server's warnings: it logs
// at most maxWarnings per every, and then how many it did not.
type warningLog struct {
	l     *slog.Logger // nil: the logger RouteClientLogs was last given
	every time.Duration
	now   func() time.Time

	mu     sync.Mutex
	start  time.Time
	logged int
	held   int
}

func newWarningLog() *warningLog {
	return &warningLog{every: clientLogEvery, now: time.Now}
}

func (w *warningLog) HandleWarningHeaderWithContext(ctx context.Context, code int, agent, text string) {
	if code != 299 || text == "" {
		return // as client-go's own handler
	}
	now := w.now()
	w.mu.Lock()
	held := 0
	if now.Sub(w.start) >= w.every {
		held = w.held
		w.start, w.logged, w.held = now, 0, 0
	}
	if w.logged >= maxWarnings {
		w.held++
		w.mu.Unlock()
		return
	}
	w.logged++
	w.mu.Unlock()
	l := w.l
	if l == nil {
		l = clientLogger.Load()
	}
	if held > 0 {
		l.WarnContext(ctx, "warnings of the API server not logged", "suppressed", held)
	}
	l.WarnContext(ctx, "the API server warns", "warning", text, "agent", agent)
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
