package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFollowEventsInOrder: FollowEvents gave fn whatever timeline events
// the server sent, so a server that repeated events or went back, on one
// connection or after a reconnect (ignoring Last-Event-ID), had `run
// --follow` print them twice or out of order. An event whose seq is not
// past the last one given now ends the follow with ErrEventOrder, before
// fn sees it; a stream in order, across a reconnect, is read whole.
func TestFollowEventsInOrder(t *testing.T) {
	ev := func(seq int) string {
		return fmt.Sprintf("id: %d\nevent: event\ndata: {\"seq\":%d,\"kind\":\"k%d\"}\n\n", seq, seq, seq)
	}
	evs := func(seqs ...int) string {
		var b strings.Builder
		for _, s := range seqs {
			b.WriteString(ev(s))
		}
		return b.String()
	}
	const end = "event: end\ndata: {\"state\":\"succeeded\"}\n\n"
	for _, tc := range []struct {
		name  string
		conns []string // each connection's stream; one without an end breaks
		after int64
		saw   string // the seqs fn got
		lasts string // Last-Event-ID of each connection
		bad   bool
	}{
		{"in order across a reconnect", []string{evs(1, 2), evs(3) + end}, 0, "1,2,3", ",2", false},
		{"repeated on one connection", []string{evs(1, 2, 2, 3) + end}, 0, "1,2", "", true},
		{"back on one connection", []string{evs(1, 3, 2) + end}, 0, "1,3", "", true},
		{"seq 0 first", []string{evs(0, 1) + end}, 0, "", "", true},
		{"at or before after", []string{evs(4, 5) + end}, 5, "", "5", true},
		{"replayed after a reconnect", []string{evs(1, 2), evs(1, 2, 3) + end}, 0, "1,2", ",2", true},
		{"back after a reconnect", []string{evs(1, 2, 3), evs(2, 4) + end}, 0, "1,2,3", ",3", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var lasts []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				n := len(lasts)
				lasts = append(lasts, r.Header.Get("Last-Event-ID"))
				mu.Unlock()
				if n >= len(tc.conns) {
					http.Error(w, `{"error":{"code":"not_found","message":"gone"}}`, http.StatusNotFound)
					return
				}
				w.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprint(w, "retry: 1\n\n"+tc.conns[n])
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var saw []string
			err := NewClient(srv.URL, tokA).FollowEvents(ctx, "r1", tc.after, func(e RunStreamEvent) error {
				if e.Event != nil {
					saw = append(saw, fmt.Sprint(e.Event.Seq))
				}
				return nil
			})
			if got := strings.Join(saw, ","); got != tc.saw {
				t.Errorf("fn got events %q, want %q", got, tc.saw)
			}
			if got := strings.Join(lasts, ","); got != tc.lasts {
				t.Errorf("connections with Last-Event-ID %q, want %q", got, tc.lasts)
			}
			switch {
			case tc.bad && (!errors.Is(err, ErrEventOrder) || !strings.Contains(err.Error(), "came after event")):
				t.Errorf("FollowEvents: %v, want ErrEventOrder naming both events", err)
			case !tc.bad && err != nil:
				t.Errorf("FollowEvents: %v, want nil", err)
			}
		})
	}
}
