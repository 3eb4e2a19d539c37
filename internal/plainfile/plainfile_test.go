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

// TestReadNamedAtOnce: a pipe read into a buffer grown as it filled
// allocated several times what it held; ReadNamedAtOnce reads it into one
// buffer of the bound, and still refuses a stream past the bound, names
// what it read and refuses what ReadNamed refuses.
func TestReadNamedAtOnce(t *testing.T) {
	const size, bound = 32 << 20, 32 << 20
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	written := bytes.Repeat([]byte{'x'}, size)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	go func() {
		w.Write(written)
		w.Close()
	}()
	data, err := ReadNamedAtOnce(fmt.Sprintf("/dev/fd/%d", r.Fd()), bound)
	runtime.ReadMemStats(&after)
	if err != nil || len(data) != size || cap(data) != size {
		t.Fatalf("a pipe of %d bytes: %d bytes (cap %d), %v", size, len(data), cap(data), err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > bound+bound/8 {
		t.Errorf("reading a %d-byte pipe with a bound of %d allocated %d bytes; want the bound once", size, bound, got)
	}
	if b, err := ReadNamedAtOnce("/dev/zero", 1<<20); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "/dev/zero") || len(b) != 0 {
		t.Errorf("/dev/zero read with a bound of 1 MiB: %d bytes, %v; want ErrTooLarge naming it", len(b), err)
	}
	if b, err := ReadNamedAtOnce("/dev/null", 10); err != nil || len(b) != 0 {
		t.Errorf("/dev/null: %q, %v", b, err)
	}
	if _, err := ReadNamedAtOnce(t.TempDir(), 10); !errors.Is(err, ErrNotRegular) {
		t.Errorf("a directory: %v, want it refused", err)
	}
}
