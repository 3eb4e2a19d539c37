package plainfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRead: a regular file, and a link to one, are read; a FIFO that no
// one writes is refused at once rather than waited on, /dev/zero is
// refused rather than read until memory runs out, a directory is refused,
// and a file over the bound is an error; each error names the path.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(plain, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{plain, link} {
		if b, err := Read(p, 5); err != nil || string(b) != "hello" {
			t.Errorf("Read(%s): %q, %v", p, b, err)
		}
	}
	if _, err := Read(plain, 4); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), plain) || !strings.Contains(err.Error(), "4-byte limit") {
		t.Errorf("a 5-byte file read with a bound of 4: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, kind string }{{fifo, "a FIFO"}, {"/dev/zero", "a character device"}, {dir, "a directory"}} {
		done := make(chan error, 1)
		go func() { _, err := Read(c.path, 1<<20); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.kind) {
				t.Errorf("Read(%s): %v, want a refusal naming it as %s", c.path, err, c.kind)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Read(%s) still waiting after 10s", c.path)
		}
	}
	if _, err := Read(filepath.Join(dir, "missing"), 10); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v, want os.ErrNotExist", err)
	}
}

// readWithin runs ReadNamed(path, max) and fails the test when it has not
// returned within 10 seconds.
func readWithin(t *testing.T, path string, max int64) ([]byte, error) {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() { b, err := ReadNamed(path, max); done <- result{b, err} }()
	select {
	case r := <-done:
		return r.b, r.err
	case <-time.After(10 * time.Second):
		t.Fatalf("ReadNamed(%s) still waiting after 10s", path)
		return nil, nil
	}
}

// TestReadNamedPipes: a file named on the command line may be a pipe
// (bash's <(…) is /dev/fd/N), a FIFO or a character device (/dev/stdin on
// a terminal). Read refused each of them, which broke `run -f
// <(envsubst < job.yaml)` and `--age-identity <(op read …)`. ReadNamed
// reads a pipe whose writer writes in parts to its end, and a FIFO with a
// writer likewise; a FIFO with no writer reads as empty without waiting;
// /dev/zero is read only to the bound; a directory is still refused.
func TestReadNamedPipes(t *testing.T) {
	const want = "apiVersion: meridian.dev/v1alpha1\nkind: TrainingJob\n"
	// writeSlowly writes want in two parts, the second after the reader
	// has had time to find the pipe empty, then closes w.
	writeSlowly := func(w *os.File) {
		w.WriteString(want[:10])
		time.Sleep(200 * time.Millisecond)
		w.WriteString(want[10:])
		w.Close()
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go writeSlowly(w)
	path := fmt.Sprintf("/dev/fd/%d", r.Fd())
	if b, err := readWithin(t, path, 1<<20); err != nil || string(b) != want {
		t.Errorf("a pipe whose writer writes in two parts, as %s: %q, %v; want %q", path, b, err, want)
	}

	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Opened read-write, the writer holds the FIFO open for writing
	// before the reader opens it, as a writer blocked in its open does.
	fw, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	go writeSlowly(fw)
	if b, err := readWithin(t, fifo, 1<<20); err != nil || string(b) != want {
		t.Errorf("a FIFO with a writer: %q, %v; want %q", b, err, want)
	}

	if b, err := readWithin(t, fifo, 1<<20); err != nil || len(b) != 0 {
		t.Errorf("a FIFO with no writer: %q, %v; want it read as empty", b, err)
	}

	if b, err := readWithin(t, "/dev/zero", 1<<20); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "/dev/zero") || len(b) != 0 {
		t.Errorf("/dev/zero read with a bound of 1 MiB: %d bytes, %v; want ErrTooLarge naming it", len(b), err)
	}
	if b, err := readWithin(t, "/dev/null", 10); err != nil || len(b) != 0 {
		t.Errorf("/dev/null: %q, %v", b, err)
	}
	if _, err := readWithin(t, dir, 10); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "a directory") {
		t.Errorf("a directory: %v, want it refused", err)
	}

	// Read, for files that others may have put in place, still refuses
	// a pipe.
	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	defer w2.Close()
	if _, err := Read(fmt.Sprintf("/dev/fd/%d", r2.Fd()), 10); !errors.Is(err, ErrNotRegular) {
		t.Errorf("Read of a pipe: %v, want ErrNotRegular", err)
	}
}

