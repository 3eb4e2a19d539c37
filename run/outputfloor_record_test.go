package run

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// otherDevice is fi as another client of the same file sees it: over NFS
// each client has its own device number for the mount, and a remount
// gives it a new one.
type otherDevice struct {
	fs.FileInfo
	st syscall.Stat_t
}

func (o otherDevice) Sys() any { return &o.st }

// floorFile makes an output file holding data in a directory of its own,
// open for appending, and its path.
func floorFile(t *testing.T, data []byte) (*os.File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "attempt-1.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	return f, path
}

// TestFloorRecordReadWhereTheDeviceDiffers: the record of what was
// synced is of its file whatever device number the reader sees it on.
// The record named the writer's device, and over NFS that number is each
// client's own and changes on a remount: another server sharing the
// state directory, or this one after a remount, never found a record
// matching, and the protection the record gives a post there never
// applied.
func TestFloorRecordReadWhereTheDeviceDiffers(t *testing.T) {
	f, path := floorFile(t, bytes.Repeat([]byte("step 1 loss 0.9\n"), 64))
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFloor(f, path, fi, fi.Size()); err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Skip("no Stat_t on this platform")
	}
	other := otherDevice{FileInfo: fi, st: *st}
	other.st.Dev++
	floor, known, err := readFloor(f, path, other)
	if err != nil || !known || floor != fi.Size() {
		t.Errorf("the record read where the file's device number differs: %d, %v, %v; want %d, true", floor, known, err, fi.Size())
	}
}

// TestFloorRecordLongerFileCut: a record written where a longer file
// stands (a record of an earlier, longer layout, or anything else) reads
// as a record after. It was written in place and never cut, and only a
// file of exactly a record's length reads as one: that record never read
// again, and every post that found bytes no memo covered synced them.
func TestFloorRecordLongerFileCut(t *testing.T) {
	f, path := floorFile(t, bytes.Repeat([]byte("step 1 loss 0.9\n"), 64))
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(floorPath(path), bytes.Repeat([]byte("9"), floorRecordLen+16), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFloor(f, path, fi, fi.Size()); err != nil {
		t.Fatal(err)
	}
	floor, known, err := readFloor(f, path, fi)
	if err != nil || !known || floor != fi.Size() {
		b, _ := os.ReadFile(floorPath(path))
		t.Errorf("the record written over a longer file reads as %d, %v, %v (the file %d bytes); want %d, true", floor, known, err, len(b), fi.Size())
	}
}
