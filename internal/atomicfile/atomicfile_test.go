package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestWriteFileReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	for _, content := range []string{"first version\n", "2\n"} {
		if err := WriteFile(path, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, %v; want 0640", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the file (temp files left?)", len(entries))
	}
}

func TestWriteFileMissingDirFailsCleanly(t *testing.T) {
	if err := WriteFile(filepath.Join(t.TempDir(), "no", "f"), []byte("x"), 0o644); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

func TestCreateFileOnlyOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ok, err := CreateFile(path, []byte(fmt.Sprintf("writer %d\n", i)), 0o600)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				created++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if created != 1 {
		t.Fatalf("%d writers created the file, want 1", created)
	}
	first, _ := os.ReadFile(path)
	if ok, err := CreateFile(path, []byte("late\n"), 0o600); ok || err != nil {
		t.Errorf("create over an existing file: %v %v", ok, err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(first) {
		t.Errorf("existing file changed: %q then %q", first, again)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".key.tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
