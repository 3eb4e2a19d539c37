package dataset

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes the whole file system holding dir (syncfs(2)): one call
// makes every chunk written to the store durable.
func syncFS(dir string) error {
	// O_DIRECTORY: a FIFO put in the store's place would be opened to
	// read, waiting for a writer, for good; it now fails with ENOTDIR.
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
