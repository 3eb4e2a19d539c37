package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/log"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// imageEnv is the environment every container starts with before its own
// variables, standing in for the variables an image would set. Nothing of the
// agent's own environment reaches a container.
var imageEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

// procProvider runs each container of a pod as a local process group.
type procProvider struct {
	nodeName string
	dir      string // per-pod log directories live under it
	killWait time.Duration

	mu sync.Mutex
	// pods holds the pods this node runs by UID: a pod deleted and made
	// again under its name is another pod, which has a UID of its own.
	pods map[types.UID]*podRun
	// names holds, by namespace/name, the UID of the pod of that name the
	// node took last: the one the pod controller's calls by name (GetPod,
	// GetContainerLogs) mean. A pod of the name with another UID replaces
	// it (replaceLocked).
	names  map[string]types.UID
	notify func(*corev1.Pod)
	// outbox holds, by namespace/name, the statuses report has yet to
	// hand to notify, in order: the pod controller keeps the last one it
	// was handed for a name, so one handed over late (a pod's Running
	// after its Succeeded) stood for good.
	outbox map[string][]*corev1.Pod
	lost   bool // the node is failed: no status reports, no new pods
}

// podRun is one pod and its processes.
type podRun struct {
	pod   *corev1.Pod // status is kept current here
	dir   string
	procs []*proc
	// lostByNode is set when a node failure killed the pod's processes.
	lostByNode bool
	deleted    bool
	// replaced is set when a pod made again under the pod's name took its
	// place: the pod is gone from Kubernetes and its status is not
	// reported (it would be taken for the new pod's).
	replaced bool
	// volumes are the pod's emptyDir volumes: name to directory (under
	// dir), and the links standing for their mounts.
	volumes map[string]string
	links   map[string]string // mountPath to volume directory
	// binds are, by container, the (volume directory, mount path) pairs
	// its mount namespace gets (when the node may mount; links otherwise).
	binds map[string][][2]string
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func newProcProvider(nodeName, dir string) *procProvider {
	return &procProvider{nodeName: nodeName, dir: dir, killWait: 10 * time.Second,
		pods: map[types.UID]*podRun{}, names: map[string]types.UID{}, outbox: map[string][]*corev1.Pod{}}
}

func key(ns, name string) string { return ns + "/" + name }

// uidAnnotation is set on the copy of a pod GetPod returns, with the pod's
// UID: the pod controller compares that copy with the pod in Kubernetes of
// the name (labels, annotations, containers; not the UID) and calls
// UpdatePod only when they differ, so that a pod made again under the name
// with the same spec would be taken for the old one and never started.
// With the annotation they always differ, and UpdatePod tells the pods
// apart by UID.
const uidAnnotation = "kubelab.meridian.dev/uid"

// named is the pod of namespace/name k the node runs, with p.mu held.
func (p *procProvider) named(k string) (*podRun, bool) {
	uid, ok := p.names[k]
	if !ok {
		return nil, false
	}
	r, ok := p.pods[uid]
	return r, ok
}

// replaceLocked, with p.mu held, lets go of r, the pod of namespace/name k
// that a pod made again under the name replaces: r is gone from Kubernetes
// (a name has one pod at a time), so its processes are killed at once, no
// grace left, and its volumes removed, with no status reported.
func (p *procProvider) replaceLocked(k string, r *podRun) {
	if p.names[k] == r.pod.UID {
		delete(p.names, k)
	}
	if r.replaced {
		return
	}
	r.replaced = true
	procs := append([]*proc{}, r.procs...)
	go func() {
		stopGroups(procs, 0)
		p.mu.Lock()
		defer p.mu.Unlock()
		unmountVolumes(r)
		if p.pods[r.pod.UID] == r {
			delete(p.pods, r.pod.UID)
		}
	}()
}

// NotifyPods registers the callback that reports pod status changes.
func (p *procProvider) NotifyPods(_ context.Context, cb func(*corev1.Pod)) {
	p.mu.Lock()
	p.notify = cb
	p.mu.Unlock()
}

// report sends r's pod status to Kubernetes unless the node is failed. The
// caller holds p.mu.
func (p *procProvider) report(r *podRun) {
	if p.lost || p.notify == nil {
		return
	}
	k := key(r.pod.Namespace, r.pod.Name)
	p.outbox[k] = append(p.outbox[k], r.pod.DeepCopy())
	if len(p.outbox[k]) == 1 {
		go p.send(k, p.notify)
	}
}

// send hands the statuses in p.outbox[k] to notify one by one, in order,
// until there are none.
func (p *procProvider) send(k string, notify func(*corev1.Pod)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.outbox[k]) > 0 {
		pod := p.outbox[k][0]
		p.mu.Unlock()
		notify(pod)
		p.mu.Lock()
		p.outbox[k] = p.outbox[k][1:]
	}
	delete(p.outbox, k)
}

