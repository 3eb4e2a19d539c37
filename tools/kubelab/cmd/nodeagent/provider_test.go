package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// recorder collects the statuses the provider reports.
type recorder struct{ ch chan *corev1.Pod }

func newRecorder(p *procProvider) *recorder {
	r := &recorder{ch: make(chan *corev1.Pod, 100)}
	p.NotifyPods(context.Background(), func(pod *corev1.Pod) { r.ch <- pod })
	return r
}

// next waits for a report satisfying pred.
func (r *recorder) next(t *testing.T, what string, pred func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case p := <-r.ch:
			if pred(p) {
				return p
			}
		case <-deadline:
			t.Fatalf("no report: %s", what)
			return nil
		}
	}
}

func pod(name, wd string, cmd ...string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name + "-uid")},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "none", Command: cmd,
			WorkingDir: wd, Env: []corev1.EnvVar{{Name: "GREETING", Value: "hello 'there'"}}}}},
	}
}

func phase(ph corev1.PodPhase) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool { return p.Status.Phase == ph }
}

func exitCode(p *corev1.Pod) int32 {
	if t := p.Status.ContainerStatuses[0].State.Terminated; t != nil {
		return t.ExitCode
	}
	return -1
}

func TestPodRunsAsProcess(t *testing.T) {
	t.Setenv("AGENT_SECRET", "must-not-leak")
	p := newProcProvider("n", t.TempDir())
	rec := newRecorder(p)
	wd := filepath.Join(t.TempDir(), "made-by-the-node")
	if err := p.CreatePod(context.Background(), pod("ok", wd, "/bin/sh", "-c",
		`echo "$GREETING"; echo "secret=[$AGENT_SECRET]"; pwd; echo oops >&2; exit 3`)); err != nil {
		t.Fatal(err)
	}
	done := rec.next(t, "pod failed", phase(corev1.PodFailed))
	if exitCode(done) != 3 {
		t.Fatalf("exit code %d, want 3", exitCode(done))
	}
	rc, err := p.GetContainerLogs(context.Background(), "ns", "ok", "main", api.ContainerLogOpts{})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(rc)
	for _, want := range []string{"hello 'there'", "secret=[]", wd, "oops"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	rc, err = p.GetContainerLogs(context.Background(), "ns", "ok", "main", api.ContainerLogOpts{Tail: 1})
	if err != nil {
		t.Fatal(err)
	}
	if last, _ := io.ReadAll(rc); string(last) != "oops\n" {
		t.Errorf("tail 1 = %q, want the last line", last)
	}
	if _, err := p.GetContainerLogs(context.Background(), "ns", "ok", "../../etc/passwd", api.ContainerLogOpts{}); err == nil {
		t.Error("a container name with a path was served")
	}
}

func TestMissingProgramFailsLikeARuntime(t *testing.T) {
	p := newProcProvider("n", t.TempDir())
	rec := newRecorder(p)
	if err := p.CreatePod(context.Background(), pod("nf", t.TempDir(), "/nonexistent/prog")); err != nil {
		t.Fatal(err)
	}
	done := rec.next(t, "pod failed", phase(corev1.PodFailed))
	if exitCode(done) != 127 {
		t.Fatalf("exit code %d, want 127", exitCode(done))
	}
}

func TestDeleteKillsTheProcessGroup(t *testing.T) {
	p := newProcProvider("n", t.TempDir())
	rec := newRecorder(p)
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	// The child sleeps in the background, so only a kill of the group ends it.
	pd := pod("del", t.TempDir(), "/bin/sh", "-c", "sleep 300 & echo $! >"+pidFile+"; wait")
	if err := p.CreatePod(context.Background(), pd); err != nil {
		t.Fatal(err)
	}
	rec.next(t, "pod running", phase(corev1.PodRunning))
	child := waitPid(t, pidFile)
	grace := int64(1)
	pd.DeletionGracePeriodSeconds = &grace
	if err := p.DeletePod(context.Background(), pd); err != nil {
		t.Fatal(err)
	}
	rec.next(t, "pod terminated", func(p *corev1.Pod) bool { return p.Status.Phase != corev1.PodRunning })
	waitGone(t, child)
	if _, err := p.GetPod(context.Background(), "ns", "del"); err == nil {
		t.Error("deleted pod still known")
	}
}

func TestNodeLossKillsSilentlyAndRestoreReportsNodeLost(t *testing.T) {
	p := newProcProvider("n", t.TempDir())
	rec := newRecorder(p)
	pidFile := filepath.Join(t.TempDir(), "pid")
	if err := p.CreatePod(context.Background(), pod("lost", t.TempDir(), "/bin/sh", "-c", "echo $$ >"+pidFile+"; exec sleep 300")); err != nil {
		t.Fatal(err)
	}
	rec.next(t, "pod running", phase(corev1.PodRunning))
	pid := waitPid(t, pidFile)
	p.failNode()
	waitGone(t, pid)
	select {
	case got := <-rec.ch:
		t.Fatalf("a failed node reported pod status %s", got.Status.Phase)
	case <-time.After(500 * time.Millisecond):
	}
	if err := p.CreatePod(context.Background(), pod("new", t.TempDir(), "true")); err == nil {
		t.Error("a failed node accepted a pod")
	}
	p.restoreNode()
	got := rec.next(t, "pod failed after restore", phase(corev1.PodFailed))
	if got.Status.Reason != "NodeLost" || exitCode(got) != 137 {
		t.Fatalf("after restore: reason %q exit %d, want NodeLost 137", got.Status.Reason, exitCode(got))
	}
}

func waitPid(t *testing.T, path string) int {
	t.Helper()
	for range 200 {
		if data, err := os.ReadFile(path); err == nil {
			var pid int
			if _, err := fmt.Sscan(strings.TrimSpace(string(data)), &pid); err == nil && pid > 0 {
				return pid
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", path)
	return 0
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	for range 400 {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err != nil {
			return
		}
		if st, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat")); strings.Contains(string(st), ") Z ") {
			return // exited, not yet reaped by its parent
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("process %d still runs", pid)
}

// virtual-kubelet drops a node status sent while its last ping failed. A
// restore that comes before the next ping still gets the node Ready: the
// status is sent again after that ping. A new failure stops the resending.
func TestRestoreReachesThePingGate(t *testing.T) {
	np := &nodeProvider{node: &corev1.Node{}}
	var (
		mu       sync.Mutex
		pingOK   = true
		accepted []corev1.ConditionStatus
	)
	ping := func() {
		err := np.Ping(context.Background())
		mu.Lock()
		pingOK = err == nil
		mu.Unlock()
	}
	np.NotifyNodeStatus(context.Background(), func(n *corev1.Node) {
		mu.Lock()
		defer mu.Unlock()
		if pingOK { // as virtual-kubelet's updateStatus
			accepted = append(accepted, readyStatus(n))
		}
	})
	last := func() (corev1.ConditionStatus, int) {
		mu.Lock()
		defer mu.Unlock()
		if len(accepted) == 0 {
			return "", 0
		}
		return accepted[len(accepted)-1], len(accepted)
	}

	np.setReady(false)
	ping() // fails: the gate is shut
	np.setReady(true)
	go np.renotify(context.Background(), 10*time.Second, false) // as on SIGUSR2
	if st, _ := last(); st == corev1.ConditionTrue {
		t.Fatal("Ready accepted before a clean ping: the stand-in gate does not gate")
	}
	ping() // passes
	deadline := time.Now().Add(5 * time.Second)
	for st, _ := last(); st != corev1.ConditionTrue; st, _ = last() {
		if time.Now().After(deadline) {
			t.Fatal("the node's Ready status never passed the ping gate after the restore")
		}
		time.Sleep(10 * time.Millisecond)
	}

	np.setReady(false) // accepted: the last ping was clean
	st, n := last()
	if st != corev1.ConditionFalse {
		t.Fatalf("status after the second failure = %q, want False", st)
	}
	time.Sleep(1500 * time.Millisecond) // more than the resend interval
	if st2, n2 := last(); n2 != n || st2 != corev1.ConditionFalse {
		t.Fatalf("%d more statuses sent after the second failure (last %q): the resend did not stop", n2-n, st2)
	}
}

func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

// scratchPod is a pod whose working directory is an emptyDir volume.
func scratchPod(name, mount string, medium corev1.StorageMedium, cmd ...string) *corev1.Pod {
	p := pod(name, mount, cmd...)
	p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: medium}}}}
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: mount}}
	return p
}

