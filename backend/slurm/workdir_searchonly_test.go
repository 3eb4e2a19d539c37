package slurm

import (
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/internal/captest"
)

// envResolveAsChild, set, has TestResolveWorkDirThroughASearchOnlyDirectory
// resolve the workDir it names, as the child the test starts.
const envResolveAsChild = "MERIDIAN_TEST_RESOLVE_WORKDIR"

// TestResolveWorkDirThroughASearchOnlyDirectory: the walk to a named
// workDir opened each directory on its way to read, so a directory this
// user may search but not read (mode 0711, root's; a root_squash NFS
// export's for a root server) failed it, where mkdir -p passes. Each is
// now opened O_PATH: a user other than root makes its workDir below a
// root-owned 0711 directory.
func TestResolveWorkDirThroughASearchOnlyDirectory(t *testing.T) {
	if wd := os.Getenv(envResolveAsChild); wd != "" {
		way, err := resolveWorkDir(wd, nil, workDirPerm)
		if err != nil {
			t.Fatalf("as uid %d: %v", os.Geteuid(), err)
		}
		way.dir.Close()
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run the walk as another user below a directory of root's")
	}
	const nobody = captest.Nobody
	top := t.TempDir()
	for _, d := range []string{filepath.Dir(top), top} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	searchOnly := filepath.Join(top, "search-only")
	if err := os.Mkdir(searchOnly, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(searchOnly, 0o711); err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(searchOnly, "projects")
	if err := os.Mkdir(own, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(own, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	wd := filepath.Join(own, "job", "run-1")
	captest.RerunAsNobody(t, top, envResolveAsChild+"="+wd)
	if fi, err := os.Stat(wd); err != nil || !fi.IsDir() {
		t.Errorf("%s not made: %v", wd, err)
	}
}