// TestReadAllocatesAboutTheFileOnce: a regular file was read into the
// growing buffers of a read of unknown length, which allocated several
// times its size in all (a 512 MiB screening list took 1.2 GiB). Its size
// is known from Stat: the read now allocates about the file once.
func TestReadAllocatesAboutTheFileOnce(t *testing.T) {
	const size = 16 << 20
	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, bytes.Repeat([]byte{'x'}, size), 0o600); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	data, err := Read(path, 64<<20)
	runtime.ReadMemStats(&after)
	if err != nil || len(data) != size {
		t.Fatalf("Read = %d bytes, %v; want %d", len(data), err, size)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > size+size/8 {
		t.Errorf("reading a %d-byte file allocated %d bytes; want about the file once", size, got)
	}
}

// pipeRead writes size bytes to a pipe and reads it with ReadNamed at the
// bound, returning what it read and the bytes allocated meanwhile.
func pipeRead(t *testing.T, size int, bound int64) ([]byte, error, uint64) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	written := bytes.Repeat([]byte{'x'}, size)
	done := make(chan struct{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	go func() {
		defer close(done)
		w.Write(written)
		w.Close()
	}()
	data, err := ReadNamed(fmt.Sprintf("/dev/fd/%d", r.Fd()), bound)
	runtime.ReadMemStats(&after)
	r.Close()
	<-done
	return data, err, after.TotalAlloc - before.TotalAlloc
}

// TestReadNamedStreamCostsItsLength: a pipe was read into one buffer of
// the bound made at once (screen import), which reserved the bound in the
// heap whatever the pipe held (512 MiB for a list of a few MB), or into
// the chunks of io.ReadAll and a copy of them (ReadNamed), 2.4 times the
// bound at the bound. It is read into a buffer that doubles as it fills,
// up to the bound: a short pipe costs a small multiple of its length, one
// at the bound about twice the bound; one past the bound is refused,
// naming it and the bound, and what ReadNamed refuses still is.
func TestReadNamedStreamCostsItsLength(t *testing.T) {
	const short, bound = 3 << 20, 32 << 20
	data, err, got := pipeRead(t, short, 512<<20)
	t.Logf("a pipe of %d MiB with a bound of 512 MiB: %d KiB allocated", short>>20, got>>10)
	if err != nil || len(data) != short {
		t.Fatalf("a pipe of %d bytes: %d bytes, %v", short, len(data), err)
	}
	if got > 4*short {
		t.Errorf("reading a %d-byte pipe with a bound of 512 MiB allocated %d bytes; want at most 4 times its length", short, got)
	}
	data, err, got = pipeRead(t, bound, bound)
	t.Logf("a pipe of %d MiB at its bound: %d KiB allocated", bound>>20, got>>10)
	if err != nil || len(data) != bound || cap(data) != bound {
		t.Fatalf("a pipe of %d bytes at the bound: %d bytes (cap %d), %v", bound, len(data), cap(data), err)
	}
	if got > 2*bound+bound/8 {
		t.Errorf("reading a %d-byte pipe at its bound allocated %d bytes; want about twice the bound", bound, got)
	}
	data, err, got = pipeRead(t, bound+1, bound)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "/dev/fd/") || !strings.Contains(err.Error(), fmt.Sprintf("over the %d-byte limit", bound)) || len(data) != 0 {
		t.Errorf("a pipe one byte over the bound: %d bytes, %v; want ErrTooLarge naming it and the bound", len(data), err)
	}
	if got > 2*bound+bound/8 {
		t.Errorf("refusing a pipe one byte over its bound allocated %d bytes; want about twice the bound", got)
	}
	if b, err := ReadNamed("/dev/zero", 1<<20); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "/dev/zero") || len(b) != 0 {
		t.Errorf("/dev/zero read with a bound of 1 MiB: %d bytes, %v; want ErrTooLarge naming it", len(b), err)
	}
	for _, n := range []int{0, 1, 4 << 10, 4<<10 + 1} {
		data, err, _ := pipeRead(t, n, 4<<10+1)
		if err != nil || len(data) != n {
			t.Errorf("a pipe of %d bytes with a bound of %d: %d bytes, %v", n, 4<<10+1, len(data), err)
		}
	}
	if data, err, _ := pipeRead(t, 1, 0); !errors.Is(err, ErrTooLarge) || len(data) != 0 {
		t.Errorf("a pipe of 1 byte with a bound of 0: %d bytes, %v; want ErrTooLarge", len(data), err)
	}
	if b, err := ReadNamed("/dev/null", 10); err != nil || len(b) != 0 {
		t.Errorf("/dev/null: %q, %v", b, err)
	}
	if _, err := ReadNamed(t.TempDir(), 10); !errors.Is(err, ErrNotRegular) {
		t.Errorf("a directory: %v, want it refused", err)
	}
}
