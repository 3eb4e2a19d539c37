package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// geteuid is os.Geteuid, replaced by tests to stand in for a server that
// does not run as root.
var geteuid = os.Geteuid

// checkPathWriters refuses, in every sandbox mode, to run anything for
// what (the scratch, or the command run by its path in it) when dir, or a
// directory above it up to /, lets a user other than the agent's and root
// rename what is in it. Such a user could rename the scratch, or the
// command's directory, away between the agent's checks and the run and
// put a directory of their own in its place: its program run by the path
// judged, granted to a landlock workload as its scratch by the path
// named, and, in every mode, the datasets and the checkpoint unsealed
// into it by the agent (root, in the uid sandbox) and the scratch emptied
// through it. dir is absolute and names no link (its links resolved, as
// the kernel sees it); a link met on it, put there since, is refused too.
//
// A directory of the agent's user that its group or every user may write
// has that write taken away (guardDir) rather than refused, where the
// agent does not run as root: a landlock workload runs as that user and
// may chmod any of its directories (Landlock does not cover metadata),
// and one chmod 0777 of the shared work root refused every later attempt
// under it, every tenant's, until an operator set it back. An agent run
// as root (the uid sandbox) sets right only the scratch and what lies in
// it (a Kubernetes scratch volume, emptyDir, is root's and 0777 without
// the sticky bit): a root-owned directory above it is the site's (a
// /scratch of mode 0775, root and a group of the site's users), whose
// mode the agent must not change for every user of the node, and no
// workload of root's can have opened it. The rest (another user's, root's
// when the agent is not root, root's above the scratch when it is) is
// refused; the error names the directory, its mode, its owner and who
// may write it. Each mode the agent changes is logged (logf, nil for
// none).
//
// scratch is the scratch's own path, links resolved: in the uid sandbox
// it and what lies in it may be the tenant's user's too (tenantOf), to
// whom the agent hands it.//
// Where the server says the scratch is the attempt's own volume
// (Sandbox.ScratchVolume: a Kubernetes pod's emptyDir, root's and 0777,
// which an agent that is not root can neither take nor set right), the
// scratch directory itself, and only it, is taken as found when it is
// the root of a mount and root's (podVolume). No other user shares a
// container's paths, and a mount point cannot be renamed or removed
// (EBUSY), so no one could put another directory in its place. A scratch
// that is not a mount point is judged as any other directory.
func checkPathWriters(sb Sandbox, what, dir, scratch string, logf func(string, ...any)) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("sandbox %q: %s: %s is not an absolute path; refusing to run the workload", sb.Mode, what, dir)
	}
	euid := geteuid()
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		g := guard{sb: sb, what: what, euid: euid, tenant: -1, logf: logf}
		if scratch != "" && pathWithin(p, scratch) {
			g.tenant, g.inScratch = tenantOf(sb), true
		}
		g.volume = sb.ScratchVolume && scratch != "" && p == filepath.Clean(scratch)
		if err := g.dir(p); err != nil {
			return err
		}
		if p == "/" {
			return nil
		}
	}
}

// tenantOf is the user the uid sandbox hands the scratch to, -1 in the
// other modes, where the scratch stays the agent's user's.
func tenantOf(sb Sandbox) int {
	if sb.Mode == SandboxUID {
		return sb.UID
	}
	return -1
}

// guard is how guardDir judges the directories on one path.
type guard struct {
	sb   Sandbox
	what string
	// euid is the agent's user; tenant the scratch's user in the uid
	// sandbox (-1 for none), for a directory in the scratch.
	euid, tenant int
	// inScratch says the directory is the scratch or lies in it; volume
	// that it is the scratch and the server says it is the attempt's own
	// volume (podVolume).
	inScratch, volume bool
	// logf logs each mode the agent changes (nil: not logged).
	logf func(string, ...any)
}

// guardDir is guard.dir for a directory that is not in the scratch.
func guardDir(sb Sandbox, what, p string, euid int, logf func(string, ...any)) error {
	return guard{sb: sb, what: what, euid: euid, tenant: -1, logf: logf}.dir(p)
}

