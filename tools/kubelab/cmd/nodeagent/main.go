// Command nodeagent is a test Kubernetes node: a virtual-kubelet whose
// provider runs each container's command and args as a local process group.
// Pods really run (their logs are served through the kubelet API, so
// pods/log works; their status is reported as the processes start and end),
// but without images, isolation or resource limits: it exists so that tests
// can run Jobs on a real control plane on one machine.
//
// Signals simulate node loss: SIGUSR1 kills every pod's processes, marks the
// node NotReady and stops reporting (as a crashed machine would); SIGUSR2
// brings the node back Ready and reports the killed pods Failed (NodeLost).
// SIGTERM stops the pods and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	vklog "github.com/virtual-kubelet/virtual-kubelet/log"
	vkslog "github.com/virtual-kubelet/virtual-kubelet/log/slog"
	vknode "github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	dto "github.com/prometheus/client_model/go"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == mountExecArg {
		os.Exit(mountExec(os.Args[2:]))
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "nodeagent:", err)
		os.Exit(1)
	}
}

type options struct {
	name, kubeconfig, dir     string
	labels                    map[string]string
	gpus                      int
	gpuResource, cpu, memory  string
	pods                      int
	port                      int
	tlsCert, tlsKey, clientCA string
	verbose                   bool
}

func parseFlags() (options, error) {
	var o options
	var labels string
	flag.StringVar(&o.name, "name", "", "node name (required)")
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the API server (required)")
	flag.StringVar(&o.dir, "dir", "", "directory for pod logs and default working directories (required)")
	flag.StringVar(&labels, "labels", "", "node labels, k=v,k=v")
	flag.IntVar(&o.gpus, "gpus", 8, "accelerators the node advertises")
	flag.StringVar(&o.gpuResource, "gpu-resource", "nvidia.com/gpu", "extended resource name of the accelerators")
	flag.StringVar(&o.cpu, "cpu", "16", "CPU capacity")
	flag.StringVar(&o.memory, "memory", "64Gi", "memory capacity")
	flag.IntVar(&o.pods, "pods", 110, "pod capacity")
	flag.IntVar(&o.port, "port", 10250, "kubelet API port on 127.0.0.1")
	flag.StringVar(&o.tlsCert, "tls-cert", "", "kubelet API serving certificate (required)")
	flag.StringVar(&o.tlsKey, "tls-key", "", "kubelet API serving key (required)")
	flag.StringVar(&o.clientCA, "client-ca", "", "CA whose client certificates may call the kubelet API (required)")
	flag.BoolVar(&o.verbose, "v", false, "debug logging")
	flag.Parse()
	for f, v := range map[string]string{"name": o.name, "kubeconfig": o.kubeconfig, "dir": o.dir,
		"tls-cert": o.tlsCert, "tls-key": o.tlsKey, "client-ca": o.clientCA} {
		if v == "" {
			return o, fmt.Errorf("-%s is required", f)
		}
	}
	o.labels = map[string]string{}
	for _, kv := range strings.Split(labels, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return o, fmt.Errorf("-labels: %q is not k=v", kv)
		}
		o.labels[k] = v
	}
	for _, q := range []struct{ flag, v string }{{"cpu", o.cpu}, {"memory", o.memory}} {
		if _, err := resource.ParseQuantity(q.v); err != nil {
			return o, fmt.Errorf("-%s: %w", q.flag, err)
		}
	}
	return o, nil
}

func run() error {
	o, err := parseFlags()
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("node", o.name)
	vklog.L = vkslog.FromSlog(logger)

	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}

	prov := newProcProvider(o.name, o.dir)
	np := &nodeProvider{grace: lossGrace}
	mux := http.NewServeMux()
	node, err := nodeutil.NewNode(o.name,
		func(pc nodeutil.ProviderConfig) (nodeutil.Provider, vknode.NodeProvider, error) {
			describeNode(pc.Node, o)
			np.node = pc.Node.DeepCopy()
			return labProvider{prov}, np, nil
		},
		nodeutil.WithClient(client),
		func(c *nodeutil.NodeConfig) error {
			c.HTTPListenAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(o.port))
			c.Handler = nodeutil.WithAuth(nodeutil.NoAuth(), mux)
			c.InformerResyncPeriod = time.Minute
			return nil
		},
		// Only clients holding a certificate of the lab CA (the API server)
		// reach the kubelet API: TLS itself is the authentication.
		nodeutil.WithTLSConfig(nodeutil.WithKeyPairFromPath(o.tlsCert, o.tlsKey), nodeutil.WithCAFromPath(o.clientCA)),
		nodeutil.AttachProviderRoutes(mux),
	)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2)
	go node.Run(ctx) //nolint:errcheck
	if err := node.WaitReady(ctx, time.Minute); err != nil {
		return fmt.Errorf("node %s did not become ready: %w", o.name, err)
	}
	logger.Info("node ready", "port", o.port, "labels", o.labels, o.gpuResource, o.gpus)
	for {
		select {
		case <-node.Done():
			prov.stopAll(0)
			return node.Err()
		case s := <-sigs:
			switch s {
			case syscall.SIGUSR1:
				logger.Warn("simulated node loss: killing every pod's processes, node NotReady")
				prov.failNode()
				np.setReady(false)
				go np.renotify(ctx, lossGrace, true)
			case syscall.SIGUSR2:
				logger.Info("node restored")
				np.setReady(true)
				prov.restoreNode()
				go np.renotify(ctx, 15*time.Second, false)
			default:
				logger.Info("stopping", "signal", s.String())
				prov.stopAll(5 * time.Second)
				cancel()
				select {
				case <-node.Done():
				case <-time.After(10 * time.Second):
				}
				return nil
			}
		}
	}
}

