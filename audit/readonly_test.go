package audit

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReadKeyCreatesNothing: ReadKey, unlike LoadKey, leaves a directory
// without a key as it is, and reads the key LoadKey made.
func TestReadKeyCreatesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if _, err := ReadKey(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadKey of a missing key: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadKey created the directory: %v", err)
	}
	want, err := LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadKey(dir)
	if err != nil || string(got) != string(want) {
		t.Fatalf("ReadKey after LoadKey: %x %v, want %x", got, err, want)
	}
}

// TestReadAnchorsCreatesNothing: the read-only anchor directory creates
// neither itself nor a key, reads what OpenAnchors wrote, refuses to
// write, and says so when anchor.json is there without the key that
// checks it (OpenAnchors would make a new key, which the anchor then fails).
func TestReadAnchorsCreatesNothing(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "anchor")
	ro, err := ReadAnchors(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := ro.Read(); ok || err != nil {
		t.Fatalf("Read of a missing directory: %v %v", ok, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadAnchors created the directory: %v", err)
	}
	c := NewChain([]byte("0123456789abcdef"))
	var es []Entry
	appendState(t, c, &es, 2)
	an, err := OpenAnchors(dir)
	if err != nil {
		t.Fatal(err)
	}
	startAnchored(t, c, &es, an)
	if ro, err = ReadAnchors(dir); err != nil {
		t.Fatal(err)
	}
	got, ok, err := ro.Read()
	if err != nil || !ok || got.Seq != 3 || got.Key != an.Key() {
		t.Fatalf("Read: %+v %v %v", got, ok, err)
	}
	if r, err := c.VerifyAnchored(entriesOf(es), ro); err != nil || !r.OK || r.Unproven != "" || r.AnchorKeySeq != 3 {
		t.Fatalf("verify against the read-only anchors: %+v %v", r, err)
	}
	if err := ro.Extend(ctx, 3, es[2].Hash, memLog(&es), time.Now()); err == nil {
		t.Fatal("a read-only anchor directory wrote an anchor")
	}
	if err := ro.Reset(context.Background(), 3, es[2].Hash, time.Now()); err == nil {
		t.Fatal("a read-only anchor directory reset its anchor")
	}
	if _, err := ro.KeyRecord(); err == nil {
		t.Fatal("a read-only anchor directory made a key record")
	}
	if err := os.Remove(filepath.Join(dir, AnchorKeyFile)); err != nil {
		t.Fatal(err)
	}
	if ro, err = ReadAnchors(dir); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ro.Read(); err == nil || !strings.Contains(err.Error(), "no "+AnchorKeyFile) {
		t.Fatalf("Read of anchor.json without its key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, AnchorKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadAnchors created a key: %v", err)
	}
}

// TestUnkeyedChain: without the key, Verify still finds entries missing,
// out of order or cut from an anchored tail, but cannot see an edited
// entry, and every result that verifies says so.
func TestUnkeyedChain(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	var es []Entry
	appendState(t, c, &es, 3)
	an, err := OpenAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	startAnchored(t, c, &es, an)
	appendState(t, c, &es, 2)
	if err := an.Extend(context.Background(), 6, es[5].Hash, memLog(&es), time.Now()); err != nil {
		t.Fatal(err)
	}
	u := NewUnkeyedChain()
	r, err := u.VerifyAnchored(entriesOf(es), an)
	if err != nil || !r.OK || !r.Unkeyed || !strings.Contains(r.Unproven, KeyFile+") is missing") || r.Head != es[5].Hash {
		t.Fatalf("intact log without the key: %+v %v", r, err)
	}
	edited := append([]Entry(nil), es...)
	edited[1].Payload = []byte(`{"i":99}`)
	if r, _ := u.VerifyAnchored(entriesOf(edited), an); !r.OK || r.Unproven == "" {
		t.Fatalf("an edited entry, which only the key shows: %+v", r)
	}
	if r := c.Verify(edited); r.OK {
		t.Fatal("the keyed chain missed the edit")
	}
	gap := append(append([]Entry(nil), es[:1]...), es[2:]...)
	if r, _ := u.VerifyAnchored(entriesOf(gap), an); r.OK || r.Problem.Kind != Deleted || r.Problem.Seq != 2 {
		t.Fatalf("entry 2 removed: %+v", r)
	}
	swapped := append([]Entry(nil), es...)
	swapped[1], swapped[2] = swapped[2], swapped[1]
	swapped[1].Seq, swapped[2].Seq = 2, 3
	if r, _ := u.VerifyAnchored(entriesOf(swapped), an); r.OK || r.Problem.Kind != Reordered {
		t.Fatalf("entries 2 and 3 swapped: %+v", r)
	}
	if r, _ := u.VerifyAnchored(entriesOf(es[:4]), an); r.OK || r.Problem.Kind != Truncated || r.Problem.Seq != 5 {
		t.Fatalf("tail cut: %+v", r)
	}
	// A log that names no key: both reasons are given.
	var plain []Entry
	appendState(t, c, &plain, 2)
	if r, _ := u.VerifyAnchored(entriesOf(plain), nil); !r.OK || !strings.Contains(r.Unproven, "is missing") {
		t.Fatalf("no anchors: %+v", r)
	}
	if r, _ := u.VerifyAnchored(entriesOf(plain), an); r.OK {
		t.Fatalf("another log against this anchor: %+v", r)
	}
	empty, err := ReadAnchors(filepath.Join(t.TempDir(), "none"))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := u.VerifyAnchored(entriesOf(plain), empty); !r.OK || !strings.Contains(r.Unproven, "is missing") || !strings.Contains(r.Unproven, "records no anchor key") {
		t.Fatalf("no key, no anchor: %+v", r)
	}
}
