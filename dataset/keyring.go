package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"meridian.dev/meridian/seal"
)

// Keyring keeps the owner's dataset keys, one 0600 file per dataset in a
// 0700 directory of the owner's state dir. It is never written to a store.
type Keyring struct{ Dir string }

// ErrNoKey means the keyring holds no key for a dataset.
var ErrNoKey = errors.New("no key in the keyring")

func (k Keyring) path(name string) string { return filepath.Join(k.Dir, name+".key") }

// Get returns the dataset's key, refusing a key file that others can read.
func (k Keyring) Get(name string) (seal.Key, error) {
	if err := CheckName(name); err != nil {
		return seal.Key{}, err
	}
	p := k.path(name)
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return seal.Key{}, fmt.Errorf("dataset %s: %w (%s)", name, ErrNoKey, p)
	}
	if err != nil {
		return seal.Key{}, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return seal.Key{}, fmt.Errorf("key file %s: mode %o lets others read it; chmod 600", p, st.Mode().Perm())
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return seal.Key{}, err
	}
	key, err := seal.ParseKey(string(data))
	if err != nil {
		return seal.Key{}, fmt.Errorf("key file %s: %w", p, err)
	}
	return key, nil
}

// GetOrCreate returns the dataset's key, creating and storing a new one the
// first time.
func (k Keyring) GetOrCreate(name string) (seal.Key, error) {
	key, err := k.Get(name)
	if !errors.Is(err, ErrNoKey) {
		return key, err
	}
	key, err = seal.NewKey()
	if err != nil {
		return seal.Key{}, err
	}
	if err := os.MkdirAll(k.Dir, 0o700); err != nil {
		return seal.Key{}, err
	}
	if err := os.Chmod(k.Dir, 0o700); err != nil {
		return seal.Key{}, err
	}
	if err := WriteFileAtomic(k.path(name), []byte(key.String()+"\n"), 0o600); err != nil {
		return seal.Key{}, err
	}
	return key, nil
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory: write, fsync, rename, fsync the directory.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
