//go:build !linux

package dataset

import "os"

// syncFS fsyncs the store's directory; on systems without syncfs(2) the
// chunk files themselves are flushed by the OS in its own time.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
