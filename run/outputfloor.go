package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"
)

// The floor of an attempt's output file is a length of it that every byte
// acknowledged to the agent lies below, and that a sync that succeeded
// covered: a post whose write or sync fails cuts the file back to it,
// never below (the bytes below it are on disk and were answered 200, and
// a cut below it made the agent's next post 409), and bytes past it are
// cut (no sync is known to have covered them, and after a failed one
// Linux marks their pages clean: a later sync would acknowledge bytes
// that never reached the disk).
//
// A post makes every byte it finds in the file durable before it adds to
// it, so its own failure cuts back to the length it found (have), and no
// lower, whatever its offset says (a late copy held open by a proxy, a
// second copy of the attempt posting from 0, a hostile agent). Found
// bytes are known durable where:
//
//   - this server's last sync of the file left it at that length (the
//     memo, agentMemo.outSynced): the steady state, which costs nothing;
//   - the record beside the file (floorPath) says a sync covered that
//     length: after a restart, a dropped memo, or a post of another
//     server sharing the state directory;
//   - otherwise a sync of the file now succeeds: after a post cut off
//     between its write and its sync (killed, or its cut back failed), or
//     a power loss that took the record.
//
// Where that sync fails the found bytes past the record are the cut-off
// post's, never acknowledged, and may be lost: the file is cut back to
// the record and the post answered 500, to be posted again.
//
// The record holds the length, inode and birth time of the file, not its
// device: it sits beside the file, on the same filesystem, and over NFS
// the device number is each client's own and changes on a remount, so a
// record that named it matched on no other server, nor on this one after
// a remount. It is written after every sync that succeeds and leaves the
// file longer than it says, before the post is acknowledged, so it is
// never below what was acknowledged, and never claims more than a sync
// covered. It is written in place (then cut to its length) and not
// synced: a restart or another server reads
// it from the page cache (over NFS, the writer's close sends it to the
// server, which the reader's open sees, attribute caching allowing). A
// power loss can take it back or tear it, and a power loss leaves no
// unsynced bytes in the file: what was lost is gone from it, and what the
// file holds is on disk. Its first post after then finds the record
// missing, low or not matching, and its sync of the file succeeds, or,
// where the record reads as the file's length, takes the length as
// durable, which it is. A writeback error on the record's page can take
// it back too (the page marked clean, evicted, and the older record read
// from the disk): a post that then finds unsynced bytes and whose sync
// of them fails cuts below what was acknowledged. That takes a second
// I/O error, and syncing the record would cost each post a second sync:
// not covered (docs/threat-model.md).

// floorPath is the record of the floor beside the output file at logPath.
func floorPath(logPath string) string { return strings.TrimSuffix(logPath, ".log") + ".synced" }

// floorRecord is the record's layout: length, inode and birth time
// (fileBirth), fixed width, and a record of another length is no record:
// the layouts before (length, device and inode, then length, device,
// inode and birth time) are of other lengths, and read as none.
const floorRecord = "synced %020d inode %020d birth %020d\n"

// floorRecordLen is the length of a record.
var floorRecordLen = len(fmt.Sprintf(floorRecord, 0, 0, 0))

// fileIdent names an output file beside its record: its inode, and its
// birth time where its filesystem keeps one (fileBirth), so that a file
// made again with a freed inode number is not taken for the removed one.
// Not its device: the record is on the file's filesystem, and over NFS
// the device number is each client's own.
type fileIdent struct {
	ino   uint64
	birth int64
}

// identOf is the fileIdent of f, found as fi; its inode is 0 where it is
// not known.
func identOf(f *os.File, fi fs.FileInfo) fileIdent {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileIdent{}
	}
	return fileIdent{ino: uint64(st.Ino), birth: fileBirth(f)}
}

