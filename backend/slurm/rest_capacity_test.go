package slurm

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// capacitySite is a slurmrestd whose partition gpu lists nodes nodes of
// nameLen-byte names, each with 3 of its 8 h100s free; node 3 carries job
// 7 (2 h100s, the server's own, listed twice: the second listing holds
// nothing more) and job 8 (1 h100, another's). After them come node 0
// again, all free (a second listing counts for nothing), and a node of
// another partition.
func capacitySite(nodes, nameLen int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bw := bufio.NewWriterSize(w, 64<<10)
		defer bw.Flush()
		switch r.URL.Path {
		case apiPath("partitions"):
			bw.WriteString(`{"errors":[],"partitions":[{"name":"other","state":"UP","flags":["default"]},{"name":"gpu","state":"UP","flags":[]}]}`)
		case apiPath("jobs"):
			n3 := hostileName(3, nameLen)
			fmt.Fprintf(bw, `{"errors":[],"jobs":[`+
				`{"job_id":7,"job_state":"RUNNING","nodes":%q,"tres_per_node":"gres:gpu:h100:2","job_resources":{"allocated_nodes":[{"nodename":%[1]q}]}},`+
				`{"job_id":8,"job_state":"RUNNING","nodes":%[1]q,"tres_per_node":"gres:gpu:h100:1"},`+
				`{"job_id":7,"job_state":"RUNNING","nodes":%[1]q,"tres_per_node":"gres:gpu:h100:2"},`+
				`{"job_id":9,"job_state":"PENDING","nodes":"","tres_per_node":"gres:gpu:h100:4"}]}`, n3)
		case apiPath("nodes"):
			bw.WriteString(`{"errors":[],"nodes":[`)
			node := func(name, part, used string) {
				fmt.Fprintf(bw, `{"name":%q,"state":"mixed","state_flags":[],"partitions":[%q],"gres":"gpu:h100:8(S:0-1)","gres_used":%q,"reason":""},`, name, part, used)
			}
			for i := range nodes {
				node(hostileName(i, nameLen), "gpu", "gpu:h100:5(IDX:0-4)")
			}
			node(hostileName(0, nameLen), "gpu", "gpu:h100:0(IDX:N/A)")
			bw.WriteString(`{"name":"elsewhere","state":"idle","partitions":["other"],"gres":"gpu:h100:8","gres_used":"gpu:h100:0"}]}`)
		default:
			http.NotFound(w, r)
		}
	})
}

// capacityREST is a backend on srv for partition gpu and h100s, whose
// records say job 7 is its own.
func capacityREST(t testing.TB, url string) *REST {
	t.Helper()
	r := plainREST(t, url)
	rec, err := newRecords(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.record("r1-1", "7"); err != nil {
		t.Fatal(err)
	}
	r.rec, r.partition, r.gres = rec, "gpu", "gpu:h100"
	return r
}

// TestRESTCapacityKeepsNoNodeNames: a capacity poll over slurmrestd kept
// every node of the partition (its name, up to 256 bytes, and its
// counts) and then a map over their names, for up to 1,048,576 nodes: a
// node list of a few hundred megabytes had one poll hold about as much.
// It now reads the jobs first, keeps what the server's own hold per
// node, and reads the nodes one at a time keeping no name; a node listed
// twice still counts once, and the own jobs' holds still count.
func TestRESTCapacityKeepsNoNodeNames(t *testing.T) {
	const nodes, nameLen = 60_000, 256
	srv := httptest.NewServer(capacitySite(nodes, nameLen))
	defer srv.Close()
	r := capacityREST(t, srv.URL)
	var got map[string]int
	var err error
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got, err = r.Capacity(context.Background())
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	// Every node 3 free, node 3 also the 2 of the own job, node 0 once.
	if want := 3*nodes + 2; got[backend.SiteAccelerator] != want {
		t.Errorf("capacity %d; want %d", got[backend.SiteAccelerator], want)
	}
	grew := int64(after.HeapSys) - int64(before.HeapSys)
	t.Logf("a poll over %d nodes of %d-byte names grew the heap by %d bytes (allocated %d)", nodes, nameLen, grew, after.TotalAlloc-before.TotalAlloc)
	if grew > 12<<20 {
		t.Errorf("a poll over %d nodes of %d-byte names grew the heap by %d bytes; want at most 12 MiB", nodes, nameLen, grew)
	}
}

// TestRESTCapacityCountsEachOwnJobOnce: an own job that slurmrestd listed
// twice had what it holds added twice to the capacity.
func TestRESTCapacityCountsEachOwnJobOnce(t *testing.T) {
	srv := httptest.NewServer(capacitySite(10, 16))
	defer srv.Close()
	got, err := capacityREST(t, srv.URL).Capacity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := 3*10 + 2; got[backend.SiteAccelerator] != want {
		t.Errorf("capacity %d; want %d", got[backend.SiteAccelerator], want)
	}
}

// heldAtEnd wraps a transport so that, when the answer to a GET nodes has
// been read to its last bytes, it notes how much the heap holds then.
type heldAtEnd struct {
	rt   http.RoundTripper
	held uint64
}

func (h *heldAtEnd) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := h.rt.RoundTrip(req)
	if err == nil && req.URL.Path == apiPath("nodes") {
		resp.Body = &noteAtEOF{ReadCloser: resp.Body, h: h}
	}
	return resp, err
}

type noteAtEOF struct {
	io.ReadCloser
	h    *heldAtEnd
	tail []byte
}