// CreatePod starts the pod's containers. A container that cannot start
// (missing program, no command) fails the pod with the exit code a shell
// would give (127 not found, 126 not executable), as runtimes report a
// StartError.
func (p *procProvider) CreatePod(ctx context.Context, pod *corev1.Pod) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lost {
		return errdefs.AsInvalidInput(errors.New("node is failed (simulated node loss)"))
	}
	if _, ok := p.pods[pod.UID]; ok {
		return nil
	}
	k := key(pod.Namespace, pod.Name)
	if old, ok := p.named(k); ok {
		p.replaceLocked(k, old)
	}
	dir := filepath.Join(p.dir, "pods", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	now := metav1.Now()
	r := &podRun{pod: pod.DeepCopy(), dir: dir}
	r.pod.Status = corev1.PodStatus{
		Phase:     corev1.PodRunning,
		HostIP:    "127.0.0.1",
		HostIPs:   []corev1.HostIP{{IP: "127.0.0.1"}},
		PodIP:     "127.0.0.1",
		PodIPs:    []corev1.PodIP{{IP: "127.0.0.1"}},
		StartTime: &now,
	}
	p.pods[pod.UID] = r
	p.names[k] = pod.UID
	if len(pod.Spec.InitContainers) > 0 {
		p.failPod(r, "init containers are not supported by the lab node")
		return nil
	}
	if err := mountVolumes(r); err != nil {
		unmountVolumes(r)
		p.failPod(r, err.Error())
		return nil
	}
	for _, c := range pod.Spec.Containers {
		st := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image}
		pr, code, err := p.start(ctx, r, c)
		if err != nil {
			st.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: "StartError",
				Message: err.Error(), StartedAt: now, FinishedAt: now}
		} else {
			st.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
			st.Ready, st.Started = true, ptr(true)
			r.procs = append(r.procs, pr)
			go p.wait(r, pr)
		}
		r.pod.Status.ContainerStatuses = append(r.pod.Status.ContainerStatuses, st)
	}
	p.settle(r)
	p.report(r)
	return nil
}

func ptr[T any](v T) *T { return &v }

// start launches one container's command+args in its own process group,
// writing stdout and stderr to the container's log file.
func (p *procProvider) start(ctx context.Context, r *podRun, c corev1.Container) (*proc, int, error) {
	argv := append(append([]string{}, c.Command...), c.Args...)
	if len(argv) == 0 {
		return nil, 126, errors.New("the lab node runs a container's command and args; this container names none (image entrypoints are not known here)")
	}
	logf, err := os.OpenFile(filepath.Join(r.dir, c.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, 126, err
	}
	defer logf.Close()
	wd := c.WorkingDir
	if wd == "" {
		wd = filepath.Join(r.dir, "root")
	}
	if err := os.MkdirAll(wd, 0o755); err != nil {
		return nil, 126, fmt.Errorf("working directory: %w", err)
	}
	env := append([]string{}, imageEnv...)
	// PWD names the working directory as the container sees it: the
	// mount path, not the volume directory a link stands for.
	env = append(env, "HOSTNAME="+r.pod.Name, "PWD="+wd)
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.Value == "" {
			log.G(ctx).Warnf("pod %s container %s: env %s has an unresolved valueFrom", r.pod.Name, c.Name, e.Name)
			continue
		}
		env = append(env, e.Name+"="+e.Value)
	}
	if binds := r.binds[c.Name]; len(binds) > 0 {
		// The helper makes the working directory inside the namespace,
		// where it may be a mount path.
		if argv, err = mountExecArgv(binds, wd, argv); err != nil {
			return nil, 126, err
		}
		wd = "/"
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = wd
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		code := 126
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, exec.ErrNotFound) {
			code = 127
		}
		fmt.Fprintf(logf, "lab node: cannot start %q: %v\n", argv[0], err)
		return nil, code, err
	}
	return &proc{name: c.Name, cmd: cmd, done: make(chan struct{})}, 0, nil
}