// readFloor is the floor the record beside the output file at logPath
// gives for f, the file open there found as fi, and whether it gives one:
// none where there is no record, it does not parse, it is of another file
// (one made again where the run's output was removed, by its inode or
// birth time), or it is past the file's end. Any other failure
// to read the record is an error: the floor is not known to be missing,
// and a post that took it as missing and whose sync then failed cut the
// file back to its offset, below what was acknowledged.
func readFloor(f *os.File, logPath string, fi fs.FileInfo) (int64, bool, error) {
	g, err := openRecord(floorPath(logPath), os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer g.Close()
	b := make([]byte, floorRecordLen+1)
	n, err := io.ReadFull(g, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return 0, false, err
	}
	var size int64
	var rec fileIdent
	if n != floorRecordLen {
		return 0, false, nil
	}
	if k, err := fmt.Sscanf(string(b[:n]), floorRecord, &size, &rec.ino, &rec.birth); err != nil || k != 3 {
		return 0, false, nil
	}
	if id := identOf(f, fi); id.ino == 0 || id != rec || size < 0 || size > fi.Size() {
		return 0, false, nil
	}
	return size, true, nil
}

// openRecord opens the record at path with flag (and perm, where it is
// made), where it is a regular file, and is an error otherwise. Neither
// a link nor a FIFO is followed or waited on: the open of a FIFO there
// waited for its other end for ever, and with it the post, which holds
// its attempt's file lock, so every later post of the attempt was
// answered 503.
func openRecord(path string, flag int, perm fs.FileMode) (*os.File, error) {
	g, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, perm)
	if err != nil {
		return nil, err
	}
	fi, err := g.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if err != nil {
		return nil, errors.Join(err, g.Close())
	}
	return g, nil
}

// errOutputMoved says the output file a post holds open is no longer at
// its path (its run's output removed): nothing is recorded for it.
var errOutputMoved = errors.New("the output file was removed meanwhile")

