package dataset

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes the whole file system holding dir (syncfs(2)): one call
// makes every chunk written to the store durable.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
