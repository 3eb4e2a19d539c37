package catalog

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// BackendProblem is one setting of a BackendSpec that cannot work: Field is
// the setting's name inside backend (restURL, tokenFile, …).
type BackendProblem struct {
	Field, Msg string
	// Accepted lists the values the setting may take, when it is one of a few.
	Accepted []string
}

func (p BackendProblem) Error() string { return "backend." + p.Field + ": " + p.Msg }

// Problems lists the settings of b that cannot work, in field order. It
// checks each setting's form and which settings go together; whether a
// partition exists or a token is accepted only the scheduler can say.
// The loader reports these at load time, and the backends refuse the same
// settings when they are built from a spec that no loader checked.
func (b BackendSpec) Problems() []BackendProblem {
	return append(append(b.slurmProblems(), b.kubernetesProblems()...), b.agentProblems()...)
}

// agentPath is an executable's path or bare name: no spaces, quotes or
// control characters, nothing a shell or a scheduler could read twice.
var agentPath = regexp.MustCompile(`^[A-Za-z0-9._+/-]+$`)

// agentProblems checks the settings of the site's agent.
func (b BackendSpec) agentProblems() []BackendProblem {
	var out []BackendProblem
	if a := b.Agent; a != "" {
		switch {
		case len(a) > 4096 || !agentPath.MatchString(a) || strings.HasPrefix(a, "-"):
			out = append(out, BackendProblem{Field: "agent", Msg: fmt.Sprintf("%q: want an absolute path or a program name (letters, digits, '.', '_', '+', '-', '/')", a)})
		case strings.Contains(a, "/") && !filepath.IsAbs(a):
			out = append(out, BackendProblem{Field: "agent", Msg: fmt.Sprintf("%q: want an absolute path (the job's working directory is its scratch) or a bare name found on PATH", a)})
		}
	}
	switch {
	case b.Sandbox == "":
	case !contains(SandboxModes, b.Sandbox):
		out = append(out, BackendProblem{Field: "sandbox", Msg: fmt.Sprintf("%q is not accepted", b.Sandbox), Accepted: SandboxModes})
	case b.Sandbox == "uid" && b.Type == BackendSlurm && b.RestURL != "":
		out = append(out, BackendProblem{Field: "sandbox", Msg: "uid needs the agent to run as root, and jobs submitted through slurmrestd run as the user it authenticates; use landlock (or none where the site isolates jobs itself)", Accepted: []string{"landlock", "none"}})
	}
	return out
}

// slurmProblems checks the settings of Slurm sites.
func (b BackendSpec) slurmProblems() []BackendProblem {
	var out []BackendProblem
	add := func(field, format string, args ...any) {
		out = append(out, BackendProblem{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	slurm := b.Type == BackendSlurm
	if b.Partition != "" && !SlurmName(b.Partition) {
		add("partition", "%q is not a Slurm partition name (letters, digits, '-', '_', '.')", b.Partition)
	}
	if b.GresType != "" && !SlurmName(b.GresType) {
		add("gresType", "%q is not a GRES type (letters, digits, '-', '_', '.'), e.g. h100", b.GresType)
	}
	if b.Gres != "" {
		name, typ, hasType := strings.Cut(b.Gres, ":")
		if !SlurmName(name) || hasType && !SlurmName(typ) {
			add("gres", "%q is not a GRES of the form name[:type], e.g. gpu:h100", b.Gres)
		} else if b.GresType != "" {
			add("gres", "set gres (%s) or the older gresType (%s), not both", b.Gres, b.GresType)
		}
	}
	switch f := b.RecordKeyFile; {
	case f == "":
	case !slurm:
		add("recordKeyFile", "only for type slurm, not %q", b.Type)
	case b.RestURL != "":
		add("recordKeyFile", "only for Slurm through its commands; the records of a site reached through restURL are on the controller's machine alone and are not signed")
	case len(f) > 4096 || !filepath.IsAbs(f) || filepath.Clean(f) != f:
		add("recordKeyFile", "%q: want an absolute path, without '.' or '..' components (a file on the server's machine)", f)
	}
	if b.RestURL == "" {
		if b.TokenFile != "" {
			add("tokenFile", "only with restURL (a token for slurmrestd)")
		}
		if b.User != "" {
			add("user", "only with an https restURL (sent with the token)")
		}
		return out
	}
	if !slurm {
		add("restURL", "only for type slurm, not %q", b.Type)
		return out
	}
	if b.Endpoint != "" {
		add("endpoint", "is the slurm.conf of Slurm's commands on this machine; a site reached through restURL has none")
	}
	u, err := url.Parse(b.RestURL)
	if err != nil {
		add("restURL", "%q is not a URL: %v", b.RestURL, err)
		return out
	}
	jwt := false
	switch u.Scheme {
	case "unix":
		if u.Host != "" || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") || u.RawQuery != "" || u.Fragment != "" {
			add("restURL", "%q: want unix:///absolute/path/to/slurmrestd.sock", b.RestURL)
		}
	case "https", "http":
		jwt = true
		switch {
		case u.Host == "" || u.Opaque != "":
			add("restURL", "%q has no host", b.RestURL)
		case u.User != nil:
			add("restURL", "%q carries credentials; put the token in tokenFile", u.Redacted())
		case u.RawQuery != "" || u.Fragment != "":
			add("restURL", "%q: want no query or fragment, only scheme, host, port and an optional path prefix", b.RestURL)
		case u.Scheme == "http" && !loopbackHost(u.Hostname()):
			add("restURL", "%q: plain http would send the token in clear; use https, or http to a loopback address (a tunnel)", b.RestURL)
		}
	default:
		add("restURL", "scheme %q: want unix:// (slurmrestd's socket, rest_auth/local) or https:// (a JWT from tokenFile)", u.Scheme)
	}
	switch {
	case jwt && b.TokenFile == "":
		add("tokenFile", "required with an %s restURL: the file holding the JWT for slurmrestd", u.Scheme)
	case jwt && !strings.HasPrefix(b.TokenFile, "~/") && !filepath.IsAbs(b.TokenFile):
		add("tokenFile", "%q: want an absolute path or one starting with ~/", b.TokenFile)
	case !jwt && b.TokenFile != "":
		add("tokenFile", "only with an https restURL; slurmrestd's unix socket authenticates the connecting user (rest_auth/local)")
	}
	if b.User != "" && !jwt {
		add("user", "only with an https restURL (sent with the token)")
	} else if b.User != "" && !slurmUser(b.User) {
		add("user", "%q is not a user name (letters, digits, '.', '_', '-', '@'; at most 64)", b.User)
	}
	if b.WorkDir != "" && !filepath.IsAbs(b.WorkDir) {
		add("workDir", "%q: with restURL this is a path on the cluster and must be absolute", b.WorkDir)
	}
	return out
}

// SlurmName reports whether s is usable as a Slurm partition, GRES name or
// GRES type here: letters, digits, '-', '_' and '.', at most 64.
func SlurmName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func slurmUser(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '@') {
			return false
		}
	}
	return true
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Kubernetes names and values, as the API server checks them.
var (
	k8sDNSSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	k8sLabelName    = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	k8sLabelValue   = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`)
	imageRef        = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._\-/:@+]*$`)
)

