package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
)

// TestClientLogs: client-go's errors reach the server's logger, tagged, at
// warn level, and a message that repeats (a reflector retrying a read the
// bounds refuse) is logged once per interval with the count it held back.
func TestClientLogs(t *testing.T) {
	saved, savedLogger := utilruntime.ErrorHandlers, clientLogger.Load()
	defer func() {
		// klog stays routed (once per process); the backends of later
		// tests log where they did.
		utilruntime.ErrorHandlers = saved
		if savedLogger != nil {
			clientLogger.Store(savedLogger)
		}
	}()
	var buf bytes.Buffer
	RouteClientLogs(slog.New(slog.NewJSONHandler(&buf, nil)))
	ctx := context.Background()
	for range 50 {
		utilruntime.HandleErrorWithContext(ctx, errors.New("object over 4194304 bytes"), "Failed to watch", "reflector", "pods")
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("50 repeats logged %d lines:\n%s", len(lines), buf.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	if got["level"] != "WARN" || got["msg"] != "Failed to watch" || got["component"] != "kubernetes-client" || got["reflector"] != "pods" || got["err"] != "object over 4194304 bytes" {
		t.Errorf("logged %v", got)
	}

	// Past the interval the message is logged again, with what was held.
	now := time.Unix(0, 0)
	var out bytes.Buffer
	rl := &rateLog{l: slog.New(slog.NewJSONHandler(&out, nil)), every: time.Minute, now: func() time.Time { return now }, last: map[string]time.Time{}, held: map[string]int{}}
	for i := range 10 {
		now = time.Unix(int64(i*10), 0) // 0 s … 90 s
		rl.handle(ctx, nil, "Failed to list")
		rl.handle(ctx, nil, "another message")
	}
	var n, suppressed int
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m["msg"] == "Failed to list" {
			n++
			if s, ok := m["suppressed"].(float64); ok {
				suppressed += int(s)
			}
		}
	}
	if n != 2 || suppressed != 5 {
		t.Errorf("10 repeats over 90 s, once a minute: %d lines, %d suppressed; want 2 lines (at 0 s and 60 s), 5 suppressed between them\n%s", n, suppressed, out.String())
	}
}
