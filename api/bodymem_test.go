package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"meridian.dev/meridian/internal/jsondup"
	"meridian.dev/meridian/run"
)

// TestDecodeBodyMemory: a body of MaxBodyBytes is read into one buffer
// and decoded from it. Before, the decoder read it into a second copy of
// its own (doubling up to 8 MiB), and io.ReadAll grew its buffer a
// quarter at a time (about 20 MiB of buffers for a body of 4 MiB): 35 MB
// allocated for one body, 8.3 times its size. The decoded document's text
// (the decoder's unquoted copy, then the string) takes two of its size by
// itself.
func TestDecodeBodyMemory(t *testing.T) {
	body := bigBodies(t)["one-document"]
	for _, chunked := range []bool{false, true} {
		best := uint64(1 << 62)
		for range 3 {
			w := httptest.NewRecorder()
			r := httptest.NewRequest("POST", "/v1/plans", bytes.NewReader(body))
			if chunked {
				r.ContentLength = -1 // no Content-Length: the read grows as bytes arrive
			}
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
			var req run.PlanRequest
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			ok := decodeBody(w, r, &req, "plan request")
			runtime.ReadMemStats(&after)
			if !ok || len(req.Documents) != 1 || len(req.Documents[0].Content) < MaxBodyBytes/2 {
				t.Fatalf("%s", w.Body.String())
			}
			best = min(best, after.TotalAlloc-before.TotalAlloc)
		}
		if limit := uint64(9 * len(body) / 2); best > limit {
			t.Errorf("chunked %v: a body of %d bytes allocated %d (%.1f times), want at most %d", chunked, len(body), best, float64(best)/float64(len(body)), limit)
		}
		t.Logf("chunked %v: %d bytes allocated for a body of %d (%.1f times)", chunked, best, len(body), float64(best)/float64(len(body)))
	}
}

// TestBodyRefusalsAfterOneRead: what the decoder refused it still does,
// read from the one buffer: an unknown field at any depth (now named by
// its path), a value of the wrong kind (named by its path too), data
// after the object, a body that is not JSON, and one cut short.
func TestBodyRefusalsAfterOneRead(t *testing.T) {
	f := newFixture(t)
	doc, _ := json.Marshal(jobYAML)
	good := `{"documents":[{"name":"j.yaml","content":` + string(doc) + `}]}`
	for _, c := range []struct{ body, field, text string }{
		{`{"documents":[{"name":"j.yaml","content":"","colour":1}]}`, "documents[0].colour", "unknown field"},
		{good + ` {}`, "", "after"},
		{good + ` x`, "", "after"},
		{`{"documents":[` + strings.Repeat(" ", 100), "", "not a valid"},
		{`{"documents":"x"}`, "documents", "not a valid"},
		{``, "", "not a valid"},
	} {
		code, e := f.raw(t, "POST", "/v1/plans", tokA, c.body)
		if code != http.StatusBadRequest || e.Code != "malformed" || e.Field != c.field || !strings.Contains(e.Message, c.text) {
			t.Errorf("%.60q: %d %+v, want 400 malformed naming %q, saying %q", c.body, code, e, c.field, c.text)
		}
	}
	if code, e := f.raw(t, "POST", "/v1/plans", tokA, good+" \n\t"); code != http.StatusOK {
		t.Errorf("a body with space after it: %d %+v", code, e)
	}
}

// TestReadBody: readBody reads every byte whatever the reads return and
// whatever Content-Length claims, in a buffer at most twice what was sent
// (of its length when the claim was true), never of what was claimed.
func TestReadBody(t *testing.T) {
	for _, n := range []int{0, 1, 511, 512, 513, 4096, 100_000, 1 << 20} {
		data := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
		for _, size := range []int64{-1, 0, int64(n), int64(n) + 1, int64(n) * 3, 64 << 20} {
			for name, r := range map[string]io.Reader{
				"whole":    bytes.NewReader(data),
				"one-byte": iotest.OneByteReader(bytes.NewReader(data)),
				"data-eof": iotest.DataErrReader(bytes.NewReader(data)),
			} {
				b, err := readBody(r, size)
				if err != nil || !bytes.Equal(b, data) {
					t.Fatalf("%d bytes (claimed %d), %s: %d bytes back, %v", n, size, name, len(b), err)
				}
				if cap(b) > max(512, 2*n) || size == int64(n) && n > 512 && cap(b) != n {
					t.Errorf("%d bytes (claimed %d), %s: a buffer of %d", n, size, name, cap(b))
				}
			}
		}
	}
	if _, err := readBody(iotest.ErrReader(io.ErrUnexpectedEOF), 10); err != io.ErrUnexpectedEOF {
		t.Errorf("a read that fails: %v", err)
	}
}

// FuzzBodyCheckAsDecoder: a body decodeBody takes (the key check finds
// nothing, Unmarshal reads it) is one that encoding/json's decoder takes
// with unknown fields refused, read to the same request, with nothing
// after it; and a body whose keys are all spelled as the fields are is
// not refused for a key the decoder would take.
func FuzzBodyCheckAsDecoder(f *testing.F) {
	doc, _ := json.Marshal(jobYAML)
	for _, s := range []string{
		`{"documents":[{"name":"j.yaml","content":` + string(doc) + `}],"job":"a","asOf":"2026-01-01"}`,
		`{"documents":[{"name":"a","Content":"x"}],"Job":"b"}`,
		`{"documents":[{"name":"a","content":"x","colour":1}]}`,
		`{"documents":null,"placement":1,"priority":-3,"idempotencyKey":"k"} {}`,
		`{"\u006aob":"a","documents":[{}]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var got, want run.SubmitRequest
		p := jsondup.Check([]byte(body), reflect.TypeOf(&got))
		uerr := json.Unmarshal([]byte(body), &got)
		dec := json.NewDecoder(strings.NewReader(body))
		dec.DisallowUnknownFields()
		derr := dec.Decode(&want)
		if derr == nil {
			if _, err := dec.Token(); err != io.EOF {
				derr = errors.New("data after the value")
			}
		}
		if p.Kind == 0 && uerr == nil {
			if derr != nil {
				t.Fatalf("taken, but the decoder refuses it: %v", derr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("read as %+v, the decoder reads %+v", got, want)
			}
		}
		if p.Kind == jsondup.Unknown && derr == nil {
			t.Fatalf("%q refused as unknown, which the decoder takes", p.Path)
		}
	})
}