// Read notes the heap once the body's end ("]}") has been read: by then
// the reader has read every node but the last few in its buffer.
func (n *noteAtEOF) Read(p []byte) (int, error) {
	k, err := n.ReadCloser.Read(p)
	n.tail = append(n.tail, p[:k]...)
	if len(n.tail) > 2 {
		n.tail = n.tail[len(n.tail)-2:]
	}
	if string(n.tail) == "]}" && n.h.held == 0 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		n.h.held = m.HeapAlloc
	}
	return k, err
}

// BenchmarkRESTCapacity: one capacity poll over slurmrestd of a partition
// of 20,000 nodes of 64-byte names; held-B is what the heap holds once
// the node list is read, over what it held before the poll.
func BenchmarkRESTCapacity(b *testing.B) {
	const nodes, nameLen = 20_000, 64
	srv := httptest.NewServer(capacitySite(nodes, nameLen))
	defer srv.Close()
	r := capacityREST(b, srv.URL)
	h := &heldAtEnd{rt: r.c.hc.Transport}
	r.c.hc.Transport = h
	var held uint64
	b.ReportAllocs()
	for b.Loop() {
		var m runtime.MemStats
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&m)
		h.held = 0
		b.StartTimer()
		got, err := r.Capacity(context.Background())
		if err != nil || got[backend.SiteAccelerator] != 3*nodes+2 {
			b.Fatalf("capacity %v, %v", got, err)
		}
		if h.held > m.HeapAlloc {
			held += h.held - m.HeapAlloc
		}
	}
	b.ReportMetric(float64(held)/float64(b.N), "held-B")
}

// TestRESTListElementsDecodedInPlace: each element of a list (GET nodes,
// jobs) was copied out of the answer and then decoded from the copy: a
// list of nodes each carrying a field of no use here, as long as an
// element may be, had every poll allocate the whole list again. Elements
// are decoded straight from the answer now, fields of no use skipped.
func TestRESTListElementsDecodedInPlace(t *testing.T) {
	const count, pad = 256, 128 << 10
	filler := []byte(`,"other":"` + strings.Repeat("x", pad) + `"}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case apiPath("ping"):
			w.Write([]byte(`{"errors":[],"pings":[{"ping":"UP","status":0}]}`))
		case apiPath("partition", "p"):
			w.Write([]byte(`{"errors":[],"partitions":[{"name":"p","state":"UP"}]}`))
		case apiPath("nodes"):
			w.Write([]byte(`{"errors":[],"nodes":[`))
			for i := range count {
				if i > 0 {
					w.Write([]byte(`,`))
				}
				fmt.Fprintf(w, `{"name":"n%d","state":"down","state_flags":["FAIL"],"partitions":["p"],"gres":"gpu:2"`, i)
				w.Write(filler)
			}
			w.Write([]byte(`]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	r := plainREST(t, srv.URL)
	r.partition, r.gres = "p", "gpu"
	for _, c := range []struct {
		name string
		do   func() error
	}{
		{"check", func() error { return r.Check(context.Background()) }},
		{"down nodes", func() error {
			why, err := r.downNode(context.Background(), []string{"n255"})
			if err == nil && !strings.HasPrefix(why, "node n255 is down FAIL") {
				err = fmt.Errorf("downNode = %q; want n255 down", why)
			}
			return err
		}},
	} {
		var err error
		got := allocated(func() { err = c.do() })
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		t.Logf("%s: a list of %d nodes of %d bytes each allocated %d bytes", c.name, count, pad, got)
		if got > count*pad/4 {
			t.Errorf("%s: a list of %d nodes of %d bytes each allocated %d bytes; want at most %d", c.name, count, pad, got, count*pad/4)
		}
	}
}

// TestRESTCapacityOwnJobHostsNotKept: a running job of the server's own
// that slurmrestd lists on a compressed host list of many long names
// ("<240 bytes>[000000-199999]") had a capacity poll make and keep all
// the names at once before counting them. They are now counted as they
// are made.
func TestRESTCapacityOwnJobHostsNotKept(t *testing.T) {
	const hosts = 200_000
	prefix := strings.Repeat("a", 240)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case apiPath("partitions"):
			io.WriteString(w, `{"errors":[],"partitions":[{"name":"gpu","state":"UP","flags":[]}]}`)
		case apiPath("jobs"):
			fmt.Fprintf(w, `{"errors":[],"jobs":[{"job_id":7,"job_state":"RUNNING","nodes":"%s[000000-%06d]","tres_per_node":"gres:gpu:h100:1"}]}`, prefix, hosts-1)
		case apiPath("nodes"):
			fmt.Fprintf(w, `{"errors":[],"nodes":[{"name":"%s000003","state":"mixed","partitions":["gpu"],"gres":"gpu:h100:8","gres_used":"gpu:h100:1"}]}`, prefix)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	r := capacityREST(t, srv.URL)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got, err := r.Capacity(context.Background())
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	// The node's 7 free and the 1 the own job holds there.
	if got[backend.SiteAccelerator] != 8 {
		t.Errorf("capacity %d; want 8", got[backend.SiteAccelerator])
	}
	grew := int64(after.HeapSys) - int64(before.HeapSys)
	t.Logf("a job on %d hosts of %d-byte names grew the heap by %d bytes", hosts, len(prefix)+6, grew)
	if grew > 24<<20 {
		t.Errorf("a job on %d hosts of %d-byte names grew the heap by %d bytes; want at most 24 MiB", hosts, len(prefix)+6, grew)
	}
}
