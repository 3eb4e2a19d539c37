package agent

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"meridian.dev/meridian/seal"
)

// TestRestoreSucceedsWhenRemovingItsLeftoversFails: a failed removal of
// .restore after the checkpoint was renamed into place failed the
// restore, and with it an attempt whose checkpoint was restored whole.
// The restore now succeeds, the checkpoint in place, and the failure is
// said in the site's log; the wipe at the attempt's end removes what is
// left.
func TestRestoreSucceedsWhenRemovingItsLeftoversFails(t *testing.T) {
	dir := t.TempDir()
	wd := filepath.Join(dir, "jobs", "run-1")
	if err := os.MkdirAll(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	url, runKey, sum := sealedStore(t, dir, "t/acme/ckpt/", "run-1-step-3", "model.bin")
	removeRestore = func(int, string) error { return unix.EBUSY }
	t.Cleanup(func() { removeRestore = removeAllAt })
	var site bytes.Buffer
	a := &attempt{wd: wd, cfg: Config{Stderr: &site}, m: &Manifest{Store: url, DataPrefix: "t/acme/data/", CheckpointPrefix: "t/acme/ckpt/", RunKey: runKey,
		Resume: &CheckpointRef{Step: 3, Name: "run-1-step-3", Path: "model.bin", SHA256: sum}, Sandbox: Sandbox{Mode: SandboxNone}}}
	err := a.prepare(t.Context())
	if err != nil {
		a.wipe()
		t.Fatalf("prepare: %v; want the restore to succeed, its leftovers' removal failing", err)
	}
	if b, err := os.ReadFile(filepath.Join(wd, "checkpoints", "model.bin")); err != nil || string(b) != secretText {
		t.Errorf("checkpoints/model.bin: %q (%v); want the checkpoint in place", b, err)
	}
	if log := site.String(); !strings.Contains(log, restoreDir) || !strings.Contains(log, unix.EBUSY.Error()) {
		t.Errorf("site log %q; want the failed removal of %s said, with its error", log, restoreDir)
	}
	left := filepath.Join(wd, "checkpoints", restoreDir)
	if _, err := os.Lstat(left); err != nil {
		t.Fatalf("%s: %v; want it left by the failed removal", left, err)
	}
	a.wipe()
	if _, err := os.Lstat(left); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s after the wipe: %v; want it removed with the rest of the scratch", left, err)
	}
}

