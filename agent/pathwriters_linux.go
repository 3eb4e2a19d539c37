package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// checkPathWriters refuses, in the landlock sandbox, to run anything for
// what (the scratch, or the command run by its path in it) when dir, or a
// directory above it up to /, lets a user other than the server's and
// root rename what is in it. Such a user could rename the scratch, or the
// command's directory, away between the agent's checks and the run and
// put a directory of their own in its place: its program run by the path
// judged, and granted to the workload as its scratch by the path named.
// dir is absolute and names no link (its links resolved, as the kernel
// sees it); a link met on it, put there since, is refused too. The
// error names the directory and who may write it.
func checkPathWriters(sb Sandbox, what, dir string) error {
	if sb.Mode != SandboxLandlock {
		return nil
	}
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("sandbox %q: %s: %s is not an absolute path; refusing to run the workload", sb.Mode, what, dir)
	}
	euid := os.Geteuid()
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return fmt.Errorf("sandbox %q: %s: the directory %s: %w; refusing to run the workload", sb.Mode, what, p, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return fmt.Errorf("sandbox %q: %s: %s on its path is not a directory (a link put there since the scratch was resolved?); refusing to run the workload", sb.Mode, what, p)
		}
		if who := dirWriters(&st, euid); who != "" {
			return fmt.Errorf("sandbox %q: %s: the directory %s (mode %04o, owned by uid %d) on its path may be written by %s, who could rename what is in it and put their own in its place between the check and the run; refusing to run the workload (let only the server's user (uid %d) and root own and write each directory on the scratch's path: chmod go-w %s, or set the sticky bit of a root-owned shared directory, as /tmp has)", sb.Mode, what, p, st.Mode&0o7777, st.Uid, who, euid, p)
		}
		if p == "/" {
			return nil
		}
	}
}

// dirWriters says who, other than the user euid and root, may rename or
// remove the entries of the directory st describes ("" where nobody): its
// owner, when it is another user's (the owner may always give itself the
// right), and its group and every user where its mode lets them write. A
// directory with the sticky bit (/tmp, 1777 and root's) lets only an
// entry's owner, the directory's owner and root rename or remove that
// entry, and each entry on the path is judged in turn, so there its mode
// lets no one else. An access list that grants some user write shows in
// the group's bits (they hold its mask), and is refused as the group.
func dirWriters(st *unix.Stat_t, euid int) string {
	var who []string
	if uid := int(st.Uid); uid != euid && uid != 0 {
		who = append(who, fmt.Sprintf("its owner (uid %d)", uid))
	}
	if st.Mode&unix.S_ISVTX == 0 {
		if st.Mode&0o020 != 0 {
			who = append(who, fmt.Sprintf("its group (gid %d)", st.Gid))
		}
		if st.Mode&0o002 != 0 {
			who = append(who, "every user")
		}
	}
	return strings.Join(who, " and ")
}

// checkScratchWriters is checkPathWriters for the attempt's scratch wd,
// or, where the command is run by its path in the scratch (execPath, see
// runByPath), for the command's directory, the scratch and those above
// it. wd's links are resolved first, as Run resolves them.
func checkScratchWriters(sb Sandbox, wd, execPath string) error {
	if sb.Mode != SandboxLandlock || wd == "" {
		return nil
	}
	dir, what := wd, "the scratch "+wd
	if execPath != "" {
		dir, what = filepath.Dir(execPath), "the command "+execPath
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("sandbox %q: %s: %w; refusing to run the workload", sb.Mode, what, err)
	}
	return checkPathWriters(sb, what, real)
}