// TestEmptyDirGoesWithThePod: what a container writes to its emptyDir is
// gone once the pod ends, as a kubelet removes a finished pod's volumes.
func TestEmptyDirGoesWithThePod(t *testing.T) {
	dir := t.TempDir()
	p := newProcProvider("n", dir)
	rec := newRecorder(p)
	mount := filepath.Join(t.TempDir(), "scratch", "run-1")
	if err := p.CreatePod(context.Background(), scratchPod("vol", mount, "", "/bin/sh", "-c", "echo plaintext > data; test -f "+mount+"/data")); err != nil {
		t.Fatal(err)
	}
	done := rec.next(t, "pod ended", func(p *corev1.Pod) bool { return p.Status.Phase != corev1.PodRunning })
	if done.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("phase %s (exit %d): the container did not see its file through the mount path", done.Status.Phase, exitCode(done))
	}
	emptyOrGone(t, mount)
	if left, _ := filepath.Glob(filepath.Join(dir, "pods", "*", "volumes", "*")); len(left) > 0 {
		t.Errorf("volumes left: %v", left)
	}
	if canMount() {
		return // a namespace hides nothing of the host
	}
	// A directory with files at the mount path is never hidden or removed.
	full := filepath.Join(t.TempDir(), "full")
	os.MkdirAll(full, 0o755)
	os.WriteFile(filepath.Join(full, "keep"), []byte("x"), 0o600)
	if err := p.CreatePod(context.Background(), scratchPod("full", full, "", "true")); err != nil {
		t.Fatal(err)
	}
	got := rec.next(t, "pod over a full directory failed", phase(corev1.PodFailed))
	if !strings.Contains(got.Status.Message, "with files in it") {
		t.Errorf("message %q", got.Status.Message)
	}
	if _, err := os.Stat(filepath.Join(full, "keep")); err != nil {
		t.Errorf("the directory's file is gone: %v", err)
	}
}

