package agent

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// secretText is the plaintext sealed into the tests' datasets and
// checkpoints, looked for where a link led.
const secretText = "plaintext only the scratch may hold"

// sealedStore seals a directory holding name (secretText) as the
// dataset ds under prefix in a file store made in dir, and returns the
// store's URL, the key's text and the manifest's digest.
func sealedStore(t *testing.T, dir, prefix, ds, name string) (url, key, sum string) {
	t.Helper()
	root := filepath.Join(dir, "plain-"+ds)
	if err := os.MkdirAll(root, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, name), []byte(secretText), 0o600); err != nil {
		t.Fatal(err)
	}
	url = "file://" + filepath.Join(dir, "store")
	store, err := dataset.OpenStore(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	k, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := seal.New(k, ds)
	if err != nil {
		t.Fatal(err)
	}
	res, err := dataset.Add(t.Context(), dataset.AddOptions{Name: ds, Root: root, Store: store.Sub(prefix), Sealer: s, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	return url, k.String(), res.ManifestSHA256
}

// plaintextUnder lists the files under dir that hold secretText.
func plaintextUnder(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if b, rerr := os.ReadFile(p); d.Type().IsRegular() && rerr == nil && strings.Contains(string(b), secretText) {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// swapAfterReady has prepare find from (the scratch, a directory above
// it or one in it) swapped for a link to victim once the scratch is
// checked and made ready; it returns where from was moved to.
func swapAfterReady(t *testing.T, from, victim string) string {
	t.Helper()
	moved := from + ".moved"
	afterScratchReady = func() {
		if err := os.Rename(from, moved); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(victim, from); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { afterScratchReady = func() {} })
	return moved
}

// TestAttackDataSwappedForALinkBeforeTheUnseal: the datasets were
// unsealed into the scratch by its path (os.MkdirAll of data/NAME, then
// an open refusing a link at NAME only), checked only as the attempt
// started: the scratch's data directory, the scratch or a directory
// above it swapped for a link after that check had the agent (root, in
// the uid sandbox) write the dataset's plaintext wherever the link led.
// Each dataset's directory is now made and opened from the descriptor
// the scratch was checked by, each directory on the way opened without
// following a link: a link at data is refused, and a scratch (or a
// directory above it) moved away keeps the plaintext, its path refused
// for the workload.
func TestAttackDataSwappedForALinkBeforeTheUnseal(t *testing.T) {
	for _, swapped := range []string{"data", "the scratch", "a directory above it"} {
		t.Run(swapped, func(t *testing.T) {
			dir := t.TempDir()
			above, victim := filepath.Join(dir, "jobs"), filepath.Join(dir, "victim")
			wd := filepath.Join(above, "run-1")
			for _, d := range []string{wd, victim} {
				if err := os.MkdirAll(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			url, key, sum := sealedStore(t, dir, "t/acme/data/", "corpus", "shard-0")
			runKey, err := seal.NewKey()
			if err != nil {
				t.Fatal(err)
			}
			from := map[string]string{"data": filepath.Join(wd, "data"), "the scratch": wd, "a directory above it": above}[swapped]
			moved := swapAfterReady(t, from, victim)
			a := &attempt{wd: wd, cfg: Config{Stderr: io.Discard}}
			a.m = &Manifest{Store: url, DataPrefix: "t/acme/data/", CheckpointPrefix: "t/acme/ckpt/", RunKey: runKey.String(),
				Datasets: []DatasetKey{{Name: "corpus", Key: key, ManifestSHA256: sum}}, Sandbox: Sandbox{Mode: SandboxNone}}
			err = a.prepare(t.Context())
			defer a.wipe()
			if found := plaintextUnder(t, victim); len(found) > 0 {
				t.Errorf("%s swapped for a link: the dataset's plaintext landed where it led: %v (prepare: %v)", swapped, found, err)
			}
			if err == nil {
				t.Errorf("%s swapped for a link: prepare went on; want it refused", swapped)
			}
			if swapped == "data" {
				return // refused before anything was unsealed
			}
			// The scratch checked, wherever it was moved, holds the data.
			inMoved := filepath.Join(moved, "data", "corpus", "shard-0")
			if swapped == "a directory above it" {
				inMoved = filepath.Join(moved, "run-1", "data", "corpus", "shard-0")
			}
			if b, rerr := os.ReadFile(inMoved); rerr != nil || string(b) != secretText {
				t.Errorf("%s swapped for a link: the scratch checked holds %q (%v); want the dataset there", swapped, b, rerr)
			}
			if err != nil && !strings.Contains(err.Error(), "replaced") {
				t.Errorf("%s swapped for a link: prepare: %v; want the scratch refused as replaced", swapped, err)
			}
		})
	}
}

// TestAttackCheckpointsSwappedForALinkBeforeTheRestore: the checkpoint
// to resume from was unsealed into checkpoints/.restore by the scratch's
// path, and its entry renamed into checkpoints by path: the scratch's
// checkpoints directory swapped for a link after the scratch's check had
// the agent write the checkpoint's plaintext where the link led, and
// leave it there under the checkpoint's name. The checkpoint directory
// is now opened from the scratch's descriptor without following a link
// (a link is refused), .restore made and removed, and the entry renamed,
// through it.
func TestAttackCheckpointsSwappedForALinkBeforeTheRestore(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	wd := filepath.Join(dir, "jobs", "run-1")
	for _, d := range []string{wd, victim} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	url, runKey, sum := sealedStore(t, dir, "t/acme/ckpt/", "run-1-step-3", "model.bin")
	swapAfterReady(t, filepath.Join(wd, "checkpoints"), victim)
	a := &attempt{wd: wd, cfg: Config{Stderr: io.Discard}}
	a.m = &Manifest{Store: url, DataPrefix: "t/acme/data/", CheckpointPrefix: "t/acme/ckpt/", RunKey: runKey,
		Resume: &CheckpointRef{Step: 3, Name: "run-1-step-3", Path: "model.bin", SHA256: sum}, Sandbox: Sandbox{Mode: SandboxNone}}
	err := a.prepare(t.Context())
	defer a.wipe()
	if found := plaintextUnder(t, victim); len(found) > 0 {
		t.Errorf("checkpoints swapped for a link: the checkpoint's plaintext landed where it led: %v (prepare: %v)", found, err)
	}
	if err == nil || !strings.Contains(err.Error(), "checkpoints") {
		t.Errorf("checkpoints swapped for a link: prepare: %v; want the checkpoint directory refused, named", err)
	}
}

// TestRestoreThroughTheScratchsDescriptor: a checkpoint resumed from is
// renamed into the checkpoint directory under its name, and the
// directory it was unsealed into is gone; a dataset lands in data.
func TestRestoreThroughTheScratchsDescriptor(t *testing.T) {
	dir := t.TempDir()
	wd := filepath.Join(dir, "jobs", "run-1")
	if err := os.MkdirAll(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	url, runKey, ckSum := sealedStore(t, dir, "t/acme/ckpt/", "run-1-step-3", "model.bin")
	_, key, dsSum := sealedStore(t, dir, "t/acme/data/", "corpus", "shard-0")
	a := &attempt{wd: wd, cfg: Config{Stderr: io.Discard}, m: &Manifest{Store: url, DataPrefix: "t/acme/data/", CheckpointPrefix: "t/acme/ckpt/", RunKey: runKey,
		Datasets: []DatasetKey{{Name: "corpus", Key: key, ManifestSHA256: dsSum}},
		Resume:   &CheckpointRef{Step: 3, Name: "run-1-step-3", Path: "model.bin", SHA256: ckSum}, Sandbox: Sandbox{Mode: SandboxNone}}}
	if err := a.prepare(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer a.wipe()
	for _, p := range []string{filepath.Join(wd, "checkpoints", "model.bin"), filepath.Join(wd, "data", "corpus", "shard-0")} {
		if b, err := os.ReadFile(p); err != nil || string(b) != secretText {
			t.Errorf("%s: %q (%v); want the plaintext sealed", p, b, err)
		}
	}
	if ents, err := os.ReadDir(filepath.Join(wd, "checkpoints")); err != nil || len(ents) != 1 {
		t.Errorf("checkpoints holds %v (%v); want model.bin alone", names(ents), err)
	}
	if a.reported != 3 {
		t.Errorf("reported step %d after resuming at 3", a.reported)
	}
}
