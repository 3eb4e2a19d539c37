package run

import (
	"testing"

	"meridian.dev/meridian/backend"
)

// TestLogMarksMoved: a later opening's marks say from which byte the run's
// output is not what an earlier's was: where an attempt's output changed
// source, or where the output of an attempt before another grew or shrank
// (moving the later one's), from the end of what the earlier had in both.
// Output that only appeared or grew at the end is not replaced, nor the
// output an attempt's agent sent in place of the site's copy that starts
// as it did.
func TestLogMarksMoved(t *testing.T) {
	site := func(n int, at, l int64) LogMark {
		return LogMark{Attempt: n, At: at, Len: l, Info: backend.LogInfo{Size: l, ID: "file 1:2;"}}
	}
	from := func(m LogMark, s LogSource) LogMark { m.From, m.Info = s, backend.LogInfo{}; return m }
	head := func(m LogMark, h string) LogMark { m.Info.Head = []byte(h); return m }
	for _, tc := range []struct {
		name      string
		prev, cur LogMarks
		at        int64
		replaced  bool
	}{
		{"grown at the end", LogMarks{site(1, 10, 5), site(2, 30, 5)}, LogMarks{site(1, 10, 5), site(2, 30, 9)}, 0, false},
		{"a new attempt", LogMarks{site(1, 10, 5)}, LogMarks{site(1, 10, 5), site(2, 30, 5)}, 0, false},
		{"the earlier grew", LogMarks{site(1, 10, 5), site(2, 30, 5)}, LogMarks{site(1, 10, 8), site(2, 33, 5)}, 15, true},
		{"the earlier shrank", LogMarks{site(1, 10, 5), site(2, 30, 5)}, LogMarks{site(1, 10, 2), site(2, 27, 5)}, 12, true},
		{"the agent's output in place of the site's", LogMarks{head(site(1, 10, 5), "agent")}, LogMarks{head(from(site(1, 10, 7), LogFromServer), "step=1\n")}, 10, true},
		{"the agent's output, as the site's started", LogMarks{head(site(1, 10, 5), "step=")}, LogMarks{head(from(site(1, 10, 7), LogFromServer), "step=1\n")}, 0, false},
		{"the agent's output where there was none", LogMarks{from(site(1, 10, 0), LogNone)}, LogMarks{from(site(1, 10, 7), LogFromServer)}, 0, false},
		{"the same note", LogMarks{from(site(1, 10, 40), LogUnread)}, LogMarks{from(site(1, 10, 40), LogUnread)}, 0, false},
		{"another note", LogMarks{from(site(1, 10, 40), LogUnread)}, LogMarks{from(site(1, 10, 44), LogUnread)}, 10, true},
		{"read after a note", LogMarks{from(site(1, 10, 40), LogUnread), site(2, 70, 5)}, LogMarks{site(1, 10, 5), site(2, 35, 5)}, 10, true},
		{"a note after it was read", LogMarks{site(1, 10, 5), site(2, 35, 5)}, LogMarks{from(site(1, 10, 40), LogUnread), site(2, 70, 5)}, 10, true},
	} {
		at, replaced, _ := tc.cur.Replaced(tc.prev)
		if replaced != tc.replaced || (replaced && at != tc.at) {
			t.Errorf("%s: replaced %v at %d, want %v at %d", tc.name, replaced, at, tc.replaced, tc.at)
		}
	}

	read := LogMarks{site(1, 10, 5), site(2, 35, 5)}
	noted := LogMarks{from(site(1, 10, 40), LogUnread), site(2, 70, 5)}
	if at, ok := noted.Unread(read); !ok || at != 10 {
		t.Errorf("an attempt read before, now unread: %v at %d, want at 10", ok, at)
	}
	if _, ok := noted.Unread(noted); ok {
		t.Error("an attempt unread before, still unread: said newly unread")
	}
	if at, ok := noted.Unread(read[1:]); !ok || at != 10 {
		t.Errorf("an attempt never seen, unread: %v at %d, want at 10", ok, at)
	}
}
