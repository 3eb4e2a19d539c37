package agent

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// StepOf returns the step a checkpoint's name carries (its last number), or
// false for a name that is not a complete checkpoint: hidden, temporary
// (.tmp, .partial) or without a number.
func StepOf(name string) (int64, bool) { return stepOf(name) }

// stepOf is StepOf for a name as a string or as the bytes of a directory
// entry, read in place.
func stepOf[T ~string | ~[]byte](name T) (int64, bool) {
	if len(name) == 0 || name[0] == '.' || hasSuffix(name, ".tmp") || hasSuffix(name, ".partial") {
		return 0, false
	}
	end := len(name)
	for end > 0 && !isDigit(name[end-1]) {
		end--
	}
	if end == 0 {
		return 0, false
	}
	start := end
	for start > 0 && isDigit(name[start-1]) {
		start--
	}
	var n int64
	for i := start; i < end; i++ {
		d := int64(name[i] - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false // past int64: no step
		}
		n = n*10 + d
	}
	return n, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func hasSuffix[T ~string | ~[]byte](s T, suffix string) bool {
	if len(s) < len(suffix) {
		return false
	}
	for i := range len(suffix) {
		if s[len(s)-len(suffix)+i] != suffix[i] {
			return false
		}
	}
	return true
}

// newest returns the newest complete checkpoint in dir, as its entry name
// and step (of two with the same step, the name first in byte order).
// Links and special files are never checkpoints. The directory is the
// workload's and is read every poll: it is read a batch of entries at a
// time into one buffer, keeping only the newest so far, so that a
// directory of millions of entries costs the agent time to read, not
// memory in proportion (a list of every entry, sorted). A link in dir's
// place is not followed: the agent would list a directory the workload
// may not (as root in uid mode, as the server's user in landlock mode),
// and its messages about the checkpoint it found there would tell the
// workload the names in it.
func newest(dir string) (string, int64, bool) {
	return newestAt(unix.AT_FDCWD, dir)
}

// newestAt is newest for the directory name in the directory open as
// dirfd: the checkpoint directory is opened from the scratch held since
// its check (newest(a.scratch)), never by the scratch's path, which a
// swap of a directory above it since would have had the agent list
// elsewhere and seal what it found there as the run's checkpoint.
func newestAt(dirfd int, name string) (string, int64, bool) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", 0, false
	}
	defer unix.Close(fd)
	buf := make([]byte, 32<<10)
	best, bestStep, found := "", int64(-1), false
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", 0, false
		}
		if n <= 0 {
			return best, bestStep, found
		}
		// Each entry: inode (8 bytes), offset (8), length (2), type (1),
		// then the name, NUL-terminated.
		for off := 0; off+19 <= n; {
			reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
			if reclen < 19 || off+reclen > n {
				return "", 0, false
			}
			typ, name := buf[off+18], buf[off+19:off+reclen]
			off += reclen
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			step, ok := stepOf(name)
			if !ok || step < bestStep || step == bestStep && string(name) >= best {
				continue
			}
			switch typ {
			case unix.DT_REG, unix.DT_DIR:
			case unix.DT_UNKNOWN:
				// A file system that does not say: asked of the
				// entry itself, never following a link.
				var st unix.Stat_t
				if unix.Fstatat(fd, string(name), &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
					continue
				}
				if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFDIR {
					continue
				}
			default:
				continue
			}
			best, bestStep, found = string(name), step, true
		}
	}
}

// keepCheckpoints is how many sealed checkpoints of an attempt stay in the
// store; older ones are removed once a newer one is reported.
const keepCheckpoints = 2

// maxCheckpointFiles bounds the files of one checkpoint.
const maxCheckpointFiles = 100000

// checkpointListBound is how many objects a listing of one sealed
// checkpoint in the site's store may yield when the agent removes it: each
// chunk the largest checkpoint can have (a checkpoint is sealed once, so
// no older version leaves chunks under its name) and a million besides.
// A store whose listing never ends does not hold the agent past it.
const checkpointListBound = 1<<20 + int(MaxCheckpointBytes/dataset.MinChunk) + maxCheckpointFiles