// wait records a container's exit.
func (p *procProvider) wait(r *podRun, pr *proc) {
	err := pr.cmd.Wait()
	close(pr.done)
	code := 0
	reason := "Completed"
	if err != nil {
		reason = "Error"
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			} else {
				code = ee.ExitCode()
			}
		} else {
			code = 1
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.lostByNode || r.replaced {
		return // killed by the simulated node loss (reported at restore), or gone
	}
	now := metav1.Now()
	for i := range r.pod.Status.ContainerStatuses {
		st := &r.pod.Status.ContainerStatuses[i]
		if st.Name != pr.name || st.State.Running == nil {
			continue
		}
		st.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: int32(code), Reason: reason, StartedAt: st.State.Running.StartedAt, FinishedAt: now}}
		st.Ready, st.Started = false, ptr(false)
	}
	p.settle(r)
	if r.pod.Status.Phase != corev1.PodRunning {
		unmountVolumes(r) // a kubelet removes a finished pod's emptyDirs
	}
	if p.pods[r.pod.UID] == r {
		p.report(r)
	}
}

// settle derives the pod's phase and conditions from its containers.
func (p *procProvider) settle(r *podRun) {
	running, failed := 0, 0
	for _, st := range r.pod.Status.ContainerStatuses {
		switch {
		case st.State.Running != nil:
			running++
		case st.State.Terminated != nil && st.State.Terminated.ExitCode != 0:
			failed++
		}
	}
	phase := corev1.PodRunning
	switch {
	case running > 0:
	case failed > 0:
		phase = corev1.PodFailed
	default:
		phase = corev1.PodSucceeded
	}
	r.pod.Status.Phase = phase
	ready := corev1.ConditionFalse
	if phase == corev1.PodRunning {
		ready = corev1.ConditionTrue
	}
	now := metav1.Now()
	r.pod.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: ready, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: ready, LastTransitionTime: now},
	}
}

func (p *procProvider) failPod(r *podRun, msg string) {
	unmountVolumes(r)
	r.pod.Status.Phase = corev1.PodFailed
	r.pod.Status.Reason = "UnsupportedPod"
	r.pod.Status.Message = msg
	p.report(r)
}

// UpdatePod accepts changes Kubernetes makes to a running pod (labels,
// annotations); there is nothing to do for a process. A pod of another UID
// than the one the node runs under the name was made again under it, the
// other deleted (the pod controller, finding a pod of the name, updates
// rather than creates): it is started in the other's place.
func (p *procProvider) UpdatePod(ctx context.Context, pod *corev1.Pod) error {
	p.mu.Lock()
	uid, ok := p.names[key(pod.Namespace, pod.Name)]
	p.mu.Unlock()
	if ok && uid == pod.UID {
		return nil
	}
	return p.CreatePod(ctx, pod)
}

// DeletePod stops the pod's process groups (SIGTERM, then SIGKILL after the
// grace period, at most killWait) and reports them terminated.
func (p *procProvider) DeletePod(ctx context.Context, pod *corev1.Pod) error {
	k := key(pod.Namespace, pod.Name)
	p.mu.Lock()
	r, ok := p.pods[pod.UID]
	if pod.UID == "" {
		r, ok = p.named(k)
	}
	if !ok || r.replaced {
		p.mu.Unlock()
		return errdefs.NotFoundf("pod %s (UID %s) is not on this node", k, pod.UID)
	}
	r.deleted = true
	procs := append([]*proc{}, r.procs...)
	p.mu.Unlock()

	grace := p.killWait
	if pod.DeletionGracePeriodSeconds != nil {
		if g := time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second; g < grace {
			grace = g
		}
	}
	stopGroups(procs, grace)

	p.mu.Lock()
	defer p.mu.Unlock()
	unmountVolumes(r)
	now := metav1.Now()
	for i := range r.pod.Status.ContainerStatuses {
		st := &r.pod.Status.ContainerStatuses[i]
		if st.State.Terminated == nil {
			started := now
			if st.State.Running != nil {
				started = st.State.Running.StartedAt
			}
			st.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 137, Reason: "Killed", StartedAt: started, FinishedAt: now}}
		}
		st.Ready = false
	}
	p.settle(r)
	if r.pod.Status.Phase == corev1.PodRunning {
		r.pod.Status.Phase = corev1.PodFailed
	}
	if p.pods[r.pod.UID] != r || r.replaced {
		return nil // made again under its name while its processes stopped
	}
	p.report(r)
	delete(p.pods, r.pod.UID)
	if p.names[k] == r.pod.UID {
		delete(p.names, k)
	}
	return nil
}

