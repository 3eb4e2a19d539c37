package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/tlspin"
	"meridian.dev/meridian/statedir"
)

// lstatPath is os.Lstat for serve's checks of the files it trusts; tests
// count what those checks look at.
var lstatPath = os.Lstat

// maxLinkHops bounds the links followed while resolving one path, as the
// kernel does (ELOOP).
const maxLinkHops = 40

// permWalk looks at files and the directories on their paths for one
// start of the server, remembering what it has looked at: the secrets sit
// side by side in the state directory, and the catalog's files in a few
// directories, so each directory above them is looked at once, not once
// per file under it.
type permWalk struct {
	uid   int
	lstat map[string]walkStat
	links map[string]walkLink
	// trees are the real paths of the trees checkTree has walked, and
	// entries the count of what it looked at below them.
	trees   map[string]bool
	entries int
}

type walkStat struct {
	fi  fs.FileInfo
	err error
}

type walkLink struct {
	target string
	err    error
}

func newPermWalk() *permWalk {
	return &permWalk{uid: geteuid(), lstat: map[string]walkStat{},
		links: map[string]walkLink{}, trees: map[string]bool{}}
}

// lstatOf is os.Lstat of p, once per walk.
func (w *permWalk) lstatOf(p string) (fs.FileInfo, error) {
	s, ok := w.lstat[p]
	if !ok {
		s.fi, s.err = lstatPath(p)
		w.lstat[p] = s
	}
	return s.fi, s.err
}

func (w *permWalk) readlink(p string) (string, error) {
	l, ok := w.links[p]
	if !ok {
		l.target, l.err = os.Readlink(p)
		w.links[p] = l
	}
	return l.target, l.err
}

// ownerOf is the user id owning the file fi describes (-1 where the
// system does not say).
func ownerOf(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// secretFile is a file serve trusts with a secret, as its errors name it.
// A tree is a directory whose every entry is such a file too.
type secretFile struct {
	what, path string
	tree       bool
}

// serveSecrets are the secret files serve reads from the state directory,
// the anchor directory and its flags, and the directories holding the
// tenants' keys: whoever may replace one of them may replace the key (sign
// the audit log, be the server to its pinned clients, hold a tenant's data
// key), so each must be replaceable by the server's user (or root) alone.
// The state directory comes first: a fresh one holds no secret yet, and
// its secrets will be made in it.
func serveSecrets(opts serverOptions, dir statedir.Dir, anchorDir string) []secretFile {
	fs := []secretFile{
		{"state directory", dir.Path, false},
		{"audit key", dir.Join(audit.KeyFile), false},
		{"agent key", dir.Join(statedir.AgentKey), false},
		{"audit anchor key", filepath.Join(anchorDir, audit.AnchorKeyFile), false},
		{"audit anchor", filepath.Join(anchorDir, audit.AnchorFile), false},
		{"TLS key", filepath.Join(dir.TLS(), tlspin.KeyFile), false},
		{"TLS certificate", filepath.Join(dir.TLS(), tlspin.CertFile), false},
		{"client file", dir.Join(statedir.ClientFile), false},
		{"tokens file", dir.Join(api.TokensFile), false},
		{"dataset keyring", dir.Keyring(), true},
		{"tenants' dataset keyrings", dir.Join("tenants"), true},
	}
	if opts.TLSKey != "" {
		// A pipe (--tls-key <(…)) comes from the operator's own shell;
		// only a file on disk can be replaced.
		if fi, err := os.Stat(opts.TLSKey); err == nil && fi.Mode().IsRegular() {
			fs = append(fs, secretFile{"--tls-key", opts.TLSKey, false})
		}
	}
	if p := os.Getenv("MERIDIAN_AGE_IDENTITY"); p != "" {
		fs = append(fs, secretFile{"MERIDIAN_AGE_IDENTITY", p, false})
	}
	return fs
}

// checkSecrets refuses each of files that a user other than the server's
// own (or root) could replace: the file or a directory on its path,
// following its links and theirs, is writable by its group or by others
// (a directory with the sticky bit excepted: there only an entry's owner
// may replace it), or is owned by another user. As ssh refuses keys under
// its StrictModes. A file not there yet is checked as far as its path
// goes; the server makes it.
func (w *permWalk) checkSecrets(files []secretFile) error {
	for _, f := range files {
		check := w.checkSecret
		if f.tree {
			check = w.checkTree
		}
		if err := check(f); err != nil {
			return err
		}
	}
	return nil
}

func (w *permWalk) checkSecret(f secretFile) error {
	abs, err := filepath.Abs(f.path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", f.what, f.path, err)
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%s %s: %s", f.what, f.path, fmt.Sprintf(format, a...))
	}
	// Resolve the path one name at a time from the root, as the kernel
	// does: cur is always a directory reached without links, each link
	// met puts its target's names in front of those left, and every
	// entry met (the links among them) is judged.
	todo := splitPath(abs)
	cur := "/"
	fi, err := w.lstatOf(cur)
	if err != nil {
		return fail("%v", err)
	}
	if bad := w.judge(cur, fi); bad != "" {
		return fail("%s", bad)
	}
	for hops := 0; len(todo) > 0; {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, name)
		fi, err := w.lstatOf(next)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fail("%v", err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			// Whoever owns a link may point it elsewhere (its mode
			// means nothing); who may replace it is its directory's
			// matter, judged already.
			if bad := w.judgeOwner(next, fi); bad != "" {
				return fail("%s", bad)
			}
			if hops++; hops > maxLinkHops {
				return fail("more than %d links on its path", maxLinkHops)
			}
			target, err := w.readlink(next)
			if err != nil {
				return fail("%v", err)
			}
			if filepath.IsAbs(target) {
				cur = "/"
			}
			todo = append(splitPath(target), todo...)
			continue
		}
		if len(todo) > 0 && !fi.IsDir() {
			return fail("%s is not a directory", next)
		}
		if bad := w.judge(next, fi); bad != "" {
			return fail("%s", bad)
		}
		cur = next
	}
	return nil
}

