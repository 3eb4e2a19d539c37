package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestServeIsNotDumpable: a process of serve's own user, without
// CAP_SYS_PTRACE, cannot read serve's environment (nor, alike, its
// memory) through /proc once serve answers. Root reads any process's
// /proc whether it is dumpable or not, so a test run as root runs serve
// and the reader both as another user.
func TestServeIsNotDumpable(t *testing.T) {
	p := newServeProc(t)
	p.cat = "" // the local site alone: no catalog for that user to read
	const secret = "MERIDIAN_TEST_SECRET=store-password-no-one-else-reads"
	p.env = []string{secret, "HOME=" + p.state}
	var as *syscall.Credential
	if os.Getuid() == 0 {
		const nobody = 65534
		as = &syscall.Credential{Uid: nobody, Gid: nobody}
		if err := os.Mkdir(p.state, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p.state, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	p.as = as
	p.start()
	defer p.stop()

	environ := filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "environ")
	peek := exec.Command("cat", environ)
	peek.SysProcAttr = &syscall.SysProcAttr{Credential: as}
	var out, errOut bytes.Buffer
	peek.Stdout, peek.Stderr = &out, &errOut
	err := peek.Run()
	if err == nil || strings.Contains(out.String(), secret) {
		t.Fatalf("another process of serve's user read %s (exit %v): serve is dumpable", environ, err)
	}
	if !strings.Contains(errOut.String(), "Permission denied") {
		t.Fatalf("cat %s: %v: %s; want it refused with permission denied", environ, err, errOut.String())
	}
}