// dir checks the one directory p (checkPathWriters): it must be a
// directory, not a link, that no user but euid, root and tenant may
// rename the entries of. One that its group or every user may write has
// that write taken away first where the agent may set it right
// (mayTakeWrite), through a descriptor of the directory looked at, and
// is looked at again: still written by another, or not set right, it is
// refused, unless g.volume says p is the site's scratch volume and it is
// one (podVolume).
func (g guard) dir(p string) error {
	var st unix.Stat_t
	if err := lstatDir(g.sb, g.what, p, &st); err != nil {
		return err
	}
	who := dirWriters(&st, g.euid, g.tenant)
	if who == "" {
		return nil
	}
	if g.mayTakeWrite(int(st.Uid)) {
		was := st.Mode & 0o7777
		mode, err := takeGroupWrite(p, &st)
		if err != nil {
			return fmt.Errorf("sandbox %q: %s: the directory %s (mode %04o, owned by uid %d) may be written by others and its mode could not be set back: %w; refusing to run the workload", g.sb.Mode, g.what, p, was, st.Uid, err)
		}
		if g.logf != nil {
			g.logf("%s: the directory %s (owned by uid %d) could be written by %s: its mode was set from %04o to %04o", g.what, p, st.Uid, who, was, mode)
		}
		if err := lstatDir(g.sb, g.what, p, &st); err != nil {
			return err
		}
		who = dirWriters(&st, g.euid, g.tenant)
	}
	if who == "" {
		return nil
	}
	hint := ""
	if g.volume {
		ok, why := podVolume(p, &st)
		if ok {
			return nil
		}
		hint = "; the site's scratch volume, but " + why
	}
	return fmt.Errorf("sandbox %q: %s: the directory %s (mode %04o, owned by uid %d) on its path may be written by %s, who could rename what is in it and put their own in its place between the check and the run%s; refusing to run the workload (let only the agent's user (uid %d) and root own and write each directory on the scratch's path: chmod go-w %s, or set the sticky bit of a root-owned shared directory, as /tmp has)", g.sb.Mode, g.what, p, st.Mode&0o7777, st.Uid, who, hint, g.euid, p)
}

// mayTakeWrite says whether the agent sets right, rather than refuses, a
// directory of the user uid that others may write. Not root, it sets
// right its own, wherever they lie: a workload of its user may have
// opened them. Root sets right only the scratch and what lies in it,
// root's or the tenant's: a directory above it is the site's, shared by
// every user of the node, and taking its group's write would change it
// for all of them, silently.
func (g guard) mayTakeWrite(uid int) bool {
	if g.euid != 0 {
		return uid == g.euid
	}
	return g.inScratch && (uid == 0 || uid == g.tenant)
}

// podVolume reports whether the scratch p, which st (from Lstat)
// describes, may be taken as the attempt's own volume: owned by root, as
// the kubelet makes an emptyDir, and the root of a mount. Why not, when
// not.
func podVolume(p string, st *unix.Stat_t) (bool, string) {
	if st.Uid != 0 {
		return false, fmt.Sprintf("owned by uid %d, not root", st.Uid)
	}
	mount, err := mountRoot(p, st)
	if err != nil {
		return false, fmt.Sprintf("whether it is a mount point could not be told (%v)", err)
	}
	if !mount {
		return false, "not a mount point"
	}
	return true, ""
}

// mountRoot is isMountRoot, replaced by tests that cannot mount.
var mountRoot = isMountRoot

// isMountRoot reports whether the directory p, which st (from Lstat)
// describes, is the root of a mount. The kernel says so itself
// (STATX_ATTR_MOUNT_ROOT, Linux 5.8); an older one, or a sandboxed
// kernel that leaves the attribute out, is asked whether p lies on
// another device than its parent (a bind mount of a directory of the
// same filesystem then reads as none, which refuses, failing closed).
// What statx finds at p must be what st describes: a directory put in
// its place since is not judged by the other's mount.
func isMountRoot(p string, st *unix.Stat_t) (bool, error) {
	var sx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_TYPE|unix.STATX_INO, &sx)
	if err == nil {
		if unix.Mkdev(sx.Dev_major, sx.Dev_minor) != st.Dev || sx.Ino != st.Ino {
			return false, fmt.Errorf("%s replaced while it was looked at", p)
		}
		if sx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 {
			return sx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
		}
	} else if err != unix.ENOSYS && err != unix.EPERM {
		// ENOSYS, or EPERM from a seccomp filter that predates statx,
		// leaves the comparison of devices below.
		return false, err
	}
	var parent unix.Stat_t
	if err := unix.Lstat(filepath.Dir(p), &parent); err != nil {
		return false, err
	}
	return parent.Dev != st.Dev, nil
}

