package kubernetes_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/kubernetes"
	"meridian.dev/meridian/catalog"
)

func TestConformance(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	counts := t.TempDir()
	backendtest.RunWith(t, func(t *testing.T, stateDir string) backend.Backend {
		// The suite's tests make their directories (the state
		// directory, the attempts' working directories) in their own
		// TempDirs, whose removal is registered before this.
		stopPodsAtEnd(t, cs)
		return labSite{Backend: newBackend(t, site(kc), stateDir), t: t, cs: cs, node: nodeC}
	}, backendtest.Options{
		WorkDir: labWorkDir(cs),
		// Each attempt's scratch is its own emptyDir: the count of a run's
		// executions lives beside the scratches (the lab's pods are this
		// machine's processes).
		CountDir: func(t *testing.T, runID string) string {
			d := filepath.Join(counts, runID)
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			return d
		},
	})
}

// labWorkDir is the conformance suite's working directory for one job: a
// TempDir of t, the pods that use it stopped at t's end (stopPodsAtEnd).
// A suite test may submit from a subtest of the one that made its backend
// (FailsWithExitCode does), the job's directory then in the subtest's
// TempDirs, which the stop registered by the factory does not reach.
func labWorkDir(cs k8s.Interface) func(t *testing.T) string {
	return func(t *testing.T) string {
		d := t.TempDir()
		stopPodsAtEnd(t, cs)
		return d
	}
}

func TestJobShape(t *testing.T) {
	kc := lab(t)
	b := newBackend(t, site(kc), t.TempDir())
	spec := backend.Spec{RunID: uniqueRunID("Shape_Of.Job"), Attempt: 3, Command: []string{"/bin/sh", "-c", "exit 0"},
		WorkDir: t.TempDir(), Accelerators: 2}
	h, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	if h != kubernetes.JobName(spec.RunID, spec.Attempt) {
		t.Fatalf("handle %q, want the Job name %q", h, kubernetes.JobName(spec.RunID, spec.Attempt))
	}
	job, err := adminClient(t, kc).BatchV1().Jobs(labNamespace).Get(testCtx(t), h, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if job.Labels[kubernetes.LabelRun] != spec.RunID || job.Labels[kubernetes.LabelAttempt] != "3" ||
		job.Annotations[kubernetes.AnnotationRunID] != spec.RunID {
		t.Errorf("labels %v, annotations %v: want run and attempt", job.Labels, job.Annotations)
	}
	if job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion {
		t.Errorf("a 2-accelerator attempt became an Indexed Job")
	}
	c := job.Spec.Template.Spec.Containers[0]
	// The scratch is an emptyDir mounted at the working directory, so the
	// node removes it with the pod, whatever became of the attempt.
	vols := job.Spec.Template.Spec.Volumes
	if len(vols) != 1 || vols[0].EmptyDir == nil || vols[0].Name != kubernetes.ScratchVolume ||
		len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != vols[0].Name || c.VolumeMounts[0].MountPath != spec.WorkDir || c.WorkingDir != spec.WorkDir {
		t.Errorf("scratch: volumes %+v, mounts %+v, workingDir %s: want one emptyDir mounted at %s", vols, c.VolumeMounts, c.WorkingDir, spec.WorkDir)
	}
	// The container gains no privilege, holds no capability and runs
	// under the runtime's default seccomp profile: the tenant's image
	// runs there.
	if sc := c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("securityContext %+v: want no privilege escalation, every capability dropped, the runtime's default seccomp profile", sc)
	}
	if got := c.Resources.Limits[corev1.ResourceName(kubernetes.DefaultGPUResource)]; got.Value() != 2 {
		t.Errorf("GPU limit %v, want 2 %s", got.String(), kubernetes.DefaultGPUResource)
	}
	if *job.Spec.BackoffLimit != 0 || job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("backoffLimit %d, restartPolicy %s: want 0, Never (retries are Meridian's)", *job.Spec.BackoffLimit, job.Spec.Template.Spec.RestartPolicy)
	}
	if st := backendtest.WaitFinal(t, b, h); st.State != backend.Succeeded {
		t.Fatalf("status %+v, want succeeded", st)
	}
}

