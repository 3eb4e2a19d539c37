package slurm

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// downList serves a node list of n nodes down, each named by name(i) and
// said down for reason(i), written as it goes: the answer is never held
// whole on either side.
func downList(n int, name, reason func(int) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != apiPath("nodes") {
			http.NotFound(w, r)
			return
		}
		bw := bufio.NewWriter(w)
		bw.WriteString(`{"errors":[],"nodes":[`)
		for i := range n {
			if i > 0 {
				bw.WriteByte(',')
			}
			fmt.Fprintf(bw, `{"name":%q,"state":"down","state_flags":["NOT_RESPONDING"],"reason":%q,"partitions":["p"]}`, name(i), reason(i))
		}
		bw.WriteString(`]}`)
		bw.Flush()
	})
}

// plainREST is a REST talking plain HTTP to url, without a token.
func plainREST(t testing.TB, url string) *REST {
	t.Helper()
	c, err := newRESTClient(url, "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.token = nil
	c.timeout = 5 * time.Minute
	return &REST{c: c, NodeTTL: time.Hour, nodeSem: make(chan struct{}, 1)}
}

// retained is how many more bytes the heap holds after f than before,
// once garbage is collected.
func retained(f func()) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// hostileName is a distinct node name of n bytes.
func hostileName(i, n int) string {
	s := fmt.Sprintf("n%08d", i)
	return s + strings.Repeat("x", n-len(s))
}

// TestRESTDownNodesKeepLittle: between two fetches of the node list,
// Status kept a map of every node down, name to text, up to 65536 of
// them: a cluster listing that many nodes down, each with a long name
// and a reason of its own, had about 40 MB held until the next fetch. It
// now keeps the names end to end and a few distinct texts, within bounds
// of entries and bytes, and refuses a list past them rather than keep
// part of it (a node left out would read as up).
func TestRESTDownNodesKeepLittle(t *testing.T) {
	reason := func(i int) string { return fmt.Sprintf("%08d", i) + strings.Repeat("r", maxNodeText) }

	// At the bounds: as many nodes as kept, their names filling the
	// bytes kept, each with a reason of its own.
	n := maxDownNodes
	per := maxDownNameBytes / n
	srv := httptest.NewServer(downList(n, func(i int) string { return hostileName(i, per) }, reason))
	defer srv.Close()
	r := plainREST(t, srv.URL)
	var why string
	var err error
	held := retained(func() { why, err = r.downNode(context.Background(), []string{"up1", hostileName(n-1, per)}) })
	if err != nil {
		t.Fatalf("downNode at the bounds: %v", err)
	}
	if want := "node " + hostileName(n-1, per) + " is down NOT_RESPONDING"; !strings.HasPrefix(why, want) {
		t.Errorf("downNode = %q; want %q…", why, want)
	}
	if why, _ := r.downNode(context.Background(), []string{hostileName(0, per)}); !strings.HasPrefix(why, "node "+hostileName(0, per)+" is down NOT_RESPONDING "+reason(0)[:8]) {
		t.Errorf("downNode of the first node down = %q; want its reason", why)
	}
	t.Logf("the node states kept between fetches hold %d bytes of heap", held)
	if held > 4<<20 {
		t.Errorf("the node states kept between fetches hold %d bytes of heap; want at most 4 MiB", held)
	}
	runtime.KeepAlive(r)

	// Past the bound on names: refused whole, nothing kept.
	srv2 := httptest.NewServer(downList(n, func(i int) string { return hostileName(i, maxNodeText) }, reason))
	defer srv2.Close()
	r2 := plainREST(t, srv2.URL)
	held = retained(func() { why, err = r2.downNode(context.Background(), []string{"up1"}) })
	if err == nil {
		t.Errorf("downNode of %d nodes down named in %d bytes = %q, nil; want an error", n, n*maxNodeText, why)
	}
	if held > 8<<20 {
		t.Errorf("a refused node list left %d bytes of heap held; want at most 8 MiB", held)
	}
	runtime.KeepAlive(r2)
}

// BenchmarkRESTDownNodes fetches a hostile node list at the bounds (as
// many nodes down as kept, their names filling the bytes kept, each with
// a reason of its own) and reports what the kept node states hold.
func BenchmarkRESTDownNodes(b *testing.B) {
	n := maxDownNodes
	per := maxDownNameBytes / n
	srv := httptest.NewServer(downList(n, func(i int) string { return hostileName(i, per) },
		func(i int) string { return fmt.Sprintf("%08d", i) + strings.Repeat("r", maxNodeText) }))
	defer srv.Close()
	var held int64
	b.ReportAllocs()
	for range b.N {
		r := plainREST(b, srv.URL)
		held = retained(func() {
			if _, err := r.downNode(context.Background(), []string{"up1"}); err != nil {
				b.Fatal(err)
			}
		})
		runtime.KeepAlive(r)
	}
	b.ReportMetric(float64(held), "held-B")
}

// TestRESTDownNodeFlagsReadInPlace: a node's state flags were decoded whole,
// a slice of every flag: a node listing millions of empty flags within
// an element's bound (maxBody) had Status allocate about ten times that.
// They are now read one at a time, keeping whether FAIL is among them
// and the start of their text.
func TestRESTDownNodeFlagsReadInPlace(t *testing.T) {
	const count = (maxBody - 1<<10) / 3
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bw := bufio.NewWriter(w)
		bw.WriteString(`{"errors":[],"nodes":[{"name":"n1","state":"mixed","state_flags":[`)
		for range count {
			bw.WriteString(`"",`)
		}
		bw.WriteString(`"FAIL"]}]}`)
		bw.Flush()
	}))
	defer srv.Close()
	r := plainREST(t, srv.URL)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	why, err := r.downNode(context.Background(), []string{"n1"})
	runtime.ReadMemStats(&after)
	if err != nil || !strings.HasPrefix(why, "node n1 is mixed") {
		t.Fatalf("downNode = %q, %v; want n1 failing", why, err)
	}
	got := after.TotalAlloc - before.TotalAlloc
	t.Logf("reading a node of %d flags allocated %d bytes", count, got)
	if got > 5*maxBody {
		t.Errorf("reading a node of %d flags allocated %d bytes; want at most %d", count, got, 5*maxBody)
	}
}

// TestEachJSONString: the strings of a list, escaped or not, and an error
// for what is not a list of strings.
func TestEachJSONString(t *testing.T) {
	for _, c := range []struct {
		in, want string
		fails    bool
	}{
		{in: `null`},
		{in: `[]`},
		{in: ` [ "a" , "" ,"FAIL"] `, want: "a||FAIL|"},
		{in: `["x\"FAIL\"", "\u0046AIL", "a\\"]`, want: `x"FAIL"|FAIL|a\|`},
		{in: `[1]`, fails: true},
		{in: `["a",{}]`, fails: true},
		{in: `{}`, fails: true},
		{in: `"a"`, fails: true},
		{in: `["a`, fails: true},
		{in: `["a"`, fails: true},
	} {
		var got strings.Builder
		err := eachJSONString([]byte(c.in), func(s []byte) { got.Write(s); got.WriteByte('|') })
		if (err != nil) != c.fails || err == nil && got.String() != c.want {
			t.Errorf("eachJSONString(%s) = %q, %v; want %q, fails %v", c.in, got.String(), err, c.want, c.fails)
		}
	}
}