// writeFloor records beside the output file at logPath that a sync of f,
// the file open there found as fi, covered its first size bytes. Where f
// is no longer at logPath it writes nothing and returns errOutputMoved:
// a late post of a run whose output was removed would write a record of
// the removed file into a directory made again there.
func writeFloor(f *os.File, logPath string, fi fs.FileInfo, size int64) error {
	id := identOf(f, fi)
	if id.ino == 0 {
		return errors.New("recording what was synced of the output: the file's inode is not known")
	}
	if !stillAt(f, logPath) {
		return errOutputMoved
	}
	g, err := openRecord(floorPath(logPath), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	// Checked once the record is open: were the output moved before,
	// f is not at logPath now; moved after, the record is the moved one.
	if !stillAt(f, logPath) {
		return errors.Join(errOutputMoved, g.Close())
	}
	// Written in place, then cut to its length: a longer file there (a
	// record of a layout before, or anything else) never read as a
	// record again, and every post that found unsynced bytes synced them.
	_, err = g.WriteAt([]byte(fmt.Sprintf(floorRecord, size, id.ino, id.birth)), 0)
	if err == nil {
		err = g.Truncate(int64(floorRecordLen))
	}
	return errors.Join(err, g.Close())
}

// recordFloor records, as writeFloor, that a sync of attempt a's output
// file f (at path, found as fi) covered its first size bytes, and notes
// it in the attempt's memo (outputSynced). A file moved from path
// meanwhile is neither recorded nor noted: a file made again there may
// be given its inode number.
func (c *Controller) recordFloor(f *os.File, path string, r *Run, a Attempt, fi fs.FileInfo, size int64) error {
	err := writeFloor(f, path, fi, size)
	if errors.Is(err, errOutputMoved) {
		return nil
	}
	if err != nil {
		return c.floorFault(r, a, path, fmt.Errorf("recording what was synced of the output in %s: %w", floorPath(path), err))
	}
	c.noteOutputSynced(r, a, fi, size)
	return nil
}

// floorFault returns err, a failure to read or write the record of what
// was synced of attempt a's output file at path, after logging it once
// for the attempt (while its memo is kept): a record that can never be
// written (a directory where it goes, say) answers every post of the
// attempt 500, and each post's own log line says only that.
func (c *Controller) floorFault(r *Run, a Attempt, path string, err error) error {
	c.mu.Lock()
	m := c.memo(attemptKey(r.ID, a.N), time.Now())
	first := !m.floorFault
	m.floorFault = true
	c.mu.Unlock()
	if first {
		c.cfg.Logger.Error("the record of what was synced of an attempt's output cannot be read or written: every post of its output is answered 500 until it can",
			"run", r.ID, "attempt", a.N, "record", floorPath(path), "err", err)
	}
	return err
}

// outputFloor makes every byte of attempt a's output file f (at path,
// found as fi) durable before a post at offset off adds to it, and
// records that. It returns nil when they are: a failure of the post after
// cuts the file back to the length found, no lower. Otherwise it returns
// the error and the length to cut the file back to before the post is
// answered 500: the record's, or, where there is none (a file made again
// where the run's output was removed, a record that could not be
// written), unknownFloor's. Where the record could not be read, nothing
// is cut.
func (c *Controller) outputFloor(ctx context.Context, f *os.File, path string, r *Run, a Attempt, fi fs.FileInfo, off int64) (int64, error) {
	have := fi.Size()
	if have == 0 || c.outputSynced(r, a, fi) == have {
		return have, nil
	}
	floor, known, err := readFloor(f, path, fi)
	if err != nil {
		return have, c.floorFault(r, a, path, fmt.Errorf("reading the record of what was synced of the output in %s: %w", floorPath(path), err))
	}
	if known && floor == have {
		c.noteOutputSynced(r, a, fi, have)
		return have, nil
	}
	if err := syncLog(f); err != nil {
		if !known {
			floor = c.unknownFloor(ctx, r, a, fi, off, have)
		}
		return floor, err
	}
	return have, c.recordFloor(f, path, r, a, fi, have)
}

// recordOutputSynced records that a sync of attempt a's output file f (at
// path, found as fi holding have bytes) covered its first size bytes,
// before a post of it is acknowledged.
func (c *Controller) recordOutputSynced(f *os.File, path string, r *Run, a Attempt, fi fs.FileInfo, have, size int64) error {
	if size != have {
		return c.recordFloor(f, path, r, a, fi, size)
	}
	// The record says have already (outputFloor); a file moved from path
	// meanwhile is not noted, as recordFloor notes none.
	if stillAt(f, path) {
		c.noteOutputSynced(r, a, fi, size)
	}
	return nil
}

// unknownFloor is the length a post of attempt a's output at offset
// off, which found the file fi holding have bytes with no record of its
// floor, and whose sync of them failed, cuts the file back to.
//
// The agent sends one post at a time from the end of what it was told
// was kept, and moves on only once a post is answered 200: while it
// still waits for this answer (the request's context is live), every
// byte acknowledged to it lies before off, and the bytes from off on are
// ones the agent holds and posts again: the file is cut back to off. A
// post whose agent has gone (it gave up waiting, and may have been
// answered for later bytes by another post since) may be a late copy of
// one answered already, and its offset tells nothing: nothing is cut. Nor
// is the file cut below what this server's last sync of it covered
// (outputSynced).
func (c *Controller) unknownFloor(ctx context.Context, r *Run, a Attempt, fi fs.FileInfo, off, have int64) int64 {
	if ctx.Err() != nil || off >= have {
		return have
	}
	return min(have, max(off, c.outputSynced(r, a, fi)))
}

// syncedOutput is what a sync that succeeded of an attempt's output file
// covered: the file (its device and inode, in fi) and its length then.
type syncedOutput struct {
	fi   fs.FileInfo
	size int64
}

// outputSynced is the length of attempt a's output file, fi, that this
// server's last sync that succeeded of it covered, and its record says:
// -1 where none is known (none yet, a restart, the memo dropped, or the
// file another one made since, its output removed).
func (c *Controller) outputSynced(r *Run, a Attempt, fi fs.FileInfo) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.agents[attemptKey(r.ID, a.N)]
	if m == nil || m.outSynced.fi == nil || !os.SameFile(m.outSynced.fi, fi) {
		return -1
	}
	return m.outSynced.size
}

// noteOutputSynced records that a sync of attempt a's output file, fi,
// succeeded, covering its first size bytes, and its record says so.
func (c *Controller) noteOutputSynced(r *Run, a Attempt, fi fs.FileInfo, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.memo(attemptKey(r.ID, a.N), time.Now()).outSynced = syncedOutput{fi: fi, size: size}
}

// forgetOutputSynced drops what this server knows a sync covered of run
// id's output files (outputSynced), once they are removed: os.SameFile
// matches by device and inode number, and a file made again where they
// were may be given a freed one.
func (c *Controller) forgetOutputSynced(id string) {
	prefix := id + "/"
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, m := range c.agents {
		if strings.HasPrefix(k, prefix) {
			m.outSynced = syncedOutput{}
		}
	}
}
