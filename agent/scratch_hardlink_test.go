//go:build linux

package agent

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// outsideFile is a file of the test's own, outside any scratch, that a
// tenant's hard link may name.
func outsideFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(p, []byte("root:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func ownerOf(t *testing.T, p string) uint32 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid
}

// TestAttackRelaunchedScratchHardLinkChowned: the scratch of an earlier
// launch is still the tenant's, and the tenant left at its top a hard
// link to a file of root's (where fs.protected_hardlinks is 0 anyone may
// make one). The launch again on it made data, checkpoints and tmp new,
// left the rest, and gave everything in the scratch to the tenant: the
// file the link names with it. Now the whole scratch is emptied first.
func TestAttackRelaunchedScratchHardLinkChowned(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, as the agent in uid mode is")
	}
	const tenant = 54321
	secret := outsideFile(t)
	wd := filepath.Join(t.TempDir(), "scratch")
	if err := os.MkdirAll(filepath.Join(wd, "keep", "deeper"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(wd, "shadow"), filepath.Join(wd, "keep", "deeper", "shadow")} {
		if err := os.Link(secret, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(wd, tenant, tenant); err != nil { // as the earlier launch left it
		t.Fatal(err)
	}
	scratch, err := freshScratch(Sandbox{Mode: SandboxUID, UID: tenant, GID: tenant}, wd, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer scratch.Close()
	ents, err := os.ReadDir(wd)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(ents), " "); got != "checkpoints data tmp" {
		t.Errorf("the relaunched scratch holds %q; want only checkpoints data tmp", got)
	}
	chownTree(scratch, wd, tenant, tenant)
	if uid := ownerOf(t, secret); uid != 0 {
		t.Errorf("the file a tenant's hard link in the scratch named is now owned by uid %d; want root's still", uid)
	}
}

// TestChownTreeRefusesHardLinksAndOthersFiles: what the scratch holds when
// it is given to the tenant is what the agent made there; a file of
// another owner, or one with a second name elsewhere (a hard link to a
// file outside), is refused, never given to the tenant.
func TestChownTreeRefusesHardLinksAndOthersFiles(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, as the agent in uid mode is")
	}
	const tenant = 54321
	for _, tc := range []struct {
		name string
		put  func(t *testing.T, p string) (outside string)
	}{
		{"hard link", func(t *testing.T, p string) string {
			secret := outsideFile(t)
			if err := os.Link(secret, p); err != nil {
				t.Fatal(err)
			}
			return secret
		}},
		{"another's file", func(t *testing.T, p string) string {
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(p, 4242, 4242); err != nil {
				t.Fatal(err)
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wd := t.TempDir()
			if err := os.MkdirAll(filepath.Join(wd, "data", "ds"), 0o700); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(wd, "data", "ds", "f")
			outside := tc.put(t, p)
			before := ownerOf(t, p)
			err := chownTree(checkedAttempt(t, wd).scratch, wd, tenant, tenant)
			if err == nil || !strings.Contains(err.Error(), p) {
				t.Errorf("chownTree: %v; want it refused, naming %s", err, p)
			}
			if uid := ownerOf(t, p); uid != before {
				t.Errorf("%s given to uid %d", p, uid)
			}
			if outside != "" && ownerOf(t, outside) != 0 {
				t.Errorf("the file outside the scratch was given to the tenant")
			}
		})
	}
}
