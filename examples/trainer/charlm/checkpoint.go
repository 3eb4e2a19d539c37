package charlm

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
)

// Checkpoint is the training state at the end of a step.
type Checkpoint struct {
	Step     uint64
	Seed     uint64
	DataHash [32]byte
	Model    *Model
}

// Checkpoint file layout (little endian): magic, step, seed, data hash,
// Vocab*Vocab float64 weights, CRC-32C of everything before it.
var magic = [8]byte{'M', 'R', 'D', 'C', 'L', 'M', '0', '1'}

const headerLen = 8 + 8 + 8 + 32

// CheckpointSize is the exact size of a checkpoint file.
const CheckpointSize = headerLen + Vocab*Vocab*8 + 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// DataHash fingerprints the training data a checkpoint belongs to.
func DataHash(data []byte) [32]byte { return sha256.Sum256(data) }

// Encode serialises c.
func (c *Checkpoint) Encode() []byte {
	buf := make([]byte, 0, CheckpointSize)
	buf = append(buf, magic[:]...)
	buf = binary.LittleEndian.AppendUint64(buf, c.Step)
	buf = binary.LittleEndian.AppendUint64(buf, c.Seed)
	buf = append(buf, c.DataHash[:]...)
	for _, w := range c.Model.W {
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(w))
	}
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
}

// DecodeCheckpoint parses a checkpoint, rejecting any file that is not
// exactly one whole, intact checkpoint.
func DecodeCheckpoint(b []byte) (*Checkpoint, error) {
	if len(b) != CheckpointSize {
		return nil, fmt.Errorf("size %d bytes, want %d (partial or foreign file)", len(b), CheckpointSize)
	}
	if !bytes.Equal(b[:8], magic[:]) {
		return nil, errors.New("bad magic: not a checkpoint of this trainer")
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, fmt.Errorf("checksum %08x, file says %08x (corrupted)", got, sum)
	}
	c := &Checkpoint{
		Step:  binary.LittleEndian.Uint64(b[8:]),
		Seed:  binary.LittleEndian.Uint64(b[16:]),
		Model: NewModel(),
	}
	copy(c.DataHash[:], b[24:56])
	for i := range c.Model.W {
		w := math.Float64frombits(binary.LittleEndian.Uint64(b[headerLen+8*i:]))
		if math.IsNaN(w) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("weight %d is %v", i, w)
		}
		c.Model.W[i] = w
	}
	return c, nil
}

var ckptName = regexp.MustCompile(`^ckpt-([0-9]{10})\.bin$`)

// CheckpointPath is the file name of the checkpoint of step in dir.
func CheckpointPath(dir string, step uint64) string {
	return filepath.Join(dir, fmt.Sprintf("ckpt-%010d.bin", step))
}

// Save writes c into dir atomically: temp file, fsync, rename, fsync dir.
func Save(dir string, c *Checkpoint) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, ".ckpt-*.tmp")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(c.Encode()); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	path := CheckpointPath(dir, c.Step)
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	d, err := os.Open(dir)
	if err != nil {
		return "", err
	}
	defer d.Close()
	return path, d.Sync()
}

// Rejected is a checkpoint file that Latest skipped, and why.
type Rejected struct {
	Path   string
	Reason string
}

// Latest loads the newest intact checkpoint in dir. Files that are not named
// like checkpoints (temporary files of an interrupted save) are not looked
// at; named ones that fail to decode, or whose name disagrees with their
// step, are skipped and returned in rejected. ok is false when none is left.
func Latest(dir string) (c *Checkpoint, path string, rejected []Rejected, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", nil, nil
	}
	if err != nil {
		return nil, "", nil, err
	}
	type cand struct {
		step uint64
		path string
	}
	var cands []cand
	for _, e := range entries {
		m := ckptName.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		step, _ := strconv.ParseUint(m[1], 10, 64)
		cands = append(cands, cand{step, filepath.Join(dir, e.Name())})
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].step > cands[j].step })
	for _, cd := range cands {
		b, err := os.ReadFile(cd.path)
		if err != nil {
			rejected = append(rejected, Rejected{cd.path, err.Error()})
			continue
		}
		ck, err := DecodeCheckpoint(b)
		if err != nil {
			rejected = append(rejected, Rejected{cd.path, err.Error()})
			continue
		}
		if ck.Step != cd.step {
			rejected = append(rejected, Rejected{cd.path, fmt.Sprintf("holds step %d, name says %d", ck.Step, cd.step)})
			continue
		}
		return ck, cd.path, rejected, nil
	}
	return nil, "", rejected, nil
}

// prune removes all but the newest keep checkpoints in dir.
func prune(dir string, keep int) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if ckptName.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names) // zero-padded steps sort by step
	for i := 0; i < len(names)-keep; i++ {
		if err := os.Remove(filepath.Join(dir, names[i])); err != nil {
			return err
		}
	}
	return nil
}
