package charlm

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// Corpus holds the example text shards (corpus/*.txt), written for this
// project, so that a demo can seed a data directory without the source tree.
//
//go:embed corpus/*.txt
var Corpus embed.FS

// WriteCorpus copies the embedded shards into dir.
func WriteCorpus(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return fs.WalkDir(Corpus, "corpus", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := Corpus.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(path)), b, 0o644)
	})
}

// Config is one training run.
type Config struct {
	DataDir         string
	CheckpointDir   string
	Steps           uint64
	CheckpointEvery uint64
	Keep            int
	Batch           int
	LR              float64
	Seed            uint64
	LogEvery        uint64
	// StepDelay slows each step down, so that a demo run lasts long enough
	// to watch (and to interrupt).
	StepDelay time.Duration
}

// ErrStopped is returned by Train when ctx ended it after a checkpoint.
var ErrStopped = errors.New("training stopped; resume from the last checkpoint")

func (c Config) validate() error {
	switch {
	case c.DataDir == "":
		return errors.New("-data: must name the directory of *.txt shards")
	case c.CheckpointDir == "":
		return errors.New("-checkpoints: must name a directory")
	case c.Steps == 0:
		return errors.New("-steps: must be at least 1")
	case c.CheckpointEvery == 0:
		return errors.New("-checkpoint-every: must be at least 1")
	case c.Keep < 1:
		return errors.New("-keep: must be at least 1")
	case c.Batch < 1:
		return errors.New("-batch: must be at least 1")
	case !(c.LR > 0):
		return errors.New("-lr: must be > 0")
	case c.LogEvery == 0:
		return errors.New("-log-every: must be at least 1")
	case c.StepDelay < 0:
		return errors.New("-step-delay: must not be negative")
	}
	return nil
}

// Train runs cfg, resuming from the newest intact checkpoint, and writes
// progress lines to out. When ctx ends it saves a checkpoint and returns
// ErrStopped.
func Train(ctx context.Context, cfg Config, out io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	data, shards, err := LoadData(cfg.DataDir)
	if err != nil {
		return err
	}
	hash := DataHash(data)
	model, step := NewModel(), uint64(0)
	ck, path, rejected, err := Latest(cfg.CheckpointDir)
	if err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	for _, r := range rejected {
		fmt.Fprintf(out, "checkpoint-ignored path=%s reason=%q\n", r.Path, r.Reason)
	}
	if ck != nil {
		if ck.DataHash != hash {
			return fmt.Errorf("checkpoint %s was trained on other data (hash differs); refusing to resume", path)
		}
		if ck.Seed != cfg.Seed {
			return fmt.Errorf("checkpoint %s used seed %d, -seed is %d", path, ck.Seed, cfg.Seed)
		}
		model, step = ck.Model, ck.Step
		fmt.Fprintf(out, "resume step=%d from=%s\n", step, path)
	} else {
		fmt.Fprintf(out, "start step=0 steps=%d shards=%d data_bytes=%d\n", cfg.Steps, shards, len(data))
	}
	save := func() error {
		p, err := Save(cfg.CheckpointDir, &Checkpoint{Step: step, Seed: cfg.Seed, DataHash: hash, Model: model})
		if err != nil {
			return fmt.Errorf("save checkpoint at step %d: %w", step, err)
		}
		if err := prune(cfg.CheckpointDir, cfg.Keep); err != nil {
			return fmt.Errorf("prune checkpoints: %w", err)
		}
		fmt.Fprintf(out, "checkpoint step=%d path=%s\n", step, p)
		return nil
	}
	var lossSum float64
	var lossN int
	lastLog, lastStep := time.Now(), step
	for step < cfg.Steps {
		if ctx.Err() != nil {
			if err := save(); err != nil {
				return err
			}
			return ErrStopped
		}
		lossSum += model.Step(data, cfg.Seed, step, cfg.Batch, cfg.LR)
		lossN++
		step++
		if cfg.StepDelay > 0 {
			select {
			case <-time.After(cfg.StepDelay):
			case <-ctx.Done():
			}
		}
		if step%cfg.LogEvery == 0 || step == cfg.Steps {
			elapsed := time.Since(lastLog).Seconds()
			tps := 0.0
			if elapsed > 0 {
				tps = float64((step-lastStep)*uint64(cfg.Batch)) / elapsed
			}
			fmt.Fprintf(out, "step=%d steps=%d loss=%.4f tokens_per_s=%.0f\n", step, cfg.Steps, lossSum/float64(lossN), tps)
			lossSum, lossN, lastLog, lastStep = 0, 0, time.Now(), step
		}
		if step%cfg.CheckpointEvery == 0 || step == cfg.Steps {
			if err := save(); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(out, "done step=%d loss=%.4f sample=%q\n", step, model.Loss(data), model.Sample('T', 40))
	return nil
}

// Main is the trainer's command line: it parses args (without the program
// name), trains, and returns the process exit code: 0 when done, 2 on bad
// flags, 1 on errors, 143 when stopped by SIGTERM or SIGINT (after saving a
// checkpoint).
func Main(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("trainer", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var cfg Config
	fl.StringVar(&cfg.DataDir, "data", "data", "directory of *.txt training shards")
	fl.StringVar(&cfg.CheckpointDir, "checkpoints", "checkpoints", "directory for checkpoints")
	fl.Uint64Var(&cfg.Steps, "steps", 600, "total optimiser steps")
	fl.Uint64Var(&cfg.CheckpointEvery, "checkpoint-every", 100, "save a checkpoint every K steps")
	fl.IntVar(&cfg.Keep, "keep", 2, "checkpoints to keep")
	fl.IntVar(&cfg.Batch, "batch", 256, "bigrams per step")
	fl.Float64Var(&cfg.LR, "lr", 50, "learning rate")
	fl.Uint64Var(&cfg.Seed, "seed", 1, "random seed (batches depend only on seed and step)")
	fl.Uint64Var(&cfg.LogEvery, "log-every", 10, "print progress every N steps")
	fl.DurationVar(&cfg.StepDelay, "step-delay", 0, "pause after each step (to make a demo watchable)")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "trainer: unexpected arguments %q\n", fl.Args())
		return 2
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(stderr, "trainer:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err := Train(ctx, cfg, stdout)
	switch {
	case errors.Is(err, ErrStopped):
		fmt.Fprintln(stderr, "trainer:", err)
		return 143
	case err != nil:
		fmt.Fprintln(stderr, "trainer:", err)
		return 1
	}
	return 0
}