// describeNode fills in what the node advertises.
func describeNode(n *corev1.Node, o options) {
	for k, v := range o.labels {
		n.Labels[k] = v
	}
	n.Labels[corev1.LabelOSStable] = runtime.GOOS
	n.Labels[corev1.LabelArchStable] = runtime.GOARCH
	res := corev1.ResourceList{
		corev1.ResourceCPU:                 resource.MustParse(o.cpu),
		corev1.ResourceMemory:              resource.MustParse(o.memory),
		corev1.ResourcePods:                *resource.NewQuantity(int64(o.pods), resource.DecimalSI),
		corev1.ResourceName(o.gpuResource): *resource.NewQuantity(int64(o.gpus), resource.DecimalSI),
		corev1.ResourceEphemeralStorage:    resource.MustParse("100Gi"),
	}
	n.Status.Capacity = res
	n.Status.Allocatable = res.DeepCopy()
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(o.port)
	n.Status.NodeInfo = corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OperatingSystem: runtime.GOOS,
		Architecture: runtime.GOARCH, ContainerRuntimeVersion: "meridian-lab://processes"}
	n.Status.Phase = corev1.NodeRunning
	setCondition(n, true)
}

func setCondition(n *corev1.Node, ready bool) {
	now := metav1.Now()
	status, reason, msg := corev1.ConditionTrue, "KubeletReady", "lab node agent is running pods as processes"
	if !ready {
		status, reason, msg = corev1.ConditionFalse, "NodeLost", "simulated node loss: processes killed, node not reporting"
	}
	conds := []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, Reason: reason, Message: msg,
		LastHeartbeatTime: now, LastTransitionTime: now}}
	for _, t := range []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		conds = append(conds, corev1.NodeCondition{Type: t, Status: corev1.ConditionFalse, Reason: "LabNode",
			LastHeartbeatTime: now, LastTransitionTime: now})
	}
	n.Status.Conditions = conds
}

// nodeProvider reports the node's health: Ping fails while the node is
// failed, so that its lease is not renewed either.
type nodeProvider struct {
	mu     sync.Mutex
	node   *corev1.Node
	cb     func(*corev1.Node)
	failed bool
	// failedAt is when the node was lost: pings go on succeeding for grace
	// (lossGrace in the agent) after it, so that virtual-kubelet, which
	// drops a status update while its last ping failed, lets the NotReady
	// through.
	failedAt time.Time
	grace    time.Duration
	// sending serialises status updates, each read when it is sent: a
	// renotify that read Ready just before a loss cannot send it after the
	// loss's NotReady (the node would then look Ready, and stay so).
	sending sync.Mutex
}

// lossGrace is how long a lost node still answers pings, and re-sends its
// NotReady status.
const lossGrace = 4 * time.Second

func (p *nodeProvider) Ping(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failed && time.Since(p.failedAt) >= p.grace {
		return errors.New("node failed (simulated)")
	}
	return nil
}

func (p *nodeProvider) NotifyNodeStatus(_ context.Context, cb func(*corev1.Node)) {
	p.mu.Lock()
	p.cb = cb
	p.mu.Unlock()
}

func (p *nodeProvider) setReady(ready bool) {
	p.mu.Lock()
	p.failed = !ready
	if !ready {
		p.failedAt = time.Now()
	}
	setCondition(p.node, ready)
	p.mu.Unlock()
	p.send(func(bool) bool { return true })
}

// send sends the node's status as it is now, when ok says so of whether
// the node is lost; it reports whether it sent.
func (p *nodeProvider) send(ok func(failed bool) bool) bool {
	p.sending.Lock()
	defer p.sending.Unlock()
	p.mu.Lock()
	n, cb, failed := p.node.DeepCopy(), p.cb, p.failed
	p.mu.Unlock()
	if !ok(failed) {
		return false
	}
	if cb != nil {
		cb(n)
	}
	return true
}

// renotify sends the node's status again every second for a while, as
// long as the node stays lost (lost) or restored (!lost): virtual-kubelet
// drops a status update while the last ping it cached (every 10 s) failed,
// so the first one after a restore is lost and the node would stay
// NotReady until the next periodic update (1 min); and a loss's NotReady
// could meet a ping that already failed.
func (p *nodeProvider) renotify(ctx context.Context, d time.Duration, lost bool) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	end := time.After(d)
	for {
		select {
		case <-ctx.Done():
			return
		case <-end:
			return
		case <-t.C:
		}
		if !p.send(func(failed bool) bool { return failed == lost }) {
			return // the node changed again
		}
	}
}

// labProvider adds the kubelet API calls the lab does not support.
type labProvider struct{ *procProvider }

var errUnsupported = errdefs.InvalidInput("not supported by the lab node")

func (labProvider) RunInContainer(context.Context, string, string, string, []string, api.AttachIO) error {
	return errUnsupported
}

func (labProvider) AttachToContainer(context.Context, string, string, string, api.AttachIO) error {
	return errUnsupported
}

func (labProvider) GetStatsSummary(context.Context) (*statsv1alpha1.Summary, error) {
	return nil, errUnsupported
}

func (labProvider) GetMetricsResource(context.Context) ([]*dto.MetricFamily, error) {
	return nil, errUnsupported
}

func (labProvider) PortForward(context.Context, string, string, int32, io.ReadWriteCloser) error {
	return errUnsupported
}