// lstatDir looks at p, which must be a directory and not a link, into st.
func lstatDir(sb Sandbox, what, p string, st *unix.Stat_t) error {
	if err := unix.Lstat(p, st); err != nil {
		return fmt.Errorf("sandbox %q: %s: the directory %s: %w; refusing to run the workload", sb.Mode, what, p, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("sandbox %q: %s: %s on its path is not a directory (a link put there since the scratch was resolved?); refusing to run the workload", sb.Mode, what, p)
	}
	return nil
}

// takeGroupWrite takes the group's and other users' write away from the
// directory p, which st (from Lstat) describes, as takeScratch does for
// the scratch. It never follows a link: p is opened O_PATH and O_NOFOLLOW,
// and changed through that descriptor's /proc entry only if it is still
// the directory st describes (a directory put in its place since is left
// as it is, and judged as found by the caller's second look). It returns
// the mode set.
func takeGroupWrite(p string, st *unix.Stat_t) (uint32, error) {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_NOFOLLOW|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		return 0, err
	}
	if now.Dev != st.Dev || now.Ino != st.Ino {
		return 0, fmt.Errorf("replaced while it was looked at")
	}
	mode := (now.Mode & 0o7777) &^ 0o022
	return mode, fdChmod(fd, mode)
}

// dirWriters says who, other than the user euid, root and tenant (-1 for
// none), may rename or remove the entries of the directory st describes
// ("" where nobody): its owner, when it is another user's (the owner may
// always give itself the right), and its group and every user where its
// mode lets them write. A
// directory with the sticky bit (/tmp, 1777 and root's) lets only an
// entry's owner, the directory's owner and root rename or remove that
// entry, and each entry on the path is judged in turn, so there its mode
// lets no one else. An access list that grants some user write shows in
// the group's bits (they hold its mask), and is refused as the group.
func dirWriters(st *unix.Stat_t, euid, tenant int) string {
	var who []string
	if uid := int(st.Uid); uid != euid && uid != 0 && uid != tenant {
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
//
// Mode none is not checked: it is for sites that isolate each attempt
// themselves, a container per attempt, where no other user shares the
// scratch's path. There the check protects nothing and refuses every
// attempt of an image that does not run as root: a Kubernetes scratch
// volume (emptyDir) is root's and 0777, which such an agent can neither
// accept nor set right.
func checkScratchWriters(sb Sandbox, wd, execPath string, logf func(string, ...any)) error {
	if wd == "" || sb.Mode == SandboxNone {
		return nil
	}
	scratch, err := filepath.EvalSymlinks(wd)
	if err != nil {
		return fmt.Errorf("sandbox %q: the scratch %s: %w; refusing to run the workload", sb.Mode, wd, err)
	}
	dir, what := wd, "the scratch "+wd
	if execPath != "" {
		dir, what = filepath.Dir(execPath), "the command "+execPath
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("sandbox %q: %s: %w; refusing to run the workload", sb.Mode, what, err)
	}
	return checkPathWriters(sb, what, real, scratch, logf)
}

// checkReadOnlyWriters refuses, in the landlock sandbox, to grant the
// workload the paths it may read (the system's directories, the --ro
// paths, the agent's own executable) when a user other than the server's
// and root may write a directory that the kernel looks a name up in to
// resolve one: the paths were judged (checkPrivate) with their links
// resolved, then granted again by path, and such a user could swap a
// directory or a link on the way between the check and the grant, the
// workload then granted what the swap led to (the server's state
// directory, its keys). Each such directory is guarded as a directory
// above the scratch is (guardDir): one of the server's user is set right
// where the server is not root, the rest refused. Each mode changed is
// logged (cfg.logf). A path given relative is refused: the helper would resolve it
// in the scratch, where the workload may put a link anywhere.
func checkReadOnlyWriters(cfg Config, sb Sandbox) error {
	if sb.Mode != SandboxLandlock {
		return nil
	}
	paths := append([]string(nil), systemReadOnly...)
	for _, p := range sb.ReadOnly {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("sandbox %q: the read-only path %q is not an absolute path; refusing to run the workload (name it from /)", sb.Mode, p)
		}
		paths = append(paths, p)
	}
	if filepath.IsAbs(cfg.Exe) {
		paths = append(paths, cfg.Exe)
	}
	euid := geteuid()
	guarded := map[string]bool{}
	for _, p := range paths {
		if err := guardLookups(sb, "the read-only path "+p, p, euid, guarded, cfg.logf); err != nil {
			return err
		}
	}
	return nil
}

// maxLinks bounds the links guardLookups follows, as the kernel's 40.
const maxLinks = 40

// guardLookups resolves the absolute path p as the kernel does, name by
// name (lookups), and guards (guardDir) each directory it looks a name up
// in before it does, once (guarded holds those done). A name that is not
// there, or that the server's user may not look up, ends it with no
// error: nothing is granted there, and only the server's user and root
// may change that.
func guardLookups(sb Sandbox, what, p string, euid int, guarded map[string]bool, logf func(string, ...any)) error {
	_, _, err := lookups(p, func(dir, _, _ string) error {
		if guarded[dir] {
			return nil
		}
		if err := guardDir(sb, what, dir, euid, logf); err != nil {
			return err
		}
		guarded[dir] = true
		return nil
	})
	var le *lookupError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &le) && le.links:
		return fmt.Errorf("sandbox %q: %s: more than %d links on its way; refusing to run the workload", sb.Mode, what, maxLinks)
	case errors.As(err, &le) && !le.readlink && (le.err == unix.ENOENT || le.err == unix.ENOTDIR || le.err == unix.EACCES):
		return nil
	case errors.As(err, &le):
		return fmt.Errorf("sandbox %q: %s: %s: %w; refusing to run the workload", sb.Mode, what, le.path, le.err)
	}
	return err
}