// TestNodeLossKeepsDiskScratchUntilRestore: a lost node's emptyDir on disk
// outlives the loss and is removed when the node returns; one in memory is
// gone with the loss.
func TestNodeLossKeepsDiskScratchUntilRestore(t *testing.T) {
	dir := t.TempDir()
	p := newProcProvider("n", dir)
	rec := newRecorder(p)
	disk := filepath.Join(t.TempDir(), "disk")
	mem := filepath.Join(t.TempDir(), "mem")
	for _, c := range []struct {
		name, mount string
		medium      corev1.StorageMedium
	}{{"disk", disk, ""}, {"mem", mem, corev1.StorageMediumMemory}} {
		if err := p.CreatePod(context.Background(), scratchPod(c.name, c.mount, c.medium, "/bin/sh", "-c", "echo secret > data; exec sleep 300")); err != nil {
			t.Fatal(err)
		}
		rec.next(t, c.name+" running", phase(corev1.PodRunning))
	}
	vol := func(name string) string {
		return filepath.Join(dir, "pods", "ns_"+name+"_"+name+"-uid", "volumes", "scratch", "data")
	}
	for _, name := range []string{"disk", "mem"} {
		waitFile(t, vol(name))
	}
	p.failNode()
	if _, err := os.Stat(vol("disk")); err != nil {
		t.Errorf("disk scratch gone while the node is lost (a dead machine's disk keeps it): %v", err)
	}
	if _, err := os.Stat(vol("mem")); !os.IsNotExist(err) {
		t.Errorf("memory scratch outlived the node: %v", err)
	}
	p.restoreNode()
	for range 2 {
		rec.next(t, "pod failed after restore", phase(corev1.PodFailed))
	}
	for _, m := range []string{disk, mem} {
		emptyOrGone(t, m)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "pods", "*", "volumes", "*")); len(left) > 0 {
		t.Errorf("volumes left: %v", left)
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	for range 400 {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
}

// emptyOrGone fails unless path is absent or an empty directory.
func emptyOrGone(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if os.IsNotExist(err) {
		return
	}
	if err != nil || !fi.IsDir() {
		t.Errorf("%s: %v %v, want nothing or an empty directory", path, fi, err)
		return
	}
	if ents, _ := os.ReadDir(path); len(ents) > 0 {
		t.Errorf("%s still holds %d entries", path, len(ents))
	}
}

// TestPodsMountOnePathApart: two pods of one Job mounting their volumes at
// the same path, at once, each see only their own (as on two machines).
func TestPodsMountOnePathApart(t *testing.T) {
	if !canMount() {
		t.Skip("mount namespaces need root; without them the lab node links mount paths, and pods sharing one collide")
	}
	p := newProcProvider("n", t.TempDir())
	rec := newRecorder(p)
	mount := filepath.Join(t.TempDir(), "scratch")
	gate := filepath.Join(t.TempDir(), "gate")
	for _, name := range []string{"one", "two"} {
		// Each writes its name, waits until both have, then fails unless
		// only its own file is there.
		script := "echo " + name + " > " + name + "; touch " + gate + "." + name +
			"; while [ ! -e " + gate + ".one ] || [ ! -e " + gate + ".two ]; do sleep 0.05; done; [ \"$(ls)\" = " + name + " ]"
		if err := p.CreatePod(context.Background(), scratchPod(name, mount, "", "/bin/sh", "-c", script)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		got := rec.next(t, "pod ended", func(p *corev1.Pod) bool { return p.Status.Phase != corev1.PodRunning })
		if got.Status.Phase != corev1.PodSucceeded {
			t.Errorf("pod %s: %s (exit %d): it saw the other pod's files or none of its own", got.Name, got.Status.Phase, exitCode(got))
		}
	}
	emptyOrGone(t, mount)
}

// TestMain lets the test binary be the mount helper too, as the node
// agent's own binary is.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == mountExecArg {
		os.Exit(mountExec(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// A loss's NotReady must not meet a ping that already failed (virtual-kubelet
// would drop it and the node would look Ready): a lost node answers pings
// for its grace, re-sends NotReady meanwhile, and fails pings after it.
func TestLossPassesThePingGate(t *testing.T) {
	np := &nodeProvider{node: &corev1.Node{}, grace: 300 * time.Millisecond}
	var (
		mu       sync.Mutex
		accepted []corev1.ConditionStatus
	)
	np.NotifyNodeStatus(context.Background(), func(n *corev1.Node) {
		mu.Lock()
		defer mu.Unlock()
		if np.Ping(context.Background()) == nil { // a ping just before the update is handled
			accepted = append(accepted, readyStatus(n))
		}
	})
	np.setReady(false)
	mu.Lock()
	got := append([]corev1.ConditionStatus(nil), accepted...)
	mu.Unlock()
	if len(got) != 1 || got[0] != corev1.ConditionFalse {
		t.Fatalf("statuses accepted after the loss: %v, want [False]", got)
	}
	time.Sleep(400 * time.Millisecond)
	if err := np.Ping(context.Background()); err == nil {
		t.Fatal("a lost node still answers pings after its grace: its lease would be renewed")
	}
}

// TestPodMadeAgainUnderItsName: the node knew pods by namespace and name.
// A pod deleted and made again under its name, both taken together (the
// pod controller finds a pod of the name and updates it), was taken for
// the old one changed: the new pod never started, the old one's processes
// ran on, and its log and status stood for the new pod's. The node now
// knows pods by UID: the new one starts in the old one's place, whose
// processes are killed, and a deletion of the old one is not the new one's.
func TestPodMadeAgainUnderItsName(t *testing.T) {
	ctx := context.Background()
	p := newProcProvider("n", t.TempDir())
	rec := newRecorder(p)
	pidFile := filepath.Join(t.TempDir(), "pid")
	old := pod("same", t.TempDir(), "/bin/sh", "-c", "echo $$ >"+pidFile+"; echo old output; exec sleep 300")
	if err := p.CreatePod(ctx, old); err != nil {
		t.Fatal(err)
	}
	rec.next(t, "old pod running", phase(corev1.PodRunning))
	oldPid := waitPid(t, pidFile)

	// Made again with the same spec: the pod controller updates the pod of
	// the name only if what GetPod returns differs from it (its podsEqual:
	// containers, labels, annotations, not the UID).
	same := old.DeepCopy()
	same.UID = "same-uid-2"
	got, err := p.GetPod(ctx, "ns", "same")
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(got.Spec.Containers, same.Spec.Containers) && reflect.DeepEqual(got.Labels, same.Labels) &&
		reflect.DeepEqual(got.Annotations, same.Annotations) {
		t.Error("the node's pod compares equal to a pod of another UID made again under its name: the pod controller would not pass it on")
	}

	remade := pod("same", t.TempDir(), "/bin/sh", "-c", "echo made again")
	remade.UID = "same-uid-3"
	if err := p.UpdatePod(ctx, remade); err != nil {
		t.Fatal(err)
	}
	done := rec.next(t, "the pod made again succeeded", func(p *corev1.Pod) bool {
		return p.UID == remade.UID && p.Status.Phase == corev1.PodSucceeded
	})
	if done.UID != remade.UID {
		t.Errorf("reported UID %s, want %s", done.UID, remade.UID)
	}
	waitGone(t, oldPid)
	if got, err := p.GetPod(ctx, "ns", "same"); err != nil || got.UID != remade.UID {
		t.Fatalf("GetPod after the pod was made again: %v, %v; want UID %s", got, err, remade.UID)
	}
	rc, err := p.GetContainerLogs(ctx, "ns", "same", "main", api.ContainerLogOpts{})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(rc)
	rc.Close()
	if string(out) != "made again\n" {
		t.Errorf("log of the pod made again: %q, want only its own output", out)
	}

	// The old pod's deletion, taken late, is not the new one's.
	if err := p.DeletePod(ctx, old); err == nil {
		t.Error("the deletion of the replaced pod was taken")
	}
	if got, err := p.GetPod(ctx, "ns", "same"); err != nil || got.UID != remade.UID {
		t.Errorf("GetPod after the old pod's deletion: %v, %v; want UID %s", got, err, remade.UID)
	}
	for {
		select {
		case r := <-rec.ch:
			if r.UID != remade.UID {
				t.Errorf("a status of the replaced pod was reported: %s %s", r.UID, r.Status.Phase)
			}
			continue
		case <-time.After(200 * time.Millisecond):
		}
		break
	}
}

// TestStatusesReachThePodControllerInOrder: each status was handed to the
// pod controller from a goroutine of its own, and the controller keeps the
// last it was handed: a pod that ended at once had its Running handed over
// after its Succeeded at times (a loaded machine), and stayed Running.
func TestStatusesReachThePodControllerInOrder(t *testing.T) {
	p := newProcProvider("n", t.TempDir())
	got := make(chan *corev1.Pod, 10)
	var calls atomic.Int32
	p.NotifyPods(context.Background(), func(pod *corev1.Pod) {
		if calls.Add(1) == 1 {
			time.Sleep(100 * time.Millisecond) // a controller slow to take the first
		}
		got <- pod
	})
	if err := p.CreatePod(context.Background(), pod("quick", t.TempDir(), "/bin/sh", "-c", "echo done")); err != nil {
		t.Fatal(err)
	}
	var phases []corev1.PodPhase
	for {
		select {
		case r := <-got:
			phases = append(phases, r.Status.Phase)
			continue
		case <-time.After(time.Second):
		}
		break
	}
	if len(phases) == 0 || phases[len(phases)-1] != corev1.PodSucceeded {
		t.Errorf("statuses handed over %v; want the last Succeeded", phases)
	}
}
