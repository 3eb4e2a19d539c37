package api

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// TestQueuePageBytes: a page of GET /v1/queue was bounded by count only
// (MaxRunPage). An entry carries its hold's reason and the pools it waits
// for: one want for each lawful pool of the catalog, and a reason that
// names each of them again. With a catalog of a few hundred pools an entry
// is tens of kilobytes (measured below), and a page of MaxRunPage of them
// hundreds of megabytes, built in the server's memory and sent at once. A
// page now ends before its entries pass MaxQueuePageBytes, naming next and
// cursor, and the pages, by cursor or by position, hold every held run
// once, in order.
func TestQueuePageBytes(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{})
	ctx := context.Background()
	since := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	const pools, held = 400, 300
	wants := make([]run.Want, pools)
	parts := make([]string, pools)
	for i := range wants {
		wants[i] = run.Want{Site: fmt.Sprintf("site-%03d-%s", i/4, strings.Repeat("r", 40)), Pool: i % 4, Accelerator: "nvidia-h100-sxm", Free: 0}
		parts[i] = fmt.Sprintf("%s pool %d (%d free)", wants[i].Site, wants[i].Pool, wants[i].Free)
	}
	// As the controller words a run that waits for room (roomReason).
	reason := "waiting for capacity as of 2026-12-01: every lawful pool is full: " + strings.Join(parts, ", ")
	for i := range held {
		data, _ := json.Marshal(run.Data{AsOf: "2026-12-01", Hold: &run.Hold{Reason: reason, Wait: run.WaitCapacity, Wants: wants, Since: since, NextTry: since.Add(time.Hour)}})
		r := &store.Run{ID: fmt.Sprintf("run-%06d", i), Tenant: "a", Job: "j", State: string(run.Held), Data: data}
		if _, _, err := f.st.CreateRun(ctx, r, "", store.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	a := NewClient(f.srv.URL, tokA)
	one, _ := json.Marshal(run.QueueEntry{Run: "run-000000", Tenant: "a", Job: "j", Wait: run.WaitCapacity, Reason: reason, Since: since, Position: held, Wants: wants})
	t.Logf("one entry: %d bytes (a reason of %d, %d wants); %d entries: %d MiB", len(one), len(reason), pools, MaxRunPage, MaxRunPage*len(one)>>20)
	if held*len(one) <= 2*MaxQueuePageBytes {
		t.Fatalf("the queue is %d bytes: too small to need pages", held*len(one))
	}

	if status, e := f.raw(t, "GET", "/v1/queue", tokA, ""); status != http.StatusBadRequest || e.Field != "limit" {
		t.Errorf("an unpaged queue of %d bytes: %d %+v; want 400 naming limit", held*len(one), status, e)
	}
	for _, by := range []string{"cursor", "after"} {
		var got []string
		cursor, after := "", ""
		for pages := 0; ; pages++ {
			if pages > held {
				t.Fatalf("by %s: the pages never end", by)
			}
			q := url.Values{"limit": {strconv.Itoa(MaxRunPage)}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			if after != "" {
				q.Set("after", after)
			}
			var page QueueList
			_, data, err := a.do(ctx, http.MethodGet, "/v1/queue?"+q.Encode(), nil, &page)
			if err != nil {
				t.Fatal(err)
			}
			if len(data) > MaxQueuePageBytes+4096 {
				t.Fatalf("by %s: page %d is %d bytes (%d entries), over the bound of %d", by, pages, len(data), len(page.Queue), MaxQueuePageBytes)
			}
			for _, e := range page.Queue {
				got = append(got, e.Run)
			}
			if page.Next == "" {
				break
			}
			if by == "cursor" {
				if page.Cursor == "" {
					t.Fatalf("page %d names next %q but no cursor", pages, page.Next)
				}
				cursor = page.Cursor
			} else {
				after = page.Next
			}
		}
		if len(got) != held {
			t.Errorf("by %s: the pages held %d entries, want %d", by, len(got), held)
		}
		for i, id := range got {
			if want := fmt.Sprintf("run-%06d", i); id != want {
				t.Fatalf("by %s: entry %d is %s, want %s", by, i, id, want)
			}
		}
	}
	if q, err := a.Queue(ctx); err != nil || len(q) != held {
		t.Errorf("client: %d entries (%v), want %d", len(q), err, held)
	}
}

// TestQueueEntryBytes: the size a queue page counts for an entry, without
// encoding it, is never less than its JSON, whatever its strings hold
// (characters JSON escapes, bytes that are not UTF-8, line separators,
// characters of several bytes) and however long its numbers and time.
func TestQueueEntryBytes(t *testing.T) {
	// A field added to an entry's or a want's JSON must be counted too.
	jsonFields := func(t reflect.Type) int {
		n := 0
		for i := range t.NumField() {
			if t.Field(i).Tag.Get("json") != "-" {
				n++
			}
		}
		return n
	}
	if n, m := jsonFields(reflect.TypeFor[run.QueueEntry]()), jsonFields(reflect.TypeFor[run.Want]()); n != 9 || m != 4 {
		t.Fatalf("QueueEntry's JSON has %d fields and Want's %d: count the new ones in queueEntryBytes", n, m)
	}
	texts := []string{"", "plain", `"\<>&`, "\x00\x01\x1f\x7f", "\xff\xfe", "\u2028\u2029", "日本語", "é", strings.Repeat("<", 100)}
	zone := time.FixedZone("", -(12*3600 + 59*60))
	for i, s := range texts {
		for _, num := range []int{0, math.MinInt, math.MaxInt} {
			e := run.QueueEntry{Run: s, Tenant: s, Job: s, Priority: num, Wait: s, Reason: s + s, Since: time.Date(9999, 12, 31, 23, 59, 59, 123456789, zone), Position: num,
				Wants: []run.Want{{Site: s, Pool: num, Accelerator: s, Free: num}, {}}}
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if got := queueEntryBytes(&e); got < len(b) {
				t.Errorf("text %d, number %d: counted %d bytes, the JSON is %d", i, num, got, len(b))
			}
		}
	}
}

// countedQueue counts the reads of the queue by key.
type countedQueue struct {
	Controller
	reads atomic.Int64
}

func (c *countedQueue) QueueAfter(ctx context.Context, tenant string, after *run.QueueKey, limit int) ([]run.QueueEntry, run.QueueKey, bool, error) {
	c.reads.Add(1)
	return c.Controller.QueueAfter(ctx, tenant, after, limit)
}

// TestQueuePageReadOnce: a page of GET /v1/queue by cursor that its
// bytes cut short read the queue from the controller twice, the second
// time for the shorter page, to learn the cursor of its last entry: the
// admission order walked again and the page's entries made again for
// every such page. The entries carry their own place in the order now,
// and each page is read once; the pages still hold every held run once,
// in order.
func TestQueuePageReadOnce(t *testing.T) {
	cq := &countedQueue{}
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { cq.Controller = c; return cq }})
	ctx := context.Background()
	since := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	const pools, held = 400, 150
	wants := make([]run.Want, pools)
	for i := range wants {
		wants[i] = run.Want{Site: fmt.Sprintf("site-%03d-%s", i/4, strings.Repeat("r", 40)), Pool: i % 4, Accelerator: "nvidia-h100-sxm"}
	}
	reason := "waiting for capacity: " + strings.Repeat("every lawful pool is full; ", 1500)
	for i := range held {
		data, _ := json.Marshal(run.Data{AsOf: "2026-12-01", Priority: i % 3, Hold: &run.Hold{Reason: reason, Wait: run.WaitCapacity, Wants: wants, Since: since, NextTry: since.Add(time.Hour)}})
		r := &store.Run{ID: fmt.Sprintf("run-%06d", i), Tenant: "a", Job: "j", State: string(run.Held), Data: data}
		if _, _, err := f.st.CreateRun(ctx, r, "", store.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	whole, _, _, err := f.c.QueueAfter(ctx, "a", nil, -1)
	if err != nil || len(whole) != held {
		t.Fatalf("the queue: %d entries (%v), want %d", len(whole), err, held)
	}
	a := NewClient(f.srv.URL, tokA)
	var got []string
	cursor, cut := "", 0
	for pages := 0; ; pages++ {
		if pages > held {
			t.Fatal("the pages never end")
		}
		q := url.Values{"limit": {strconv.Itoa(MaxRunPage)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		before := cq.reads.Load()
		var page QueueList
		if _, _, err := a.do(ctx, http.MethodGet, "/v1/queue?"+q.Encode(), nil, &page); err != nil {
			t.Fatal(err)
		}
		if n := cq.reads.Load() - before; n != 1 {
			t.Errorf("page %d (%d entries) read the queue %d times, want once", pages, len(page.Queue), n)
		}
		for _, e := range page.Queue {
			got = append(got, e.Run)
		}
		if page.Next == "" {
			break
		}
		if page.Cursor == "" {
			t.Fatalf("page %d names next %q but no cursor", pages, page.Next)
		}
		cut++
		cursor = page.Cursor
	}
	if cut == 0 {
		t.Fatal("no page was cut short by its bytes: the queue is too small to test")
	}
	if len(got) != held {
		t.Fatalf("the pages held %d entries, want %d", len(got), held)
	}
	for i, e := range whole {
		if got[i] != e.Run {
			t.Fatalf("entry %d is %s, want %s (the admission order)", i, got[i], e.Run)
		}
	}
}
