package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/audit"
)

// lockedBuffer is a bytes.Buffer that a test server's handler may read
// while the command writes to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// auditPageEntry is the one entry of page seq of auditPagesServer.
func auditPageEntry(seq int64) audit.Entry {
	return audit.Entry{Seq: seq, Time: "2026-12-04T00:00:00Z", Kind: "state", RunID: "run-1", Payload: json.RawMessage(fmt.Sprintf(`{"step":%d}`, seq)), Hash: strings.Repeat("ab", 32)}
}

// TestAuditLogPrintsPagesAsTheyCome: audit log (and --all) prints each
// page of entries before it asks for the next and keeps none, so a log
// longer than api.MaxListPages pages prints whole. Before, it collected
// every page and failed with "listing too long" once a log passed 4,096
// pages or 256 MiB, where it printed before those bounds came: an honest
// log of many transfer intents (megabytes each) could no longer be read.
func TestAuditLogPrintsPagesAsTheyCome(t *testing.T) {
	t.Setenv("MERIDIAN_CONFIG", filepath.Join(t.TempDir(), "none.yaml"))
	pages := int64(api.MaxListPages + 3)
	var out lockedBuffer
	var asked, notYetPrinted atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/audit" {
			http.NotFound(w, r)
			return
		}
		asked.Add(1)
		after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		// The page before this one is printed by the time this one is
		// asked for.
		if after > 0 && after%1000 == 0 && !strings.Contains(out.String(), fmt.Sprintf(`"seq": %d,`, after)) {
			notYetPrinted.Add(1)
		}
		page := api.AuditList{Entries: []audit.Entry{auditPageEntry(after + 1)}}
		if after+1 < pages {
			page.Next = after + 1
		}
		json.NewEncoder(w).Encode(page)
	}))
	defer srv.Close()
	for _, all := range []bool{false, true} {
		asked.Store(0)
		out.mu.Lock()
		out.buf.Reset()
		out.mu.Unlock()
		args := []string{"audit", "log", "-o", "json", "--server", srv.URL, "--token", strings.Repeat("a", 40)}
		if all {
			args = append(args, "--all")
		}
		root := newRootCmd()
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("%v: a log of %d pages: %v", args[2:], pages, err)
		}
		var got struct{ Entries []audit.Entry }
		if err := json.Unmarshal([]byte(out.String()), &got); err != nil {
			t.Fatalf("%v: %v", args[2:], err)
		}
		if int64(len(got.Entries)) != pages || asked.Load() != pages {
			t.Fatalf("%v: %d entries printed, %d pages asked for; want %d", args[2:], len(got.Entries), asked.Load(), pages)
		}
		for i, e := range got.Entries {
			if e.Seq != int64(i+1) {
				t.Fatalf("%v: entry %d has seq %d", args[2:], i, e.Seq)
			}
		}
	}
	if n := notYetPrinted.Load(); n != 0 {
		t.Errorf("%d times a page was asked for before the one before it was printed", n)
	}
}

// TestPagedOutAsRender: a listing printed a page at a time is byte for
// byte what render prints for the whole listing, in JSON and YAML, with
// entries or without; the table has one header and every row.
func TestPagedOutAsRender(t *testing.T) {
	var all []audit.Entry
	for i := range int64(7) {
		e := auditPageEntry(i + 1)
		if i == 3 {
			e = audit.Entry{Seq: 4, Time: "2026-12-04T00:00:00Z", Hash: "cd", Redacted: true}
		}
		if i == 5 {
			e.Payload = json.RawMessage(`{"note":"<b>&\u00e9 \"q\"","list":[1,{"a":[]},{}],"empty":{}}`)
		}
		all = append(all, e)
	}
	for _, entries := range [][]audit.Entry{all, {}} {
		for _, format := range []string{"json", "yaml", "table"} {
			var want, got bytes.Buffer
			if err := render(&want, format, map[string]any{"entries": entries}, func(io.Writer) error { return nil }); err != nil {
				t.Fatal(err)
			}
			o, err := newPagedOut(&got, format, "entries", "SEQ\tTIME\tKIND\tRUN\tHASH\tPAYLOAD", auditRow)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < len(entries); i += 3 {
				if err := o.page(entries[i:min(i+3, len(entries))]); err != nil {
					t.Fatal(err)
				}
			}
			o.page(nil) // an empty page between two others changes nothing
			if err := o.end(); err != nil {
				t.Fatal(err)
			}
			if format == "table" {
				lines := strings.Split(strings.TrimSuffix(got.String(), "\n"), "\n")
				if len(lines) != len(entries)+1 || strings.Count(got.String(), "SEQ") != 1 {
					t.Errorf("table of %d entries:\n%s", len(entries), got.String())
				}
				continue
			}
			if got.String() != want.String() {
				t.Errorf("%s of %d entries, a page at a time:\n%s\nwant, as render writes it:\n%s", format, len(entries), got.String(), want.String())
			}
		}
	}
}
