package catalog

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// BackendProblem is one setting of a site's backend that cannot work.
type BackendProblem struct {
	// Field is the setting's path below "backend", e.g. "nodeSelector" or
	// "tolerations[1].effect".
	Field    string
	Msg      string
	Accepted []string
}

func (p BackendProblem) Error() string { return "backend." + p.Field + ": " + p.Msg }

// Kubernetes names and values, as the API server checks them.
var (
	k8sDNSSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	k8sLabelName    = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	k8sLabelValue   = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`)
	imageRef        = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._\-/:@+]*$`)
)

// Toleration operators and taint effects Kubernetes accepts.
var (
	TolerationOperators = []string{"Equal", "Exists"}
	TaintEffects        = []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}
)

// kubernetesOnly names the settings that only type kubernetes reads.
func (b *BackendSpec) kubernetesOnly() map[string]bool {
	return map[string]bool{
		"kubeconfig": b.Kubeconfig != "", "context": b.Context != "", "namespace": b.Namespace != "",
		"image": b.Image != "", "gpuResource": b.GPUResource != "", "nodeSelector": len(b.NodeSelector) > 0,
		"tolerations": len(b.Tolerations) > 0, "queueName": b.QueueName != "",
	}
}

// Problems lists the settings of b that its backend type cannot use: a
// Kubernetes setting on another type, a Slurm setting on kubernetes, and
// Kubernetes names and values the API server would refuse. The backend
// packages run the same checks when they are built from settings.
func (b *BackendSpec) Problems() []BackendProblem {
	var out []BackendProblem
	add := func(field, format string, args ...any) {
		out = append(out, BackendProblem{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	typ := b.Type
	if typ == "" {
		typ = BackendLocal
	}
	if typ != BackendKubernetes {
		set := b.kubernetesOnly()
		fields := make([]string, 0, len(set))
		for f, isSet := range set {
			if isSet {
				fields = append(fields, f)
			}
		}
		sort.Strings(fields)
		for _, f := range fields {
			add(f, "only for type kubernetes (this site's type is %s)", typ)
		}
		return out
	}
	for _, f := range []struct{ name, val string }{{"partition", b.Partition}, {"gresType", b.GresType}, {"endpoint", b.Endpoint}} {
		if f.val != "" {
			add(f.name, "not used by type kubernetes (Slurm setting); use nodeSelector and gpuResource")
		}
	}
	if strings.TrimSpace(b.Image) == "" {
		add("image", "required for type kubernetes: the container image the site's Jobs run")
	} else if len(b.Image) > 512 || !imageRef.MatchString(b.Image) {
		add("image", "%q is not an image reference", b.Image)
	}
	if b.Namespace != "" && !dnsLabel.MatchString(b.Namespace) {
		add("namespace", "%q is not a Kubernetes namespace name ([a-z0-9-], at most 63, no leading or trailing '-')", b.Namespace)
	}
	if b.Context != "" && strings.TrimSpace(b.Context) != b.Context {
		add("context", "%q has leading or trailing spaces", b.Context)
	}
	if b.GPUResource != "" {
		if err := qualifiedName(b.GPUResource); err != "" || !strings.Contains(b.GPUResource, "/") {
			if err == "" {
				err = "needs a domain prefix, as extended resources do (e.g. nvidia.com/gpu)"
			}
			add("gpuResource", "%q: %s", b.GPUResource, err)
		}
	}
	keys := make([]string, 0, len(b.NodeSelector))
	for k := range b.NodeSelector {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := qualifiedName(k); err != "" {
			add("nodeSelector", "key %q: %s", k, err)
		}
		if v := b.NodeSelector[k]; len(v) > 63 || !k8sLabelValue.MatchString(v) {
			add("nodeSelector", "value %q of %s is not a label value (at most 63 of [A-Za-z0-9-_.], starting and ending alphanumeric)", v, k)
		}
	}
	for i, t := range b.Tolerations {
		f := fmt.Sprintf("tolerations[%d]", i)
		if t.Key != "" {
			if err := qualifiedName(t.Key); err != "" {
				add(f+".key", "%q: %s", t.Key, err)
			}
		}
		switch t.Operator {
		case "", "Equal":
			if t.Key == "" {
				add(f+".key", "required unless operator is Exists")
			}
			if len(t.Value) > 63 || !k8sLabelValue.MatchString(t.Value) {
				add(f+".value", "%q is not a taint value", t.Value)
			}
		case "Exists":
			if t.Value != "" {
				add(f+".value", "must be empty when operator is Exists")
			}
		default:
			out = append(out, BackendProblem{Field: f + ".operator", Msg: fmt.Sprintf("%q is not accepted", t.Operator), Accepted: TolerationOperators})
		}
		if t.Effect != "" && !contains(TaintEffects, t.Effect) {
			out = append(out, BackendProblem{Field: f + ".effect", Msg: fmt.Sprintf("%q is not accepted", t.Effect), Accepted: TaintEffects})
		}
		if t.TolerationSeconds != nil {
			if t.Effect != "NoExecute" {
				add(f+".tolerationSeconds", "only with effect NoExecute")
			} else if *t.TolerationSeconds < 0 {
				add(f+".tolerationSeconds", "must be >= 0, got %d", *t.TolerationSeconds)
			}
		}
	}
	if b.QueueName != "" && (len(b.QueueName) > 253 || !k8sDNSSubdomain.MatchString(b.QueueName)) {
		add("queueName", "%q is not a Kueue LocalQueue name (a DNS subdomain: [a-z0-9-.])", b.QueueName)
	}
	if b.WorkDir != "" && !filepath.IsAbs(b.WorkDir) {
		add("workDir", "%q: must be an absolute path inside the container for type kubernetes", b.WorkDir)
	}
	return out
}

// qualifiedName checks a Kubernetes qualified name ([prefix/]name, as label
// keys and resource names are), returning "" when it is one.
func qualifiedName(s string) string {
	prefix, name, hasPrefix := strings.Cut(s, "/")
	if !hasPrefix {
		name, prefix = prefix, ""
	}
	if hasPrefix && (prefix == "" || len(prefix) > 253 || !k8sDNSSubdomain.MatchString(prefix)) {
		return "the prefix before '/' must be a DNS subdomain ([a-z0-9-.])"
	}
	if name == "" || len(name) > 63 || !k8sLabelName.MatchString(name) {
		return "the name must be 1 to 63 of [A-Za-z0-9-_.], starting and ending alphanumeric"
	}
	return ""
}