// ValidImageRef reports whether s can be a container image reference (a
// registry path with a tag or digest): at most 512 characters, none of
// them space or a control character.
func ValidImageRef(s string) bool {
	return len(s) <= 512 && imageRef.MatchString(s)
}

// Toleration operators and taint effects Kubernetes accepts.
var (
	TolerationOperators = []string{"Equal", "Exists"}
	TaintEffects        = []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}
)

// kubernetesOnly names the settings that only type kubernetes reads.
func (b BackendSpec) kubernetesOnly() map[string]bool {
	return map[string]bool{
		"kubeconfig": b.Kubeconfig != "", "context": b.Context != "", "namespace": b.Namespace != "",
		"image": b.Image != "", "gpuResource": b.GPUResource != "", "nodeSelector": len(b.NodeSelector) > 0,
		"tolerations": len(b.Tolerations) > 0, "queueName": b.QueueName != "", "scratchMedium": b.ScratchMedium != "",
		"scratchSize": b.ScratchSize != "",
	}
}

// kubernetesProblems lists a Kubernetes setting on another type, a Slurm
// setting on kubernetes, and Kubernetes names and values the API server
// would refuse.
func (b BackendSpec) kubernetesProblems() []BackendProblem {
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
	for _, f := range []struct{ name, val string }{{"partition", b.Partition}, {"gresType", b.GresType}, {"gres", b.Gres}, {"endpoint", b.Endpoint}} {
		if f.val != "" {
			add(f.name, "not used by type kubernetes (Slurm setting); use nodeSelector and gpuResource")
		}
	}
	if strings.TrimSpace(b.Image) == "" {
		add("image", "required for type kubernetes: the container image the site's Jobs run")
	} else if !ValidImageRef(b.Image) {
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
	if b.ScratchMedium != "" && b.ScratchMedium != ScratchMemory {
		out = append(out, BackendProblem{Field: "scratchMedium", Msg: fmt.Sprintf("%q is not accepted (empty: the node's disk)", b.ScratchMedium), Accepted: []string{ScratchMemory}})
	}
	if b.ScratchSize != "" {
		if _, err := ParseScratchSize(b.ScratchSize); err != nil {
			add("scratchSize", "%v", err)
		}
	}
	return out
}

// ParseScratchSize reads backend.scratchSize: a Kubernetes quantity of
// bytes, at least 1 MiB.
func ParseScratchSize(s string) (resource.Quantity, error) {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return q, fmt.Errorf("%q is not a Kubernetes quantity of bytes (such as 500Gi)", s)
	}
	if q.Cmp(resource.MustParse("1Mi")) < 0 {
		return q, fmt.Errorf("%q is less than 1Mi: no workload could run in it", s)
	}
	return q, nil
}

// ScratchMemory is the scratchMedium of an attempt's scratch in a tmpfs.
const ScratchMemory = "Memory"

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
