package charlm

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

func testConfig(t *testing.T) Config {
	t.Helper()
	return Config{
		DataDir:         "corpus",
		CheckpointDir:   t.TempDir(),
		Steps:           200,
		CheckpointEvery: 50,
		Keep:            10,
		Batch:           128,
		LR:              50,
		Seed:            7,
		LogEvery:        10,
	}
}

// progress parses the trainer's progress lines with the parser Meridian uses.
func progress(t *testing.T, out string) []backend.Progress {
	t.Helper()
	var ps []backend.Progress
	for _, line := range strings.Split(out, "\n") {
		if p, ok := backend.ParseProgress(line); ok {
			ps = append(ps, p)
		}
	}
	return ps
}

func TestLossDecreases(t *testing.T) {
	cfg := testConfig(t)
	var out bytes.Buffer
	if err := Train(context.Background(), cfg, &out); err != nil {
		t.Fatal(err)
	}
	ps := progress(t, out.String())
	if len(ps) != int(cfg.Steps/cfg.LogEvery) {
		t.Fatalf("got %d progress lines, want %d:\n%s", len(ps), cfg.Steps/cfg.LogEvery, out.String())
	}
	first, last := ps[0], ps[len(ps)-1]
	if uint64(last.Step) != cfg.Steps || uint64(last.Steps) != cfg.Steps {
		t.Errorf("last progress = %+v, want step %d of %d", last, cfg.Steps, cfg.Steps)
	}
	// A uniform model over 256 bytes has loss ln 256 = 5.55 nats.
	if first.Loss > math.Log(Vocab)+1e-9 || last.Loss > first.Loss-1.0 {
		t.Errorf("loss went from %.4f to %.4f; want a drop of more than 1 nat", first.Loss, last.Loss)
	}
	ck, _, _, err := Latest(cfg.CheckpointDir)
	if err != nil || ck == nil {
		t.Fatalf("no checkpoint after training: %v", err)
	}
	data, _, err := LoadData(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if full := ck.Model.Loss(data); full > 3.0 {
		t.Errorf("loss of the trained model over the whole corpus = %.4f, want < 3.0 (uniform is %.2f)", full, math.Log(Vocab))
	}
}

// TestResumeIsExact: stopping at a checkpoint and resuming ends with exactly
// the weights of a run that never stopped.
func TestResumeIsExact(t *testing.T) {
	straight := testConfig(t)
	if err := Train(context.Background(), straight, sink(t)); err != nil {
		t.Fatal(err)
	}
	split := testConfig(t)
	split.Steps = 100
	if err := Train(context.Background(), split, sink(t)); err != nil {
		t.Fatal(err)
	}
	split.Steps = 200
	var out bytes.Buffer
	if err := Train(context.Background(), split, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "resume step=100 ") {
		t.Fatalf("second part did not resume at step 100:\n%s", out.String())
	}
	a, err := os.ReadFile(CheckpointPath(straight.CheckpointDir, 200))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(CheckpointPath(split.CheckpointDir, 200))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("resumed run's final checkpoint differs from the uninterrupted run's")
	}
}

func sink(t *testing.T) *bytes.Buffer { t.Helper(); return &bytes.Buffer{} }

func TestStopSavesCheckpoint(t *testing.T) {
	cfg := testConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Train(ctx, cfg, sink(t))
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("Train with a done context = %v, want ErrStopped", err)
	}
	if _, err := os.Stat(CheckpointPath(cfg.CheckpointDir, 0)); err != nil {
		t.Fatalf("no checkpoint saved on stop: %v", err)
	}
}

