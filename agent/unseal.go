package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// The datasets and the checkpoint to resume from are unsealed into the
// scratch through the descriptor its path was checked by (a.scratch),
// never by the scratch's path: that path was checked once, at the start,
// and the scratch, a directory above it or one in it (data, checkpoints)
// swapped for a link since had the agent (root, in the uid sandbox)
// write the plaintext wherever the link led. Each directory on the way
// is opened from the one above it without following a link, and each
// one the unseal writes into is made there by the agent, exclusively
// (mkdirat), then held open and handed to dataset.Unsealing.Into, which
// writes every file through it.

// restoreDir is the directory in the checkpoint directory that a
// checkpoint is unsealed into before its entry is renamed into place.
const restoreDir = ".restore"

// openScratchDir opens name (one of scratchDirs) in the scratch held
// open since its check, to list and to make entries in. A link, a FIFO
// or anything but a directory put there since is refused, naming it.
func (a *attempt) openScratchDir(name string) (*os.File, error) {
	p := filepath.Join(a.wd, name)
	fd, err := unix.Openat(int(a.scratch.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("scratch: %s: %w (want the directory the agent made, not a link or anything else put there since)", p, err)
	}
	return os.NewFile(uintptr(fd), p), nil
}

// makeDirIn makes the directory name (0700) in the directory open as
// parent and opens it, without following a link. It must not be there
// yet: the agent made parent empty, so one found there was put by
// someone else, and the plaintext is not written into it.
func makeDirIn(parent *os.File, name string) (*os.File, error) {
	p := filepath.Join(parent.Name(), name)
	if err := unix.Mkdirat(int(parent.Fd()), name, 0o700); err != nil {
		return nil, &os.PathError{Op: "mkdir", Path: p, Err: err}
	}
	fd, err := unix.Openat(int(parent.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

// unsealDatasets unseals each of the manifest's datasets into its own
// directory in the scratch's data directory, from store.
func (a *attempt) unsealDatasets(ctx context.Context, store *dataset.Store) error {
	// The keys are needed for this alone: dropped once it is done, they
	// are not in the agent's memory (a core, a reader of it) for the rest
	// of the attempt.
	defer a.dropKeys()
	if len(a.m.Datasets) == 0 {
		return nil
	}
	if err := datasetsOnce(a.m.Datasets); err != nil {
		return err
	}
	if err := datasetsPinned(a.m.Datasets); err != nil {
		return err
	}
	data, err := a.openScratchDir("data")
	if err != nil {
		return err
	}
	defer data.Close()
	for _, d := range a.m.Datasets {
		if err := unsealDataset(ctx, store, data, d); err != nil {
			return fmt.Errorf("dataset %s: %w", d.Name, err)
		}
	}
	return nil
}

// dropKeys drops the dataset keys and the run key's text from the
// manifest: the run key, parsed, is a.runKey, which the wipe clears.
func (a *attempt) dropKeys() {
	if a.m == nil {
		return
	}
	for i := range a.m.Datasets {
		a.m.Datasets[i].Key = ""
	}
	a.m.RunKey = ""
}

// datasetsOnce refuses a manifest that lists a dataset more than once,
// before anything is unsealed. The server names each once (the catalog
// refuses a job naming one twice, and a run accepted before that is read
// with each once), so a second entry is not the server's: and each
// dataset's directory is made exclusively (makeDirIn), so the second
// would fail on the first's directory with a bare "file exists" that
// does not say why.
func datasetsOnce(ds []DatasetKey) error {
	first := make(map[string]int, len(ds))
	for i, d := range ds {
		if j, dup := first[d.Name]; dup {
			return fmt.Errorf("manifest datasets[%d]: dataset %q is listed already (datasets[%d]); the server names each dataset once", i, d.Name, j)
		}
		first[d.Name] = i
	}
	return nil
}

// datasetsPinned refuses, before anything is unsealed, a manifest that
// gives a dataset's key without the SHA-256 of the version staged for the
// attempt (or with one that is not a SHA-256): dataset.OpenUnseal takes
// an empty pin as none, and the site's store could then serve any genuine
// version of the dataset (an older staging's) in its place. The server
// sends a pin with every key, and refuses an attempt it has none for.
func datasetsPinned(ds []DatasetKey) error {
	for i, d := range ds {
		if d.Key == "" {
			continue // refused as a key that does not parse, naming the dataset
		}
		if d.ManifestSHA256 == "" {
			return fmt.Errorf("manifest datasets[%d]: dataset %q has a key but no manifestSha256: the agent unseals only the version staged for the attempt, and the server sends its digest with each key", i, d.Name)
		}
		if _, err := seal.ParseID(d.ManifestSHA256); err != nil {
			return fmt.Errorf("manifest datasets[%d]: dataset %q: manifestSha256 %.80q is not a SHA-256 (want 64 lower-case hex digits)", i, d.Name, d.ManifestSHA256)
		}
	}
	return nil
}

// resumePinned refuses, before anything is unsealed, a checkpoint to
// resume from given without the SHA-256 of its sealed manifest (or with
// one that is not a SHA-256): dataset.OpenUnseal takes an empty pin as
// none, and the site's store could then serve any checkpoint of the run
// sealed under the name (an older one) in its place. The server takes a
// checkpoint report only with a real digest and sends it with the
// checkpoint; a first attempt is sent no checkpoint at all (nil here).
func resumePinned(r *CheckpointRef) error {
	if r == nil {
		return nil
	}
	if r.SHA256 == "" {
		return fmt.Errorf("manifest resume: checkpoint %q (step %d) has no sha256: the agent restores only the checkpoint the server recorded, and the server sends its digest with it", r.Name, r.Step)
	}
	if _, err := seal.ParseID(r.SHA256); err != nil {
		return fmt.Errorf("manifest resume: checkpoint %q (step %d): sha256 %.80q is not a SHA-256 (want 64 lower-case hex digits)", r.Name, r.Step, r.SHA256)
	}
	return nil
}

// unsealDataset unseals d into a directory of its name made in the
// directory open as data. The manifest is read, authenticated, pinned
// to the version staged and checked against the unseal's bound before
// the directory is made.
func unsealDataset(ctx context.Context, store *dataset.Store, data *os.File, d DatasetKey) error {
	// A dataset's name is one directory's: the server's word, checked
	// before it names anything in the scratch.
	if err := dataset.CheckName(d.Name); err != nil {
		return err
	}
	k, err := seal.ParseKey(d.Key)
	if err != nil {
		return fmt.Errorf("key: %w", err)
	}
	s, err := seal.New(k, d.Name)
	if err != nil {
		return err
	}
	// Pinned to the version staged: the site's store could serve another
	// genuine one (an older staging's) under the same name.
	u, err := dataset.OpenUnseal(ctx, store, s, d.Name, d.ManifestSHA256)
	if err != nil {
		return err
	}
	dir, err := makeDirIn(data, d.Name)
	if err != nil {
		return err
	}
	defer dir.Close()
	return u.Into(ctx, dir)
}

// restore unseals a checkpoint into the checkpoint directory under the
// name the workload gave it: into restoreDir first, then its one entry
// renamed into place, each step through the checkpoint directory held
// open.
func (a *attempt) restore(ctx context.Context, r *CheckpointRef) (err error) {
	if err := dataset.CheckPath(r.Path); err != nil || strings.Contains(r.Path, "/") {
		return fmt.Errorf("checkpoint path %q: want one name", r.Path)
	}
	s, err := seal.New(a.runKey, r.Name)
	if err != nil {
		return err
	}
	// The digest the server recorded pins the version: the site's store
	// cannot hand back another checkpoint sealed under the same name.
	u, err := dataset.OpenUnseal(ctx, a.store, s, r.Name, r.SHA256)
	if err != nil {
		return err
	}
	ckpt, err := a.openScratchDir("checkpoints")
	if err != nil {
		return err
	}
	defer ckpt.Close()
	tmp, err := makeDirIn(ckpt, restoreDir)
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		// What is left of the unseal is removed as the rest of the
		// scratch is, without following a link. Failing, it is said and
		// no more: the checkpoint is in place (or its unseal's own error
		// stands), and the wipe at the attempt's end empties the
		// scratch, what is left here with it. Failing the restore for it
		// would fail an attempt whose checkpoint was restored whole.
		if rerr := removeRestore(int(ckpt.Fd()), restoreDir); rerr != nil {
			a.logf("checkpoint %s: could not remove %s after the unseal (the wipe at the attempt's end removes it): %v", r.Name, tmp.Name(), rerr)
		}
	}()
	if err := u.Into(ctx, tmp); err != nil {
		return err
	}
	// A file checkpoint is sealed as a directory holding that one file.
	var st unix.Stat_t
	if err := unix.Fstatat(int(tmp.Fd()), r.Path, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("sealed checkpoint lacks %s", r.Path)
	}
	if err := unix.Renameat(int(tmp.Fd()), r.Path, int(ckpt.Fd()), r.Path); err != nil {
		return &os.LinkError{Op: "rename", Old: filepath.Join(tmp.Name(), r.Path), New: filepath.Join(ckpt.Name(), r.Path), Err: err}
	}
	return nil
}

// removeRestore removes what is left of a checkpoint's unseal
// (removeAllAt); a test stands in here for a removal that fails.
var removeRestore = removeAllAt