// maxTreeEntries bounds the entries checkTree looks at below one start's
// trees: a keyring holds a file per dataset and the tenants' directory a
// directory per tenant, far fewer than this.
const maxTreeEntries = 1 << 20

// checkTree is checkSecret of f and of every entry below it when it is a
// directory (a catalog, a rule pack, a keyring), following links as
// checkSecret does: each entry, and each directory on a link's way, must
// be changeable by the server's user and root alone. A tree not there yet
// is no error.
func (w *permWalk) checkTree(f secretFile) error {
	if err := w.checkSecret(f); err != nil {
		return err
	}
	abs, err := filepath.Abs(f.path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", f.what, f.path, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", f.what, f.path, err)
	}
	if w.trees[real] {
		return nil
	}
	w.trees[real] = true
	var links []string
	err = filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == real {
			return nil
		}
		if w.entries++; w.entries > maxTreeEntries {
			return fmt.Errorf("more than %d entries to look at", maxTreeEntries)
		}
		fi, err := w.lstatOf(p)
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			// Judged with what it names, from the root, below.
			links = append(links, p)
			return nil
		}
		if bad := w.judge(p, fi); bad != "" {
			return errors.New(bad)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", f.what, f.path, err)
	}
	for _, l := range links {
		if err := w.checkTree(secretFile{f.what, l, true}); err != nil {
			return err
		}
	}
	return nil
}

// forget drops what the walk remembers of p, after the server changed it.
func (w *permWalk) forget(p string) {
	delete(w.lstat, p)
}

func splitPath(p string) []string {
	return strings.Split(strings.TrimPrefix(p, "/"), "/")
}

// judge says what is wrong with the entry p that fi describes (its owner,
// and who may write it), "" when nothing is.
func (w *permWalk) judge(p string, fi fs.FileInfo) string {
	if bad := w.judgeOwner(p, fi); bad != "" {
		return bad
	}
	perm := fi.Mode().Perm()
	who := ""
	switch {
	case perm&0o022 == 0o022:
		who = "its group and others"
	case perm&0o020 != 0:
		who = "its group"
	case perm&0o002 != 0:
		who = "others"
	default:
		return ""
	}
	if fi.IsDir() {
		if fi.Mode()&fs.ModeSticky != 0 {
			// Like /tmp: only an entry's owner may rename or remove it,
			// and the owner of each entry below is judged in turn.
			return ""
		}
		return fmt.Sprintf("%s (mode %04o) lets %s replace what is in it; run chmod go-w %s, or keep the file where only its owner may write", p, perm, who, p)
	}
	return fmt.Sprintf("%s (mode %04o) lets %s write it; run chmod go-w %s", p, perm, who, p)
}

// judgeOwner says what is wrong with p's owner: a user other than the
// server's and root may chmod or replace it at will.
func (w *permWalk) judgeOwner(p string, fi fs.FileInfo) string {
	return w.judgeUID(p, ownerOf(fi))
}

// judgeUID is judgeOwner of p owned by uid, for a caller that has the
// owner from fstatat(2) rather than an fs.FileInfo.
func (w *permWalk) judgeUID(p string, uid int) string {
	if uid == w.uid || uid == 0 {
		return ""
	}
	return fmt.Sprintf("%s is owned by uid %d, not by this command's user (uid %d) or root, and its owner could replace it; chown %d %s (as root), or keep the file where only that user and root own the path", p, uid, w.uid, w.uid, p)
}

// unsafeStateDirError is checkStateDir's refusal.
type unsafeStateDirError struct{ err error }

func (e *unsafeStateDirError) Error() string { return e.err.Error() }
func (e *unsafeStateDirError) Unwrap() error { return e.err }

// checkStateDir refuses the state directory at path as serve's start does
// (checkSecrets): when a user other than this one (or root) owns it or a
// directory on its path, following its links, or may write one of them (a
// sticky directory such as /tmp excepted). Every command that reads or
// writes the directory (its log, keys, keyrings, client.json, screening
// lists) checks it first: there, another local user could swap any of
// them under the command. A directory not there yet is checked as far as
// its path goes. The error names the path and the problem (exit 2).
func checkStateDir(path string) error {
	if err := newPermWalk().checkSecret(secretFile{"state directory", path, false}); err != nil {
		return badInput(&unsafeStateDirError{err})
	}
	return nil
}