// stopGroups signals each process group with SIGTERM and, after grace,
// SIGKILL, and waits for the processes to end.
func stopGroups(procs []*proc, grace time.Duration) {
	for _, pr := range procs {
		signalGroup(pr, syscall.SIGTERM)
	}
	deadline := time.After(grace)
	for _, pr := range procs {
		select {
		case <-pr.done:
		case <-deadline:
		}
	}
	for _, pr := range procs {
		signalGroup(pr, syscall.SIGKILL)
		<-pr.done
	}
}

// signalGroup signals pr's process group while its leader has not been
// reaped, so that a reused process id is never signalled.
func signalGroup(pr *proc, sig syscall.Signal) {
	select {
	case <-pr.done:
	default:
		_ = syscall.Kill(-pr.cmd.Process.Pid, sig)
	}
}

// GetPod returns the pod of the name as this node knows it, its UID in
// annotation uidAnnotation.
func (p *procProvider) GetPod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.named(key(ns, name))
	if !ok {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", ns, name)
	}
	pod := r.pod.DeepCopy()
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[uidAnnotation] = string(pod.UID)
	return pod, nil
}

// GetPodStatus returns the pod's current status.
func (p *procProvider) GetPodStatus(ctx context.Context, ns, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

// GetPods lists the pods on this node.
func (p *procProvider) GetPods(context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(p.names))
	for k := range p.names {
		if r, ok := p.named(k); ok {
			out = append(out, r.pod.DeepCopy())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// GetContainerLogs serves a container's log file (tailLines and limitBytes
// are honoured; follow returns what is there now).
func (p *procProvider) GetContainerLogs(_ context.Context, ns, name, container string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	p.mu.Lock()
	r, ok := p.named(key(ns, name))
	var dir string
	if ok {
		dir = r.dir
	}
	p.mu.Unlock()
	if !ok {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", ns, name)
	}
	if strings.ContainsAny(container, `/\`) || container == "" || container == "." || container == ".." {
		return nil, errdefs.InvalidInputf("bad container name %q", container)
	}
	data, err := os.ReadFile(filepath.Join(dir, container+".log"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.NotFoundf("container %s of pod %s/%s has no log", container, ns, name)
	}
	if err != nil {
		return nil, err
	}
	if opts.Tail > 0 {
		lines := bytes.SplitAfter(data, []byte("\n"))
		if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
			lines = lines[:len(lines)-1]
		}
		if len(lines) > opts.Tail {
			lines = lines[len(lines)-opts.Tail:]
		}
		data = bytes.Join(lines, nil)
	}
	if opts.LimitBytes > 0 && len(data) > opts.LimitBytes {
		data = data[:opts.LimitBytes]
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// failNode simulates the loss of this node: every process group is killed
// with SIGKILL and no pod status is reported until restoreNode.
func (p *procProvider) failNode() {
	p.mu.Lock()
	p.lost = true
	var procs []*proc
	var lostMemory []*podRun
	for _, r := range p.pods {
		if r.pod.Status.Phase == corev1.PodRunning && !r.replaced {
			r.lostByNode = true
			procs = append(procs, r.procs...)
			lostMemory = append(lostMemory, r)
		}
	}
	p.mu.Unlock()
	stopGroups(procs, 0)
	// A tmpfs does not outlive its machine: emptyDirs with medium Memory
	// are gone with the loss; those on disk stay until the node returns.
	p.mu.Lock()
	for _, r := range lostMemory {
		for _, v := range r.pod.Spec.Volumes {
			if v.EmptyDir != nil && v.EmptyDir.Medium == corev1.StorageMediumMemory {
				os.RemoveAll(r.volumes[v.Name])
			}
		}
	}
	p.mu.Unlock()
}

// restoreNode ends a simulated loss. Pods whose processes the loss killed
// are reported Failed (reason NodeLost), as a kubelet does for pods whose
// containers did not survive a restart.
func (p *procProvider) restoreNode() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lost = false
	now := metav1.Now()
	for _, r := range p.pods {
		if !r.lostByNode || r.replaced {
			continue
		}
		r.lostByNode = false
		for i := range r.pod.Status.ContainerStatuses {
			st := &r.pod.Status.ContainerStatuses[i]
			if st.State.Running != nil {
				st.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 137, Reason: "NodeLost", StartedAt: st.State.Running.StartedAt, FinishedAt: now}}
				st.Ready = false
			}
		}
		p.settle(r)
		// The returning node's kubelet finds the pod ended and removes
		// its volumes, as it does for any finished pod.
		unmountVolumes(r)
		r.pod.Status.Reason = "NodeLost"
		r.pod.Status.Message = "the node was lost while the pod ran"
		p.report(r)
	}
}

// stopAll kills every process group (agent shutdown).
func (p *procProvider) stopAll(grace time.Duration) {
	p.mu.Lock()
	var procs []*proc
	for _, r := range p.pods {
		procs = append(procs, r.procs...)
	}
	p.mu.Unlock()
	stopGroups(procs, grace)
}

// mountVolumes makes the pod's emptyDir volumes, directories under the
// pod's own, and plans their mounts: each container binds them over their
// mount paths in a mount namespace of its own (mountExec). A node that may
// not mount (not root) stands in for each mount with a link at the mount
// path to the volume's directory, replacing one an earlier pod left; two
// pods of one Job mounting one path at once then collide, which only a
// namespace avoids.
func mountVolumes(r *podRun) error {
	r.volumes, r.links, r.binds = map[string]string{}, map[string]string{}, map[string][][2]string{}
	for _, v := range r.pod.Spec.Volumes {
		if v.EmptyDir == nil {
			return fmt.Errorf("volume %s: the lab node supports emptyDir volumes only", v.Name)
		}
		dir := filepath.Join(r.dir, "volumes", v.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("volume %s: %w", v.Name, err)
		}
		r.volumes[v.Name] = dir
	}
	ns := canMount()
	for _, c := range r.pod.Spec.Containers {
		for _, m := range c.VolumeMounts {
			dir, ok := r.volumes[m.Name]
			switch {
			case !ok:
				return fmt.Errorf("container %s: volumeMount %s names no volume of the pod", c.Name, m.Name)
			case !filepath.IsAbs(m.MountPath) || filepath.Clean(m.MountPath) == "/":
				return fmt.Errorf("container %s: volumeMount %s: mountPath %q must be an absolute path below /", c.Name, m.Name, m.MountPath)
			}
			at := filepath.Clean(m.MountPath)
			if ns {
				r.binds[c.Name] = append(r.binds[c.Name], [2]string{dir, at})
				continue
			}
			if err := linkMount(dir, at); err != nil {
				return fmt.Errorf("volumeMount %s: %w", m.Name, err)
			}
			r.links[at] = dir
		}
	}
	return nil
}

// linkMount puts a link to dir at the mount path at.
func linkMount(dir, at string) error {
	if err := os.MkdirAll(filepath.Dir(at), 0o755); err != nil {
		return err
	}
	if fi, err := os.Lstat(at); err == nil {
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
		case fi.IsDir():
			if ents, err := os.ReadDir(at); err != nil || len(ents) > 0 {
				return fmt.Errorf("mountPath %s is a directory with files in it; the lab node would hide them behind the volume", at)
			}
		default:
			return fmt.Errorf("mountPath %s is a file", at)
		}
		if err := os.Remove(at); err != nil {
			return err
		}
	}
	return os.Symlink(dir, at)
}

// unmountVolumes removes the pod's mount links (those still pointing at its
// volumes) and its volumes with everything in them. It may run again.
func unmountVolumes(r *podRun) {
	for at, dir := range r.links {
		if got, err := os.Readlink(at); err == nil && got == dir {
			os.Remove(at)
		}
	}
	for _, dir := range r.volumes {
		os.RemoveAll(dir)
	}
	r.links, r.volumes, r.binds = nil, nil, nil
}
