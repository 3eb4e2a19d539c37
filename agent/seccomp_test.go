package agent

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDenyNetworkWholeArgument: the filter judges socket's family as the
// kernel reads it, 32 bits. A family with high bits set (1<<32|AF_INET)
// matched none of the filter's 64-bit comparisons, and the kernel opened
// an IPv4 socket past it. The filter binds the whole process, so a child
// test binary loads it and reports.
func TestDenyNetworkWholeArgument(t *testing.T) {
	if os.Getenv("MERIDIAN_TEST_SECCOMP_CHILD") == "1" {
		if err := denyNetwork(); err != nil {
			os.Stdout.WriteString("LOAD " + err.Error() + "\n")
			os.Exit(0)
		}
		for _, c := range []struct {
			name   string
			family uintptr
			typ    uintptr
		}{
			{"inet", unix.AF_INET, unix.SOCK_STREAM},
			{"inet-high", 1<<32 | unix.AF_INET, unix.SOCK_STREAM},
			{"inet6-udp-high", 1<<32 | unix.AF_INET6, unix.SOCK_DGRAM},
			{"inet-all-high", 0xffffffff<<32 | unix.AF_INET, unix.SOCK_DGRAM},
		} {
			fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, c.family, c.typ, 0)
			if e == 0 {
				unix.Close(int(fd))
				os.Stdout.WriteString("OPENED " + c.name + "\n")
			} else {
				os.Stdout.WriteString("DENIED " + c.name + " " + e.Error() + "\n")
			}
		}
		// A Unix socket stays the workload's (Landlock scopes where it
		// may connect).
		if fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM, 0); e == 0 {
			unix.Close(int(fd))
			os.Stdout.WriteString("UNIX ok\n")
		}
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDenyNetworkWholeArgument$")
	cmd.Env = append(os.Environ(), "MERIDIAN_TEST_SECCOMP_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	got := string(out)
	if strings.Contains(got, "LOAD ") {
		t.Fatalf("the filter did not load:\n%s", got)
	}
	for _, name := range []string{"inet", "inet-high", "inet6-udp-high", "inet-all-high"} {
		if !strings.Contains(got, "DENIED "+name+" ") {
			t.Errorf("socket %s was not refused:\n%s", name, got)
		}
	}
	if !strings.Contains(got, "UNIX ok") {
		t.Errorf("a Unix socket was refused too:\n%s", got)
	}
}
