package kubernetes_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
)

// On the test cluster: a test that ends with its attempt's pod running,
// asking in its cleanup only that the attempt be cancelled (Cancel deletes
// the Job and returns), is over only once that pod is stopped: then no pod
// that uses the test's directories is left, in the API server or on a
// node, and the directories, removed, stay removed (the node agent makes a
// starting pod's working directory on the host).
func TestLabTestEndsWithItsPodsStoppedOnTheCluster(t *testing.T) {
	if os.Getenv("MERIDIAN_TEST_KUBE") != "1" {
		t.Skip("MERIDIAN_TEST_KUBE is not 1; scripts/test.sh starts a cluster and sets it")
	}
	var kc, root string
	t.Run("attempt", func(t *testing.T) {
		kc = lab(t)
		b := newBackend(t, site(kc), t.TempDir())
		dir := t.TempDir()
		root = filepath.Dir(dir)
		h, err := b.Submit(testCtx(t), backend.Spec{RunID: uniqueRunID("settle"), Attempt: 1, WorkDir: dir,
			Command: []string{"/bin/sh", "-c", "exec sleep 120"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Cancel(testCtx(t), h) })
		backendtest.Wait(t, b, h, "running", func(s backend.Status) bool { return s.State == backend.Running })
	})
	if kc == "" || root == "" {
		t.Fatal("the attempt's test did not get as far as its directory")
	}
	nodes, err := labNodes()
	if err != nil {
		t.Fatal(err)
	}
	// At once, not waited for: the test is over.
	left, err := podsUsing(context.Background(), adminClient(t, kc), nodes, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("once the test was over, pods that use its directories (%s) were left: %v", root, left)
	}
	if _, err := os.Stat(root); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the test's directories %s: %v; want them removed", root, err)
	}
}

// On the test cluster: a job submitted from a subtest, in a working
// directory of the conformance suite's (labWorkDir), has its pods stopped
// when that subtest ends, not left to run on (or, ended, left in the API
// server) once the subtest's directories are gone: the stop that lab and
// the suite's factory register reaches the TempDirs of the test that
// called them, not those of its subtests.
func TestSubtestsJobEndsWithItsPodsStoppedOnTheCluster(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	b := newBackend(t, site(kc), t.TempDir())
	workDir := labWorkDir(cs)
	var root string
	t.Run("attempt", func(t *testing.T) {
		dir := workDir(t)
		root = filepath.Dir(dir)
		h, err := b.Submit(testCtx(t), backend.Spec{RunID: uniqueRunID("settlesub"), Attempt: 1, WorkDir: dir,
			Command: []string{"/bin/sh", "-c", "exec sleep 120"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Cancel(testCtx(t), h) })
		backendtest.Wait(t, b, h, "running", func(s backend.Status) bool { return s.State == backend.Running })
	})
	if root == "" {
		t.Fatal("the subtest did not get as far as its directory")
	}
	nodes, err := labNodes()
	if err != nil {
		t.Fatal(err)
	}
	// At once, not waited for: the subtest is over.
	left, err := podsUsing(context.Background(), cs, nodes, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("once the subtest was over, pods that use its directories (%s) were left: %v", root, left)
	}
	if _, err := os.Stat(root); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the subtest's directories %s: %v; want them removed", root, err)
	}
}