// pushCheckpoint seals the newest checkpoint the workload completed since
// the last one reported, stores it at the site, and reports it. The files
// are read by the pack helper inside the workload's own sandbox, so the
// agent reads nothing the workload could not read itself.
//
// Each checkpoint is sealed once: one the server has not acknowledged is
// reported again, backing off, before any newer one is sealed, so a server
// that cannot be reached costs neither a re-read of the checkpoint every
// poll nor a growing pile of unreported ones in the site's store. A
// checkpoint that cannot be sealed is tried again, backing off, until a
// newer one appears. patience is how long one call may retry the report
// (0 in the loop, which retries across polls). A checkpoint is not sealed
// past sealBy (when not zero): one whose seal runs past it is given up.
func (a *attempt) pushCheckpoint(ctx context.Context, patience time.Duration, sealBy time.Time) {
	for {
		if a.cl.over() {
			// The server takes no checkpoint of an ended attempt.
			return
		}
		sealedNow := false
		if a.ck.pending == nil {
			// Listed, and packed, through the scratch held since its
			// check: ckpt is relative to it.
			const ckpt = "checkpoints"
			name, step, ok := newestAt(int(a.scratch.Fd()), ckpt)
			if !ok || step <= a.reported || step <= a.ck.refused {
				return
			}
			if step == a.ck.failed && patience == 0 && time.Now().Before(a.ck.seal.at) {
				return
			}
			if a.ck.failed != 0 && step != a.ck.failed {
				// A newer checkpoint stands in for the one that failed.
				a.dropFailed(ctx)
			}
			sctx, cancel := ctx, context.CancelFunc(func() {})
			if !sealBy.IsZero() {
				sctx, cancel = context.WithDeadlineCause(ctx, sealBy, errSealLate)
			}
			ref, err := a.seal(sctx, ckpt, name, step)
			cancel()
			if err != nil {
				a.logf("checkpoint %s: %v", name, err)
				if step != a.ck.failed {
					a.ck.seal = backoff{}
				}
				a.ck.failed = step
				a.ck.seal.later(sealRetryMax)
				return
			}
			a.ck.pending, a.ck.failed, a.ck.seal = ref, 0, backoff{}
			sealedNow = true
		} else if patience == 0 && time.Now().Before(a.ck.report.at) {
			return
		}
		if !a.reportPending(ctx, patience) || sealedNow {
			return
		}
		// An older checkpoint is settled: a newer one may wait.
	}
}

// reportPending reports the pending checkpoint. It returns false when the
// report should be tried again (backing off), true when the checkpoint is
// settled: acknowledged, or refused for good.
func (a *attempt) reportPending(ctx context.Context, patience time.Duration) bool {
	ref := a.ck.pending
	rep, err := a.cl.postJSON(ctx, RouteCheckpoint, ref, patience)
	if err != nil {
		a.logf("report checkpoint %s: %v", ref.Path, err)
		if !permanent(err) {
			a.ck.report.later(reportRetryMax)
			return false
		}
		// The server will not take it: nothing refers to the sealed copy.
		a.ck.pending, a.ck.refused, a.ck.report = nil, ref.Step, backoff{}
		if !errors.Is(err, errAuth) {
			if _, err := dataset.Remove(ctx, a.store, ref.Name, checkpointListBound); err != nil {
				a.logf("remove refused checkpoint %s: %v", ref.Name, err)
			}
		}
		return true
	}
	a.ck.pending, a.ck.report = nil, backoff{}
	a.reported = ref.Step
	a.pass(rep)
	a.names = append(a.names, ref.Name)
	for len(a.names) > keepCheckpoints {
		if _, err := dataset.Remove(ctx, a.store, a.names[0], checkpointListBound); err != nil {
			a.logf("remove old checkpoint %s: %v", a.names[0], err)
		}
		a.names = a.names[1:]
	}
	return true
}

