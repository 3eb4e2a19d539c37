package agent

import (
	"fmt"
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
	got := seccompChild(t, "TestDenyNetworkWholeArgument", "1")
	for _, name := range []string{"inet", "inet-high", "inet6-udp-high", "inet-all-high"} {
		if !strings.Contains(got, "DENIED "+name+" ") {
			t.Errorf("socket %s was not refused:\n%s", name, got)
		}
	}
	if !strings.Contains(got, "UNIX ok") {
		t.Errorf("a Unix socket was refused too:\n%s", got)
	}
}

// TestDenyNetworkOtherFamilies: the filter lets the workload open Unix and
// netlink sockets (IPC, the interfaces' list) and no other family. A list
// of families to refuse left out those that reach other machines past
// Landlock and the filter: AF_SMC, whose connect falls back to TCP over a
// socket of the kernel's own; AF_VSOCK, the host of a virtual machine
// (this one has it); AF_RDS and AF_TIPC with their IP transports; raw
// packets for an agent running as root.
func TestDenyNetworkOtherFamilies(t *testing.T) {
	families := []struct {
		name           string
		family, typ, p int
	}{
		{"smc", unix.AF_SMC, unix.SOCK_STREAM, 0},
		{"vsock", unix.AF_VSOCK, unix.SOCK_STREAM, 0},
		{"rds", unix.AF_RDS, unix.SOCK_SEQPACKET, 0},
		{"tipc", unix.AF_TIPC, unix.SOCK_RDM, 0},
		{"rxrpc", unix.AF_RXRPC, unix.SOCK_DGRAM, unix.AF_INET},
		{"packet", unix.AF_PACKET, unix.SOCK_RAW, 0},
		{"xdp", unix.AF_XDP, unix.SOCK_RAW, 0},
		{"bluetooth", unix.AF_BLUETOOTH, unix.SOCK_STREAM, 0},
		{"can", unix.AF_CAN, unix.SOCK_RAW, 1},
		{"alg", unix.AF_ALG, unix.SOCK_SEQPACKET, 0},
	}
	if os.Getenv("MERIDIAN_TEST_SECCOMP_CHILD") == "2" {
		if err := denyNetwork(); err != nil {
			os.Stdout.WriteString("LOAD " + err.Error() + "\n")
			os.Exit(0)
		}
		for _, c := range families {
			fd, err := unix.Socket(c.family, c.typ, c.p)
			if err == nil {
				unix.Close(fd)
			}
			os.Stdout.WriteString(fmt.Sprintf("%s %v\n", c.name, err))
		}
		for _, c := range []struct {
			name           string
			family, typ, p int
		}{{"unix", unix.AF_UNIX, unix.SOCK_STREAM, 0}, {"netlink", unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE}} {
			if fd, err := unix.Socket(c.family, c.typ, c.p); err == nil {
				unix.Close(fd)
				os.Stdout.WriteString(c.name + " ok\n")
			}
		}
		os.Exit(0)
	}
	got := seccompChild(t, "TestDenyNetworkOtherFamilies", "2")
	// The filter's own answer, whatever the kernel has of each family.
	for _, c := range families {
		if !strings.Contains(got, c.name+" "+unix.EPERM.Error()+"\n") {
			t.Errorf("socket family %s was not refused by the filter:\n%s", c.name, got)
		}
	}
	for _, name := range []string{"unix", "netlink"} {
		if !strings.Contains(got, name+" ok") {
			t.Errorf("a %s socket was refused too:\n%s", name, got)
		}
	}
}

// seccompChild runs test again in a child process with
// MERIDIAN_TEST_SECCOMP_CHILD=n, where it loads the filter and probes, and
// returns what the child printed; it fails when the filter did not load.
func seccompChild(t *testing.T, test, n string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), "MERIDIAN_TEST_SECCOMP_CHILD="+n)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	got := string(out)
	if strings.Contains(got, "LOAD ") {
		t.Fatalf("the filter did not load:\n%s", got)
	}
	return got
}