func TestLatestSkipsBadCheckpoints(t *testing.T) {
	good := func(t *testing.T, dir string, step uint64) []byte {
		t.Helper()
		c := &Checkpoint{Step: step, Seed: 7, Model: NewModel()}
		c.Model.W[3] = float64(step)
		if _, err := Save(dir, c); err != nil {
			t.Fatal(err)
		}
		return c.Encode()
	}
	tests := []struct {
		name    string
		corrupt func(t *testing.T, dir string, enc []byte) // enc: encoding of step 100
		reason  string                                     // in the rejection; "" when nothing is rejected
	}{
		{"temp file of an interrupted save", func(t *testing.T, dir string, enc []byte) {
			write(t, filepath.Join(dir, ".ckpt-123.tmp"), enc[:100])
		}, ""},
		{"truncated newest", func(t *testing.T, dir string, enc []byte) {
			write(t, CheckpointPath(dir, 100), enc[:len(enc)/2])
		}, "size"},
		{"empty newest", func(t *testing.T, dir string, enc []byte) {
			write(t, CheckpointPath(dir, 100), nil)
		}, "size"},
		{"flipped bit", func(t *testing.T, dir string, enc []byte) {
			bad := bytes.Clone(enc)
			bad[1000] ^= 0x10
			write(t, CheckpointPath(dir, 100), bad)
		}, "checksum"},
		{"foreign file", func(t *testing.T, dir string, enc []byte) {
			bad := bytes.Clone(enc)
			copy(bad, "NOTACKPT")
			write(t, CheckpointPath(dir, 100), bad)
		}, "magic"},
		{"renamed to a later step", func(t *testing.T, dir string, enc []byte) {
			write(t, CheckpointPath(dir, 150), enc)
		}, "name says 150"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			good(t, dir, 50)
			enc := good(t, dir, 100)
			if err := os.Remove(CheckpointPath(dir, 100)); err != nil {
				t.Fatal(err)
			}
			tt.corrupt(t, dir, enc)
			ck, path, rejected, err := Latest(dir)
			if err != nil {
				t.Fatal(err)
			}
			if ck == nil || ck.Step != 50 || ck.Model.W[3] != 50 || path != CheckpointPath(dir, 50) {
				t.Fatalf("Latest = %+v at %s, want the intact step-50 checkpoint", ck, path)
			}
			if tt.reason == "" {
				if len(rejected) != 0 {
					t.Fatalf("rejected %+v, want nothing", rejected)
				}
				return
			}
			if len(rejected) != 1 || !strings.Contains(rejected[0].Reason, tt.reason) {
				t.Fatalf("rejected %+v, want one naming %q", rejected, tt.reason)
			}
		})
	}
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTrainIgnoresPartialCheckpointAndResumes(t *testing.T) {
	cfg := testConfig(t)
	cfg.Steps = 100
	if err := Train(context.Background(), cfg, sink(t)); err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile(CheckpointPath(cfg.CheckpointDir, 100))
	if err != nil {
		t.Fatal(err)
	}
	write(t, CheckpointPath(cfg.CheckpointDir, 100), full[:4096])
	cfg.Steps = 120
	var out bytes.Buffer
	if err := Train(context.Background(), cfg, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"checkpoint-ignored path=" + CheckpointPath(cfg.CheckpointDir, 100), "resume step=50 ", "step=120 steps=120 "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestResumeRefusesOtherData(t *testing.T) {
	cfg := testConfig(t)
	cfg.Steps = 50
	if err := Train(context.Background(), cfg, sink(t)); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	write(t, filepath.Join(other, "a.txt"), []byte("different text entirely"))
	cfg.DataDir, cfg.Steps = other, 60
	err := Train(context.Background(), cfg, sink(t))
	if err == nil || !strings.Contains(err.Error(), "other data") {
		t.Fatalf("resume on other data: %v, want a refusal", err)
	}
}

func TestMainFlags(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-steps", "0"}, 2, "-steps"},
		{[]string{"-checkpoint-every", "0"}, 2, "-checkpoint-every"},
		{[]string{"-lr", "-1"}, 2, "-lr"},
		{[]string{"-batch", "0"}, 2, "-batch"},
		{[]string{"-nope"}, 2, "nope"},
		{[]string{"extra"}, 2, "unexpected"},
		{[]string{"-data", "/nonexistent-dir", "-checkpoints", "x"}, 1, "no *.txt shards"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(tt.args, &out, &errb)
			if code != tt.code || !strings.Contains(errb.String(), tt.want) {
				t.Fatalf("Main(%q) = %d, stderr %q; want %d naming %q", tt.args, code, errb.String(), tt.code, tt.want)
			}
		})
	}
}

func TestWriteCorpus(t *testing.T) {
	dir := t.TempDir()
	if err := WriteCorpus(dir); err != nil {
		t.Fatal(err)
	}
	got, n, err := LoadData(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, m, err := LoadData("corpus")
	if err != nil {
		t.Fatal(err)
	}
	if n != m || !bytes.Equal(got, want) {
		t.Fatalf("written corpus (%d shards) differs from corpus/ (%d shards)", n, m)
	}
}

func FuzzDecodeCheckpoint(f *testing.F) {
	c := &Checkpoint{Step: 3, Seed: 1, Model: NewModel()}
	f.Add(c.Encode())
	f.Add([]byte("MRDCLM01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ck, err := DecodeCheckpoint(b)
		if err != nil {
			return
		}
		if !bytes.Equal(ck.Encode(), b) {
			t.Fatal("decoded checkpoint does not re-encode to the same bytes")
		}
	})
}