// dropFailed removes from the site's store what the checkpoint whose seal
// failed last left there: the chunks sent before the pack helper failed
// (the workload can make it fail: a link in the checkpoint, a file that
// shrinks), and a manifest when the archive ended early. Nothing refers to
// it, and the controller removes a run's checkpoints from a site's store
// only once the run has left a site the law no longer lets its data be
// at, so a workload that kept writing checkpoints that fail would fill
// that store. It is kept while the same checkpoint may be sealed again,
// which reuses the chunks already there.
func (a *attempt) dropFailed(ctx context.Context) {
	name := fmt.Sprintf(a.m.CheckpointName, a.ck.failed)
	if _, err := dataset.Remove(ctx, a.store, name, checkpointListBound); err != nil {
		a.logf("remove what the failed checkpoint %s left: %v", name, err)
	}
	a.ck.failed = 0
}

// ckState is the agent's checkpoint push between polls.
type ckState struct {
	// pending is sealed and stored but not acknowledged by the server.
	pending *CheckpointRef
	// failed is the step whose sealing failed last; refused is the step
	// of the last checkpoint the server refused for good.
	failed, refused int64
	// seal puts off sealing the failed step again; report puts off
	// reporting the pending checkpoint again.
	seal, report backoff
}

// Backoff of a checkpoint's seal (which reads the whole checkpoint) and
// of its report (one small request): from one poll to these.
const (
	sealRetryMax   = 30 * time.Second
	reportRetryMax = 5 * time.Second
)

// backoff puts a retry off, twice as long each time.
type backoff struct {
	at   time.Time
	wait time.Duration
}

// later puts the next try off twice as long as the last, from one poll to
// most.
func (b *backoff) later(most time.Duration) {
	b.wait = min(max(2*b.wait, checkpointPoll), most)
	b.at = time.Now().Add(b.wait)
}

// seal packs the checkpoint name in dir, relative to the scratch held
// since its check (the pack helper starts there), seals it and stores it.
func (a *attempt) seal(ctx context.Context, dir, name string, step int64) (*CheckpointRef, error) {
	if ctx.Err() != nil {
		return nil, fmt.Errorf("pack: %w", context.Cause(ctx))
	}
	objName := fmt.Sprintf(a.m.CheckpointName, step)
	s, err := seal.New(a.runKey, objName)
	if err != nil {
		return nil, err
	}
	// The helper runs inside the sandbox, so it starts from the executable
	// as the sandboxed user reaches it.
	h := helperArgs(a.cfg)
	if a.exe != "" {
		h[0] = a.exe
	}
	cmd, err := sandboxCommand(a.cfg, a.m.Sandbox, a.wd, append(h, "pack", dir, name), []string{"PATH=/usr/bin:/bin"}, a.exeFile)
	if err != nil {
		return nil, err
	}
	// Started in the scratch held since its check, where dir, relative,
	// is read: by the scratch's path, a swap since had the helper pack
	// whatever lay where the path led as the run's checkpoint.
	if err := cmd.inScratch(a.scratch, a.wd); err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{b: &stderr, n: 4 << 10}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// A helper whose output stays open after it ends (a child of it, say)
	// does not hold Wait past this.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// The helper runs as the workload's user, which may stop it (SIGSTOP)
	// or hand it terabytes of holes to read: the agent must still be able
	// to give up on it. It is killed when ctx ends (the workload was
	// stopped for the lease) and when it has sent nothing for packStall
	// while the agent waited on it; killing it closes the pipe that AddTar
	// and Wait would block on.
	defer context.AfterFunc(ctx, func() { cmd.Process.Kill() })()
	stall := packStall
	w := &stallWatch{}
	stalled := make(chan struct{})
	watchDone := make(chan struct{})
	defer close(watchDone)
	go func() {
		t := time.NewTicker(stall / 8)
		defer t.Stop()
		for {
			select {
			case <-watchDone:
				return
			case <-t.C:
				if w.blockedFor() > stall {
					close(stalled)
					cmd.Process.Kill()
					return
				}
			}
		}
	}()
	in := w.reader(out)
	res, addErr := dataset.AddTar(ctx, objName, in, a.store, s, maxCheckpointFiles, MaxCheckpointBytes)
	// The helper runs where the workload can reach it: what it writes
	// after the archive's end, or after a refusal, is not read to its end.
	if addErr != nil {
		cmd.Process.Kill()
	} else if n, _ := io.CopyN(io.Discard, in, 1<<20); n == 1<<20 {
		cmd.Process.Kill()
	}
	w.block()
	waitErr := cmd.Wait()
	w.unblock()
	msg := strings.TrimSpace(stderr.String())
	select {
	case <-stalled:
		return nil, fmt.Errorf("pack: the helper sent nothing for %s (stopped, or stuck reading): killed it", stall)
	default:
	}
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("pack: %w", context.Cause(ctx))
	case addErr != nil && errors.Is(addErr, dataset.ErrCutShort) && msg != "":
		// The helper stopped inside a file: its own word says why (the
		// file shrank or went while it was read).
		return nil, fmt.Errorf("%s (%v)", msg, addErr)
	case addErr != nil:
		return nil, addErr
	case waitErr != nil:
		return nil, fmt.Errorf("pack: %v: %s", waitErr, msg)
	}
	return &CheckpointRef{Step: step, Name: objName, Path: name, Bytes: res.Bytes, SHA256: res.ManifestSHA256}, nil
}

