package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// asAgentOf makes the agent's user stand in for uid (an image whose user
// is not root) until the test ends.
func asAgentOf(t *testing.T, uid int) {
	t.Helper()
	real := geteuid
	t.Cleanup(func() { geteuid = real })
	geteuid = func() int { return uid }
}

// mountsAt makes mountRoot read only the directories in roots as mount
// points until the test ends.
func mountsAt(t *testing.T, roots ...string) {
	t.Helper()
	real := mountRoot
	t.Cleanup(func() { mountRoot = real })
	mountRoot = func(p string, _ *unix.Stat_t) (bool, error) {
		for _, r := range roots {
			if p == r {
				return true, nil
			}
		}
		return false, nil
	}
}

// podScratch makes a scratch as a Kubernetes emptyDir is: root's and 0777,
// without the sticky bit, under directories only root may write.
func podScratch(t *testing.T) string {
	t.Helper()
	wd := filepath.Join(t.TempDir(), "meridian", "scratch")
	if err := os.MkdirAll(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(wd, 0o777); err != nil {
		t.Fatal(err)
	}
	return wd
}

// TestPodScratchVolumeTakenOnlyWhenTheServerSaysSo: a Kubernetes site's
// scratch is the pod's emptyDir, mounted at the working directory, root's
// and 0777 without the sticky bit. An agent that is not root (an image
// whose user is not) could neither take nor set it right, and refused
// every landlock attempt there. With the server's word in the manifest
// (Sandbox.ScratchVolume) the scratch itself is now taken where it is a
// mount point owned by root; without it, or where it is not a mount
// point, or is another user's, it is refused as before, and a directory
// above it is judged as ever.
func TestPodScratchVolumeTakenOnlyWhenTheServerSaysSo(t *testing.T) {
	if os.Geteuid() != 0 {
		// Only root can make a directory of root's for the agent to
		// find; TestMountRootReadsTheKernel still runs.
		return
	}
	asAgentOf(t, 4242)
	wd := podScratch(t)
	mountsAt(t, wd)
	// The test is root, and takeScratch (which is not told otherwise)
	// takes the write away from what it takes: set back for each look.
	as0777 := func() {
		t.Helper()
		if err := os.Chmod(wd, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	for _, mode := range []string{SandboxLandlock, SandboxUID} {
		sb := Sandbox{Mode: mode}
		if mode == SandboxUID {
			sb.UID, sb.GID = 54321, 54321
		}
		as0777()
		if err := fresh(sb, wd, nil); err == nil || !strings.Contains(err.Error(), wd+" (mode 0777, owned by uid 0)") {
			t.Errorf("sandbox %s: a root-owned 0777 mount point, not said to be the scratch volume: %v; want it refused, naming it", mode, err)
		}
		sb.ScratchVolume = true
		if err := fresh(sb, wd, nil); err != nil {
			t.Errorf("sandbox %s: the pod's scratch volume, said so: %v; want it taken", mode, err)
		}
		for _, d := range scratchDirs {
			if fi, err := os.Lstat(filepath.Join(wd, d)); err != nil || !fi.IsDir() {
				t.Errorf("sandbox %s: the scratch volume's %s: %v; want it made", mode, d, err)
			}
		}
	}
	sb := Sandbox{Mode: SandboxLandlock, ScratchVolume: true}
	as0777()
	cmd, err := workloadCommand(Config{Exe: "/nonexistent/meridian"}, sb, wd, []string{"/bin/sh"}, []string{"PATH=/usr/bin:/bin"})
	if err != nil {
		t.Errorf("the workload in the pod's scratch volume: %v; want it started", err)
	} else if cmd.grant != nil {
		cmd.grant.Close()
	}
	if fi, err := os.Stat(wd); err != nil || fi.Mode().Perm() != 0o777 {
		t.Errorf("the scratch volume: now %v (%v); want it left 0777", fi.Mode(), err)
	}

	// Not a mount point: any directory of root's that every user may
	// write, which another user could rename and replace.
	mountsAt(t)
	as0777()
	if err := fresh(sb, wd, nil); err == nil || !strings.Contains(err.Error(), "not a mount point") {
		t.Errorf("a root-owned 0777 scratch that is not a mount point, said to be the volume: %v; want it refused, saying so", err)
	}
	mountsAt(t, wd)

	// Another user's: whoever owns it may give it to anyone.
	if err := os.Chown(wd, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	as0777()
	if err := fresh(sb, wd, nil); err == nil || !strings.Contains(err.Error(), "not root") {
		t.Errorf("a mount point of uid 65534, said to be the volume: %v; want it refused", err)
	}
	if err := os.Chown(wd, 0, 0); err != nil {
		t.Fatal(err)
	}

	// The directories above are walked as ever, mount points or not.
	above := filepath.Dir(wd)
	mountsAt(t, wd, above)
	if err := os.Chmod(above, 0o777); err != nil {
		t.Fatal(err)
	}
	as0777()
	if err := fresh(sb, wd, nil); err == nil || !strings.Contains(err.Error(), above+" (mode 0777") {
		t.Errorf("a root-owned 0777 directory above the scratch volume: %v; want it refused, naming it", err)
	}
}

// TestMountRootReadsTheKernel: the real mountRoot reads a mount point on
// this machine (/proc) as one and a plain directory as none; and, where
// the test may mount, a tmpfs made as an emptyDir is taken as the scratch
// volume by an agent that is not root, with no stand-in.
func TestMountRootReadsTheKernel(t *testing.T) {
	for _, tc := range []struct {
		p    string
		want bool
	}{{"/proc", true}, {t.TempDir(), false}} {
		var st unix.Stat_t
		if err := unix.Lstat(tc.p, &st); err != nil {
			t.Fatal(err)
		}
		if got, err := isMountRoot(tc.p, &st); err != nil || got != tc.want {
			t.Errorf("isMountRoot(%s) = %v, %v; want %v", tc.p, got, err, tc.want)
		}
	}
	if os.Geteuid() != 0 {
		return
	}
	wd := podScratch(t)
	if err := unix.Mount("tmpfs", wd, "tmpfs", 0, "mode=0777,size=1m"); err != nil {
		t.Logf("no tmpfs mounted (%v): the mount point read through a stand-in only (TestPodScratchVolumeTakenOnlyWhenTheServerSaysSo)", err)
		return
	}
	t.Cleanup(func() { unix.Unmount(wd, unix.MNT_DETACH) })
	asAgentOf(t, 4242)
	if err := fresh(Sandbox{Mode: SandboxLandlock}, wd, nil); err == nil {
		t.Errorf("a mounted root-owned 0777 scratch, not said to be the volume: taken; want it refused")
	}
	if err := fresh(Sandbox{Mode: SandboxLandlock, ScratchVolume: true}, wd, nil); err != nil {
		t.Errorf("a mounted root-owned 0777 scratch, said to be the volume: %v; want it taken", err)
	}
}
