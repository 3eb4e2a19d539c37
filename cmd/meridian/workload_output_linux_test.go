package main

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: its controlling side and the terminal a
// program writes to.
func openPTY(t *testing.T) (ctl, tty *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	t.Cleanup(func() { ctl.Close() })
	if err := unix.IoctlSetPointerInt(int(ctl.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(ctl.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("the pseudo-terminal's number: %v", err)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return ctl, tty
}

// TestLogsOnARealTerminal: the same through the terminal detection itself:
// `meridian logs` writing to a pseudo-terminal sends it no ESC, C1 or
// override, and writing to a pipe sends the output as it is.
func TestLogsOnARealTerminal(t *testing.T) {
	t.Setenv("MERIDIAN_CONFIG", t.TempDir()+"/none.yaml")
	utf8Terminal(t)
	ctl, tty := openPTY(t)
	if !stdoutTerminal(tty) {
		t.Fatal("a pseudo-terminal is not taken for a terminal")
	}
	srv := pagedLogServer(t, hostileOutput, 5)
	args := []string{"logs", "r1", "--server", srv.URL, "--token", strings.Repeat("a", 40)}
	root := newRootCmd()
	root.SetOut(tty)
	root.SetErr(io.Discard)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for {
		// The terminal's side gives EIO once the program's side is
		// closed and all is read.
		n, err := ctl.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			break
		}
	}
	// The terminal writes a newline as \r\n.
	if want := strings.ReplaceAll(hostileShown, "\n", "\r\n"); got.String() != want {
		t.Errorf("the terminal was given\n%q\nwant\n%q", got.String(), want)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	root = newRootCmd()
	root.SetOut(w)
	root.SetErr(io.Discard)
	root.SetArgs(args)
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	err = root.Execute()
	w.Close()
	if b := <-done; err != nil || string(b) != hostileOutput {
		t.Errorf("to a pipe: %v, wrote %q, want the output as it is", err, b)
	}
}