// errAttemptEnded cancels a seal once the server has answered that the
// attempt has ended: what it stored is removed, as a failed seal's is.
var errAttemptEnded = errors.New("the server answered that the attempt has ended: not sealed, and what it stored is removed")

// errSealLate is why a seal still running finalSeal after the workload
// ended was given up.
var errSealLate = errors.New("not sealed within the time the agent gives checkpoints once the workload has ended: given up, and what it stored is removed")

// packStall is how long the agent waits on a pack helper that sends
// nothing before it kills it. A helper reading a checkpoint sends as it
// reads; one the workload stopped sends nothing for ever.
var packStall = 30 * time.Second

// stallWatch notes since when the agent has been waiting on the helper (a
// read from its output, or its exit) without an answer.
type stallWatch struct{ since atomic.Int64 }

func (w *stallWatch) block()   { w.since.Store(time.Now().UnixNano()) }
func (w *stallWatch) unblock() { w.since.Store(0) }

// blockedFor is how long the current wait has lasted (0: none).
func (w *stallWatch) blockedFor() time.Duration {
	if at := w.since.Load(); at != 0 {
		return time.Since(time.Unix(0, at))
	}
	return 0
}

// reader is r with each Read a wait on the helper.
func (w *stallWatch) reader(r io.Reader) io.Reader { return watchedReader{r, w} }

type watchedReader struct {
	r io.Reader
	w *stallWatch
}

func (r watchedReader) Read(p []byte) (int, error) {
	r.w.block()
	defer r.w.unblock()
	return r.r.Read(p)
}

// limitedBuffer keeps the first n bytes written to it and drops the rest.
type limitedBuffer struct {
	b *bytes.Buffer
	n int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// Pack writes a tar stream of dir/name (a file or a directory) to w: regular
// files and directories only, never following a link. It is the helper the
// agent runs inside the workload's sandbox to read a checkpoint.
func Pack(args []string, w io.Writer, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "pack: want DIR NAME")
		return 2
	}
	dir, name := args[0], args[1]
	if err := dataset.CheckPath(name); err != nil || strings.Contains(name, "/") {
		fmt.Fprintf(stderr, "pack: %q: want one name\n", name)
		return 2
	}
	tw := tar.NewWriter(w)
	root := filepath.Join(dir, name)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch t := d.Type(); {
		case t.IsDir():
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: rel + "/", Mode: 0o700})
		case !t.IsRegular():
			return fmt.Errorf("%s: %v is not a regular file or directory", rel, t)
		}
		f, err := os.OpenFile(p, os.O_RDONLY|syscallNoFollow, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: changed into %v while packing", rel, fi.Mode().Type())
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: int64(fi.Mode().Perm()), Size: fi.Size()}); err != nil {
			return err
		}
		n, err := io.Copy(tw, io.LimitReader(f, fi.Size()))
		if err == nil && n != fi.Size() {
			err = fmt.Errorf("%s: shrank while packing", rel)
		}
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%s: gone", name)
		}
		fmt.Fprintln(stderr, "pack:", err)
		return 1
	}
	return 0
}

// checkpointPoll is how often the agent looks for a new checkpoint.
const checkpointPoll = 250 * time.Millisecond