// lookupError is lookups' own error, told apart from visit's.
type lookupError struct {
	path     string
	err      error
	readlink bool // of Readlink, not of Lstat
	links    bool // more than maxLinks links on the way
}

func (e *lookupError) Error() string {
	if e.links {
		return fmt.Sprintf("more than %d links on its way", maxLinks)
	}
	return e.path + ": " + e.err.Error()
}

func (e *lookupError) Unwrap() error { return e.err }

// lookups resolves the absolute path p as the kernel does, name by name,
// and calls visit with each directory it looks a name up in, before it
// does, the name, and the last link it followed on the way there (""
// before the first). It returns what p resolves to and the links it followed, in
// order; an error of its own is a *lookupError, one of visit's is
// returned as it is.
func lookups(p string, visit func(dir, name, via string) error) (string, []string, error) {
	cur, rest := "/", splitPath(p)
	var links []string
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		if name == ".." {
			cur = filepath.Dir(cur)
			continue
		}
		via := ""
		if len(links) > 0 {
			via = links[len(links)-1]
		}
		if err := visit(cur, name, via); err != nil {
			return "", links, err
		}
		next := filepath.Join(cur, name)
		var st unix.Stat_t
		if err := unix.Lstat(next, &st); err != nil {
			return "", links, &lookupError{path: next, err: err}
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			cur = next
			continue
		}
		if links = append(links, next); len(links) > maxLinks {
			return "", links, &lookupError{path: next, links: true}
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", links, &lookupError{path: next, err: err, readlink: true}
		}
		if filepath.IsAbs(target) {
			cur = "/"
		}
		rest = append(splitPath(target), rest...)
	}
	return cur, links, nil
}

// splitPath is the names of path p, less the empty ones and ".".
func splitPath(p string) []string {
	var names []string
	for _, n := range strings.Split(p, "/") {
		if n != "" && n != "." {
			names = append(names, n)
		}
	}
	return names
}