// TestUnsealRefusesADatasetListedTwice: each dataset's directory is
// made exclusively, so a manifest naming one dataset twice failed on the
// second with a bare "file exists". The server names each once; a list
// naming one twice is refused before anything is unsealed, the error
// naming the dataset and both entries.
func TestUnsealRefusesADatasetListedTwice(t *testing.T) {
	dir := t.TempDir()
	wd := filepath.Join(dir, "jobs", "run-1")
	if err := os.MkdirAll(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	url, key, sum := sealedStore(t, dir, "t/acme/data/", "corpus", "shard-0")
	_, key2, sum2 := sealedStore(t, dir, "t/acme/data/", "other", "shard-0")
	for _, tc := range []struct {
		name string
		ds   []DatasetKey
	}{
		{"the same entry twice", []DatasetKey{{Name: "corpus", Key: key, ManifestSHA256: sum}, {Name: "other", Key: key2, ManifestSHA256: sum2}, {Name: "corpus", Key: key, ManifestSHA256: sum}}},
		{"another entry under its name", []DatasetKey{{Name: "corpus", Key: key, ManifestSHA256: sum}, {Name: "other", Key: key2, ManifestSHA256: sum2}, {Name: "corpus", Key: key2, ManifestSHA256: sum2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &attempt{wd: wd, cfg: Config{Stderr: &bytes.Buffer{}}, m: &Manifest{Store: url, DataPrefix: "t/acme/data/", CheckpointPrefix: "t/acme/ckpt/",
				RunKey: key2, Datasets: tc.ds, Sandbox: Sandbox{Mode: SandboxNone}}}
			err := a.prepare(t.Context())
			defer a.wipe()
			if err == nil || !strings.Contains(err.Error(), `"corpus"`) || !strings.Contains(err.Error(), "datasets[2]") || !strings.Contains(err.Error(), "datasets[0]") {
				t.Fatalf("prepare: %v; want the dataset listed twice refused, named with both entries", err)
			}
			if errors.Is(err, os.ErrExist) {
				t.Errorf("prepare: %v; want the duplicate refused as such, not as a directory already there", err)
			}
			if found := plaintextUnder(t, filepath.Join(wd, "data")); len(found) > 0 {
				t.Errorf("unsealed before the list was refused: %v", found)
			}
		})
	}
}

// TestUnsealRefusesAKeyWithoutItsPin: a dataset's key given with no
// manifest pin, or with one that is not a SHA-256, was unsealed from
// whatever genuine version the site's store served under its name
// (dataset.OpenUnseal takes an empty pin as none): an older staging's,
// say. The server sends the pin with every key; a key without it is
// refused before anything is unsealed, naming the dataset and the field.
func TestUnsealRefusesAKeyWithoutItsPin(t *testing.T) {
	dir := t.TempDir()
	wd := filepath.Join(dir, "jobs", "run-1")
	if err := os.MkdirAll(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	url, key, sum := sealedStore(t, dir, "t/acme/data/", "corpus", "shard-0")
	for _, tc := range []struct{ name, pin string }{
		{"no pin", ""},
		{"a pin that is not a SHA-256", "not-a-digest"},
		{"an upper-case pin", strings.ToUpper(sum)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &attempt{wd: wd, cfg: Config{Stderr: &bytes.Buffer{}}, m: &Manifest{Store: url, DataPrefix: "t/acme/data/", CheckpointPrefix: "t/acme/ckpt/",
				RunKey: key, Datasets: []DatasetKey{{Name: "corpus", Key: key, ManifestSHA256: tc.pin}}, Sandbox: Sandbox{Mode: SandboxNone}}}
			err := a.prepare(t.Context())
			defer a.wipe()
			if err == nil || !strings.Contains(err.Error(), `"corpus"`) || !strings.Contains(err.Error(), "manifestSha256") {
				t.Fatalf("prepare: %v; want the key without its pin refused, naming the dataset and manifestSha256", err)
			}
			if found := plaintextUnder(t, filepath.Join(wd, "data")); len(found) > 0 {
				t.Errorf("unsealed without a pin: %v", found)
			}
		})
	}
	// With its pin the same dataset unseals: the refusals above were the
	// pin's.
	a := &attempt{wd: wd, cfg: Config{Stderr: &bytes.Buffer{}}, m: &Manifest{Store: url, DataPrefix: "t/acme/data/", CheckpointPrefix: "t/acme/ckpt/",
		RunKey: key, Datasets: []DatasetKey{{Name: "corpus", Key: key, ManifestSHA256: sum}}, Sandbox: Sandbox{Mode: SandboxNone}}}
	defer a.wipe()
	if err := a.prepare(t.Context()); err != nil {
		t.Fatalf("prepare with the pin: %v", err)
	}
	if found := plaintextUnder(t, filepath.Join(wd, "data")); len(found) == 0 {
		t.Errorf("nothing unsealed with the pin given")
	}
}

// TestRestoreRefusesACheckpointWithoutItsPin: the checkpoint to resume
// from was unsealed with whatever sha256 the manifest gave, and an empty
// one is taken by dataset.OpenUnseal as no pin at all: a home store
// rewritten could have the agent restore any checkpoint of the run the
// site's store holds (an older one, under the name given). The server
// records a digest with every checkpoint it takes; a resume without one,
// or with one that is not a SHA-256, is refused before anything is
// unsealed, naming the checkpoint and the field. A first attempt, sent no
// checkpoint, prepares as before.
func TestRestoreRefusesACheckpointWithoutItsPin(t *testing.T) {
	dir := t.TempDir()
	wd := filepath.Join(dir, "jobs", "run-1")
	if err := os.MkdirAll(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	url, key, dsSum := sealedStore(t, dir, "t/acme/data/", "corpus", "shard-0")
	_, runKey, ckSum := sealedStore(t, dir, "t/acme/ckpt/", "run-1-step-3", "model.bin")
	manifest := func(resume *CheckpointRef) *Manifest {
		return &Manifest{Store: url, DataPrefix: "t/acme/data/", CheckpointPrefix: "t/acme/ckpt/", RunKey: runKey,
			Datasets: []DatasetKey{{Name: "corpus", Key: key, ManifestSHA256: dsSum}}, Resume: resume, Sandbox: Sandbox{Mode: SandboxNone}}
	}
	for _, tc := range []struct{ name, pin string }{
		{"no pin", ""},
		{"a pin that is not a SHA-256", "not-a-digest"},
		{"an upper-case pin", strings.ToUpper(ckSum)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &attempt{wd: wd, cfg: Config{Stderr: &bytes.Buffer{}}, m: manifest(&CheckpointRef{Step: 3, Name: "run-1-step-3", Path: "model.bin", SHA256: tc.pin})}
			err := a.prepare(t.Context())
			defer a.wipe()
			if err == nil || !strings.Contains(err.Error(), `"run-1-step-3"`) || !strings.Contains(err.Error(), "sha256") {
				t.Fatalf("prepare: %v; want the checkpoint without its pin refused, naming the checkpoint and sha256", err)
			}
			if found := plaintextUnder(t, wd); len(found) > 0 {
				t.Errorf("unsealed before the checkpoint was refused: %v", found)
			}
		})
	}
	// With its pin the same checkpoint is restored, and with none to
	// resume from (a first attempt) the datasets alone are unsealed: the
	// refusals above were the pin's.
	for _, tc := range []struct {
		name   string
		resume *CheckpointRef
		want   string
	}{
		{"the pin given", &CheckpointRef{Step: 3, Name: "run-1-step-3", Path: "model.bin", SHA256: ckSum}, filepath.Join(wd, "checkpoints", "model.bin")},
		{"no checkpoint", nil, filepath.Join(wd, "data", "corpus", "shard-0")},
	} {
		a := &attempt{wd: wd, cfg: Config{Stderr: &bytes.Buffer{}}, m: manifest(tc.resume)}
		if err := a.prepare(t.Context()); err != nil {
			a.wipe()
			t.Fatalf("prepare with %s: %v", tc.name, err)
		}
		if b, err := os.ReadFile(tc.want); err != nil || string(b) != secretText {
			t.Errorf("prepare with %s: %s: %q (%v); want it unsealed", tc.name, tc.want, b, err)
		}
		a.wipe()
	}
}

// TestKeysDroppedOnceUsed: the manifest's dataset keys and the run key
// stayed in the agent's memory for the whole attempt, and the run key,
// parsed, after it too. The dataset keys and the run key's text are now
// dropped once the datasets are unsealed, and the parsed run key (which
// seals checkpoints while the workload runs) at the wipe.
func TestKeysDroppedOnceUsed(t *testing.T) {
	dir := t.TempDir()
	wd := filepath.Join(dir, "jobs", "run-1")
	if err := os.MkdirAll(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	url, key, sum := sealedStore(t, dir, "t/acme/data/", "corpus", "shard-0")
	_, runKey, _ := sealedStore(t, dir, "t/acme/data/", "other", "shard-0")
	a := &attempt{wd: wd, cfg: Config{Stderr: &bytes.Buffer{}}, m: &Manifest{Store: url, DataPrefix: "t/acme/data/", CheckpointPrefix: "t/acme/ckpt/",
		RunKey: runKey, Datasets: []DatasetKey{{Name: "corpus", Key: key, ManifestSHA256: sum}}, Sandbox: Sandbox{Mode: SandboxNone}}}
	if err := a.prepare(t.Context()); err != nil {
		a.wipe()
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(wd, "data", "corpus", "shard-0")); err != nil || string(b) != secretText {
		t.Errorf("data/corpus/shard-0: %q (%v); want the dataset unsealed", b, err)
	}
	if a.m.Datasets[0].Key != "" || a.m.RunKey != "" {
		t.Errorf("after the unseal the manifest still holds the dataset's key (%t) or the run key (%t)", a.m.Datasets[0].Key != "", a.m.RunKey != "")
	}
	if a.runKey == (seal.Key{}) {
		t.Fatal("the run key, which seals checkpoints, is gone before the workload runs")
	}
	a.wipe()
	if a.runKey != (seal.Key{}) {
		t.Error("the run key is still in memory after the wipe")
	}
}