// TestScratchSizeOnTheCluster: the API server takes a Job whose scratch
// is bounded (backend.scratchSize) as Submit writes it, on the node's disk
// or in memory, and keeps the bound: the volume's sizeLimit and the
// container's ephemeral-storage request and limit.
func TestScratchSizeOnTheCluster(t *testing.T) {
	for _, medium := range []string{"", catalog.ScratchMemory} {
		t.Run("medium "+medium, func(t *testing.T) { scratchSizeOnTheCluster(t, medium) })
	}
}

func scratchSizeOnTheCluster(t *testing.T, medium string) {
	kc := lab(t)
	s := site(kc)
	s.ScratchSize, s.ScratchMedium = "3Gi", medium
	b := newBackend(t, s, t.TempDir())
	spec := backend.Spec{RunID: uniqueRunID("scratch-size"), Attempt: 1, Command: []string{"/bin/sh", "-c", "exit 0"}, WorkDir: t.TempDir()}
	h, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Cancel(context.Background(), h) })
	job, err := adminClient(t, kc).BatchV1().Jobs(labNamespace).Get(testCtx(t), h, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := resource.MustParse("3Gi")
	vols := job.Spec.Template.Spec.Volumes
	if len(vols) != 1 || vols[0].EmptyDir == nil || vols[0].EmptyDir.SizeLimit == nil || vols[0].EmptyDir.SizeLimit.Cmp(want) != 0 ||
		string(vols[0].EmptyDir.Medium) != medium {
		t.Errorf("scratch volume %+v: want sizeLimit 3Gi, medium %q", vols, medium)
	}
	c := job.Spec.Template.Spec.Containers[0]
	for what, l := range map[string]corev1.ResourceList{"limits": c.Resources.Limits, "requests": c.Resources.Requests} {
		if got := l[corev1.ResourceEphemeralStorage]; got.Cmp(want) != 0 {
			t.Errorf("container %s ephemeral-storage %s, want 3Gi", what, got.String())
		}
	}
}

// TestSecretKeptOutOfTheJob: Spec.Secret goes into a Secret the Job owns,
// never into the Job or its Pods, which more users may read; the pod
// still gets the value, and the Secret goes when Cancel deletes the Job.
func TestSecretKeptOutOfTheJob(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	b := newBackend(t, site(kc), t.TempDir())
	const credential = "attempt-credential-0123456789"
	dir := t.TempDir()
	spec := backend.Spec{RunID: uniqueRunID("secret"), Attempt: 1, WorkDir: dir,
		Command: []string{"/bin/sh", "-c", `echo "got=$TOKEN"; sleep 600`},
		Env:     map[string]string{"PLAIN": "visible"}, Secret: map[string]string{"TOKEN": credential}}
	h, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	job, err := cs.BatchV1().Jobs(labNamespace).Get(testCtx(t), h, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(job)
	if strings.Contains(string(raw), credential) {
		t.Fatalf("the Job holds the secret value:\n%s", raw)
	}
	var ref *corev1.SecretKeySelector
	for _, e := range job.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "TOKEN" && e.ValueFrom != nil {
			ref = e.ValueFrom.SecretKeyRef
		}
	}
	if ref == nil || ref.Name != h || ref.Key != "TOKEN" {
		t.Fatalf("TOKEN is not read from the Secret %s: %+v", h, job.Spec.Template.Spec.Containers[0].Env)
	}
	sec, err := cs.CoreV1().Secrets(labNamespace).Get(testCtx(t), h, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(sec.Data["TOKEN"]) != credential {
		t.Errorf("Secret data %q, want the credential", sec.Data["TOKEN"])
	}
	if len(sec.OwnerReferences) != 1 || sec.OwnerReferences[0].UID != job.UID || sec.OwnerReferences[0].Kind != "Job" {
		t.Errorf("Secret owners %+v, want the Job %s (uid %s)", sec.OwnerReferences, h, job.UID)
	}
	// The pod reads the value.
	deadline := time.Now().Add(backendtest.Timeout)
	for {
		var logs []byte
		if rc, err := b.Logs(testCtx(t), h); err == nil {
			logs, _ = io.ReadAll(rc)
			rc.Close()
		}
		if strings.Contains(string(logs), "got="+credential) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pod never printed the credential; logs:\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A second Submit of the same attempt finds the Job and keeps one
	// Secret.
	if h2, err := b.Submit(testCtx(t), spec); err != nil || h2 != h {
		t.Fatalf("second submit: %q, %v", h2, err)
	}
	if err := b.Cancel(testCtx(t), h); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := cs.CoreV1().Secrets(labNamespace).Get(testCtx(t), h, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Secret outlived its cancelled Job (%v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// An attempt needing more accelerators than one node has becomes an Indexed
// Job with one pod per node (12 on nodes of 8: two pods of 6).
func TestIndexedAcrossNodes(t *testing.T) {
	kc := lab(t)
	s := site(kc)
	s.NodeSelector = map[string]string{"meridian.dev/pool": "conformance"}
	b := newBackend(t, s, t.TempDir())
	// Each pod waits for the other to start, as a distributed workload's
	// pods meet before they work, so that the two run at once and their
	// 6+6 accelerators need two nodes of 8. (Pods that merely slept a while
	// need not overlap: on a loaded machine the second may be placed after
	// the first has ended, on the node it freed. The lab's containers are
	// processes of one machine, so a directory outside the pods' scratch is
	// where they meet.)
	meet := t.TempDir()
	spec := backend.Spec{RunID: uniqueRunID("indexed"), Attempt: 1, WorkDir: t.TempDir(), Accelerators: 12,
		Command: []string{"/bin/sh", "-c", `touch "$1/$JOB_COMPLETION_INDEX"; i=0
while [ ! -e "$1/0" ] || [ ! -e "$1/1" ]; do
	i=$((i+1)); if [ $i -gt 1200 ]; then echo "index=$JOB_COMPLETION_INDEX: no other pod within 120 s"; exit 1; fi
	sleep 0.1
done
echo "index=$JOB_COMPLETION_INDEX nodes=$MERIDIAN_NODES gpus=$MERIDIAN_ACCELERATORS"`, "sh", meet}}
	h, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	job, err := adminClient(t, kc).BatchV1().Jobs(labNamespace).Get(testCtx(t), h, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if job.Spec.CompletionMode == nil || *job.Spec.CompletionMode != batchv1.IndexedCompletion || *job.Spec.Completions != 2 || *job.Spec.Parallelism != 2 {
		t.Fatalf("job spec: mode %v completions %v parallelism %v; want Indexed, 2, 2", job.Spec.CompletionMode, *job.Spec.Completions, *job.Spec.Parallelism)
	}
	if st := backendtest.WaitFinal(t, b, h); st.State != backend.Succeeded {
		t.Fatalf("status %+v, want succeeded", st)
	}
	rc, err := b.Logs(testCtx(t), h)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out, _ := io.ReadAll(rc)
	for _, want := range []string{"index=0 nodes=2 gpus=6", "index=1 nodes=2 gpus=6"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	pods, err := adminClient(t, kc).CoreV1().Pods(labNamespace).List(testCtx(t), metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + h})
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]bool{}
	for _, p := range pods.Items {
		nodes[p.Spec.NodeName] = true
	}
	if len(nodes) != 2 {
		t.Errorf("pods ran on nodes %v, want two different nodes", nodes)
	}
}

// With backend.queueName the Job waits, suspended, for Kueue. The test plays
// Kueue's part of the contract: it admits the Job by unsuspending it.
func TestKueueQueuedUntilAdmitted(t *testing.T) {
	kc := lab(t)
	s := site(kc)
	s.QueueName = "lab-queue"
	b := newBackend(t, s, t.TempDir())
	spec := backend.Spec{RunID: uniqueRunID("kueue"), Attempt: 1, WorkDir: t.TempDir(), Accelerators: 1,
		Command: []string{"/bin/sh", "-c", "echo admitted"}}
	h, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	job, err := adminClient(t, kc).BatchV1().Jobs(labNamespace).Get(testCtx(t), h, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if job.Labels[kubernetes.KueueQueueLabel] != "lab-queue" || job.Spec.Suspend == nil || !*job.Spec.Suspend {
		t.Fatalf("job labels %v, suspend %v: want Kueue's queue label and created suspended", job.Labels, job.Spec.Suspend)
	}
	st := backendtest.Wait(t, b, h, "queued", func(s backend.Status) bool { return s.State == backend.Pending })
	if !strings.Contains(st.Reason, "queued") || !strings.Contains(st.Reason, "lab-queue") {
		t.Errorf("pending reason %q, want it to say queued in lab-queue", st.Reason)
	}
	// Suspended, the Job controller creates no pods; give it time to (not) do so.
	time.Sleep(1 * time.Second)
	pods, err := adminClient(t, kc).CoreV1().Pods(labNamespace).List(testCtx(t), metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + h})
	if err != nil || len(pods.Items) != 0 {
		t.Fatalf("a queued Job has %d pods (err %v), want none", len(pods.Items), err)
	}
	if st, err := b.Status(testCtx(t), h); err != nil || st.State != backend.Pending {
		t.Fatalf("queued status %+v, %v; want pending", st, err)
	}
	if _, err := adminClient(t, kc).BatchV1().Jobs(labNamespace).Patch(testCtx(t), h, types.MergePatchType,
		[]byte(`{"spec":{"suspend":false}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := backendtest.WaitFinal(t, b, h); st.State != backend.Succeeded {
		t.Fatalf("after admission: %+v, want succeeded", st)
	}
}

// Losing the node under a running attempt makes it Lost once the node has
// been NotReady for NodeLostAfter, and the verdict holds after the node
// returns (its pod then ends Failed) and for a controller that starts anew.
func TestNodeLossIsLost(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	s := site(kc)
	s.NodeSelector = map[string]string{"meridian.dev/site": "conformance-b"}
	stateDir := t.TempDir()
	b := newBackend(t, s, stateDir)
	h, err := b.Submit(testCtx(t), backend.Spec{RunID: uniqueRunID("nodeloss"), Attempt: 1, WorkDir: t.TempDir(),
		Command: []string{"/bin/sh", "-c", "echo started; exec sleep 300"}, Accelerators: 8})
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Wait(t, b, h, "running", func(s backend.Status) bool { return s.State == backend.Running })
	ensureRestored(t, cs, nodeD)
	if err := failNode(testCtx(t), t, cs, nodeD); err != nil {
		t.Fatal(err)
	}
	st := backendtest.WaitFinal(t, b, h)
	if st.State != backend.Lost || !strings.Contains(st.Reason, nodeD) {
		t.Fatalf("status after node loss %+v, want lost naming %s", st, nodeD)
	}
	if err := restoreNode(testCtx(t), t, cs, nodeD); err != nil {
		t.Fatal(err)
	}
	// The pod is reported Failed when the node returns; the attempt stays Lost.
	backendtest.Wait(t, b, h, "pod failed after restore", func(backend.Status) bool {
		pods, err := cs.CoreV1().Pods(labNamespace).List(context.Background(), metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + h})
		return err == nil && len(pods.Items) == 1 && pods.Items[0].Status.Phase == corev1.PodFailed
	})
	// Started anew on the same state directory: one without the attempt's
	// record takes no Job for the attempt's.
	fresh := newBackend(t, s, stateDir)
	if st, err := fresh.Status(testCtx(t), h); err != nil || st.State != backend.Lost {
		t.Fatalf("a new controller sees %+v, %v; want lost", st, err)
	}
	if err := b.Cancel(testCtx(t), h); err != nil {
		t.Fatalf("Cancel of a lost attempt: %v", err)
	}
	if st, err := b.Status(testCtx(t), h); err != nil || st.State != backend.Lost {
		t.Fatalf("after Cancel of the lost attempt: %+v, %v; want still lost", st, err)
	}
}

// A node whose Ready condition stays True is not lost: NodeLostAfter counts
// from when the node turned NotReady.
func TestShortNotReadyIsNotLost(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	s := site(kc)
	s.NodeSelector = map[string]string{"meridian.dev/site": "conformance-b"}
	b := newBackend(t, s, t.TempDir())
	b.NodeLostAfter = time.Hour
	h, err := b.Submit(testCtx(t), backend.Spec{RunID: uniqueRunID("blip"), Attempt: 1, WorkDir: t.TempDir(),
		Command: []string{"/bin/sh", "-c", "exec sleep 300"}})
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Wait(t, b, h, "running", func(s backend.Status) bool { return s.State == backend.Running })
	ensureRestored(t, cs, nodeD)
	if err := failNode(testCtx(t), t, cs, nodeD); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the watch has long delivered the NotReady node
	if st, err := b.Status(testCtx(t), h); err != nil || st.State.Final() {
		t.Fatalf("an hour's NodeLostAfter, node down 2 s: %+v, %v; want not final yet", st, err)
	}
	if err := b.Cancel(testCtx(t), h); err != nil {
		t.Fatal(err)
	}
}

// While the API server cannot be reached, Status fails rather than report
// the last state it saw; it answers again when the server is back.
func TestAPIServerUnreachable(t *testing.T) {
	kc := lab(t)
	raw, err := clientcmd.LoadFromFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	cluster := raw.Clusters[raw.Contexts[raw.CurrentContext].Cluster]
	target := strings.TrimPrefix(cluster.Server, "https://")
	p := newProxy(t, target)
	cluster.Server = "https://" + p.addr()
	kc2 := filepath.Join(t.TempDir(), "via-proxy.kubeconfig")
	if err := clientcmd.WriteToFile(*raw, kc2); err != nil {
		t.Fatal(err)
	}
	b := newBackend(t, site(kc2), t.TempDir())
	h, err := b.Submit(testCtx(t), backend.Spec{RunID: uniqueRunID("unreach"), Attempt: 1, WorkDir: t.TempDir(),
		Command: []string{"/bin/sh", "-c", "exec sleep 300"}})
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Wait(t, b, h, "running", func(s backend.Status) bool { return s.State == backend.Running })
	p.cut()
	var lastErr error
	for deadline := time.Now().Add(backendtest.Timeout); lastErr == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Status kept answering for %s after the API server was cut off", backendtest.Timeout)
		}
		_, lastErr = b.Status(context.Background(), h)
	}
	if errors.Is(lastErr, backend.ErrNotFound) || !strings.Contains(lastErr.Error(), "unreachable") {
		t.Fatalf("Status while the API server is cut off: %v; want an unreachable error", lastErr)
	}
	p.restore()
	backendtest.Wait(t, b, h, "running again", func(s backend.Status) bool { return s.State == backend.Running })
	if err := b.Cancel(testCtx(t), h); err != nil {
		t.Fatal(err)
	}
}

func TestBadSettingsNameTheField(t *testing.T) {
	kc := lab(t)
	dir := t.TempDir()
	good := site(kc)
	cases := []struct {
		name string
		edit func(*catalog.BackendSpec)
		want string
	}{
		{"missing kubeconfig", func(s *catalog.BackendSpec) { s.Kubeconfig = filepath.Join(dir, "nope.yaml") }, "backend.kubeconfig"},
		{"unknown context", func(s *catalog.BackendSpec) { s.Context = "johor-prod" }, `backend.context: context "johor-prod" is not in`},
		{"no image", func(s *catalog.BackendSpec) { s.Image = "" }, "backend.image: required"},
		{"bad toleration", func(s *catalog.BackendSpec) {
			s.Tolerations = []catalog.Toleration{{Key: "gpu", Operator: "Sometimes"}}
		}, "backend.tolerations[0].operator"},
		{"slurm setting", func(s *catalog.BackendSpec) { s.Partition = "sg" }, "backend.partition"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := good
			c.edit(&s)
			b, err := kubernetes.New(s, t.TempDir())
			if err == nil {
				b.Close()
				t.Fatalf("New accepted %s", c.name)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not name %q", err, c.want)
			}
		})
	}

	submitErr := func(t *testing.T, s catalog.BackendSpec, acc int) error {
		b := newBackend(t, s, t.TempDir())
		_, err := b.Submit(testCtx(t), backend.Spec{RunID: uniqueRunID("bad"), Attempt: 1, Accelerators: acc,
			Command: []string{"true"}, WorkDir: t.TempDir()})
		return err
	}
	t.Run("no node offers the GPU resource", func(t *testing.T) {
		s := good
		s.GPUResource = "example.com/tpu"
		err := submitErr(t, s, 1)
		if err == nil || !strings.Contains(err.Error(), "backend.gpuResource") || !strings.Contains(err.Error(), "example.com/tpu") {
			t.Fatalf("Submit error %v, want one naming backend.gpuResource", err)
		}
		b := newBackend(t, s, t.TempDir())
		if err := b.Check(testCtx(t)); err == nil || !strings.Contains(err.Error(), "backend.gpuResource") {
			t.Fatalf("Check error %v, want one naming backend.gpuResource", err)
		}
	})
	t.Run("no node matches", func(t *testing.T) {
		s := good
		s.NodeSelector = map[string]string{"meridian.dev/site": "atlantis"}
		if err := submitErr(t, s, 1); err == nil || !strings.Contains(err.Error(), "backend.nodeSelector") {
			t.Fatalf("Submit error %v, want one naming backend.nodeSelector", err)
		}
	})
	t.Run("missing namespace", func(t *testing.T) {
		s := good
		s.Namespace = "no-such-namespace"
		b := newBackend(t, s, t.TempDir())
		if err := b.Check(testCtx(t)); err == nil || !strings.Contains(err.Error(), "backend.namespace") {
			t.Fatalf("Check error %v, want one naming backend.namespace", err)
		}
	})
	t.Run("forbidden namespace", func(t *testing.T) {
		tenant := tenantKubeconfig(t, kc)
		s := good
		s.Kubeconfig = tenant
		b := newBackend(t, s, t.TempDir())
		err := b.Check(testCtx(t))
		if err == nil || !strings.Contains(err.Error(), `backend.namespace "conformance"`) || !strings.Contains(err.Error(), "may not") {
			t.Fatalf("Check error %v, want one naming backend.namespace and what is not allowed", err)
		}
		_, err = b.Submit(testCtx(t), backend.Spec{RunID: uniqueRunID("forbidden"), Attempt: 1, Command: []string{"true"}})
		if err == nil || !strings.Contains(err.Error(), "backend.namespace") || !strings.Contains(err.Error(), "forbidden") {
			t.Fatalf("Submit error %v, want a forbidden error naming backend.namespace", err)
		}
	})
	t.Run("check passes for good settings", func(t *testing.T) {
		b := newBackend(t, good, t.TempDir())
		if err := b.Check(testCtx(t)); err != nil {
			t.Fatalf("Check of the lab's settings: %v", err)
		}
	})
}

// tenantKubeconfig writes a kubeconfig for the lab's tenant user, who may
// read nodes but has no rights in namespace conformance.
func tenantKubeconfig(t *testing.T, adminKC string) string {
	t.Helper()
	cs := adminClient(t, adminKC)
	ctx := testCtx(t)
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "meridian-test-node-reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}}}}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "meridian-test-node-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: cr.Name},
		Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "meridian-tenant"}}}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	raw, err := clientcmd.LoadFromFile(adminKC)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range raw.AuthInfos {
		u.Token = os.Getenv("MERIDIAN_KUBE_TENANT_TOKEN")
	}
	if os.Getenv("MERIDIAN_KUBE_TENANT_TOKEN") == "" {
		t.Fatal("MERIDIAN_KUBE_TENANT_TOKEN is not set (source the env.sh of scripts/kube-up.sh)")
	}
	path := filepath.Join(t.TempDir(), "tenant.kubeconfig")
	if err := clientcmd.WriteToFile(*raw, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// proxy is a TCP relay to the API server that the test can cut.
type proxy struct {
	t      *testing.T
	target string
	mu     sync.Mutex
	ln     net.Listener
	port   string
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	p.listen("127.0.0.1:0")
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) addr() string { return "127.0.0.1:" + p.port }

func (p *proxy) listen(addr string) {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly after cut
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	_, p.port, _ = net.SplitHostPort(ln.Addr().String())
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

// cut closes the listener and every relayed connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore listens again on the same port.
func (p *proxy) restore() { p.listen("127.0.0.1:" + p.port) }
