package catalog

import (
	"strings"
	"testing"
)

func TestBackendProblems(t *testing.T) {
	tests := []struct {
		name  string
		spec  BackendSpec
		field string // "" when the spec must be accepted
		msg   string
	}{
		{"local", BackendSpec{Type: BackendLocal}, "", ""},
		{"slurm commands", BackendSpec{Type: BackendSlurm, Partition: "site-a", GresType: "h100"}, "", ""},
		{"slurm socket", BackendSpec{Type: BackendSlurm, RestURL: "unix:///run/slurmrestd.sock", Partition: "p", Gres: "gpu:h100", WorkDir: "/scratch/meridian"}, "", ""},
		{"slurm https", BackendSpec{Type: BackendSlurm, RestURL: "https://slurm.example:6820", TokenFile: "~/.slurm/jwt", User: "alice"}, "", ""},
		{"slurm https with a path prefix", BackendSpec{Type: BackendSlurm, RestURL: "https://gw.example/slurm", TokenFile: "/etc/meridian/jwt"}, "", ""},
		{"slurm http on loopback", BackendSpec{Type: BackendSlurm, RestURL: "http://127.0.0.1:6820", TokenFile: "/t"}, "", ""},
		{"slurm http on ::1", BackendSpec{Type: BackendSlurm, RestURL: "http://[::1]:6820", TokenFile: "/t"}, "", ""},
		{"gres without type", BackendSpec{Type: BackendSlurm, Gres: "gpu"}, "", ""},

		{"bad partition", BackendSpec{Type: BackendSlurm, Partition: "a;b"}, "partition", "not a Slurm partition name"},
		{"bad gresType", BackendSpec{Type: BackendSlurm, GresType: "h100:8"}, "gresType", "not a GRES type"},
		{"bad gres", BackendSpec{Type: BackendSlurm, Gres: "gpu:h100:8"}, "gres", "name[:type]"},
		{"empty gres type", BackendSpec{Type: BackendSlurm, Gres: "gpu:"}, "gres", "name[:type]"},
		{"gres and gresType", BackendSpec{Type: BackendSlurm, Gres: "gpu:h100", GresType: "h100"}, "gres", "not both"},
		{"tokenFile without restURL", BackendSpec{Type: BackendSlurm, TokenFile: "/t"}, "tokenFile", "only with restURL"},
		{"user without restURL", BackendSpec{Type: BackendSlurm, User: "alice"}, "user", "only with an https restURL"},
		{"restURL on kubernetes", BackendSpec{Type: BackendKubernetes, RestURL: "https://x"}, "restURL", "only for type slurm"},
		{"not a URL", BackendSpec{Type: BackendSlurm, RestURL: "https://[bad"}, "restURL", "not a URL"},
		{"unknown scheme", BackendSpec{Type: BackendSlurm, RestURL: "tcp://x:1"}, "restURL", `scheme "tcp"`},
		{"relative socket", BackendSpec{Type: BackendSlurm, RestURL: "unix:run/s.sock"}, "restURL", "unix:///absolute"},
		{"socket with host", BackendSpec{Type: BackendSlurm, RestURL: "unix://host/run/s.sock"}, "restURL", "unix:///absolute"},
		{"https without host", BackendSpec{Type: BackendSlurm, RestURL: "https:///x", TokenFile: "/t"}, "restURL", "no host"},
		{"credentials in URL", BackendSpec{Type: BackendSlurm, RestURL: "https://u:secret@x", TokenFile: "/t"}, "restURL", "carries credentials"},
		{"query in URL", BackendSpec{Type: BackendSlurm, RestURL: "https://x/?a=b", TokenFile: "/t"}, "restURL", "no query"},
		{"plain http to a remote host", BackendSpec{Type: BackendSlurm, RestURL: "http://slurm.example", TokenFile: "/t"}, "restURL", "in clear"},
		{"https without token", BackendSpec{Type: BackendSlurm, RestURL: "https://x"}, "tokenFile", "required"},
		{"relative tokenFile", BackendSpec{Type: BackendSlurm, RestURL: "https://x", TokenFile: "jwt"}, "tokenFile", "absolute path"},
		{"token over the socket", BackendSpec{Type: BackendSlurm, RestURL: "unix:///s", TokenFile: "/t"}, "tokenFile", "rest_auth/local"},
		{"user over the socket", BackendSpec{Type: BackendSlurm, RestURL: "unix:///s", User: "alice"}, "user", "only with an https restURL"},
		{"bad user", BackendSpec{Type: BackendSlurm, RestURL: "https://x", TokenFile: "/t", User: "al ice"}, "user", "not a user name"},
		{"slurm.conf with restURL", BackendSpec{Type: BackendSlurm, RestURL: "unix:///s", Endpoint: "/etc/slurm/slurm.conf"}, "endpoint", "has none"},
		{"relative workDir with restURL", BackendSpec{Type: BackendSlurm, RestURL: "unix:///s", WorkDir: "work"}, "workDir", "must be absolute"},
		{"agent path", BackendSpec{Type: BackendSlurm, RestURL: "unix:///s", Agent: "/opt/meridian/bin/meridian", Sandbox: "landlock"}, "", ""},
		{"agent on PATH", BackendSpec{Type: BackendKubernetes, Image: "x", Agent: "meridian", Sandbox: "none"}, "", ""},
		{"relative agent", BackendSpec{Type: BackendSlurm, Agent: "bin/meridian"}, "agent", "absolute path"},
		{"agent with a space", BackendSpec{Type: BackendSlurm, Agent: "/opt/m agent"}, "agent", "want an absolute path"},
		{"agent as an option", BackendSpec{Type: BackendSlurm, Agent: "-x"}, "agent", "want an absolute path"},
		{"unknown sandbox", BackendSpec{Type: BackendLocal, Sandbox: "chroot"}, "sandbox", "not accepted"},
		{"scratch in memory", BackendSpec{Type: BackendKubernetes, Image: "x", ScratchMedium: "Memory"}, "", ""},
		{"unknown scratch medium", BackendSpec{Type: BackendKubernetes, Image: "x", ScratchMedium: "tmpfs"}, "scratchMedium", "not accepted"},
		{"scratch medium on slurm", BackendSpec{Type: BackendSlurm, ScratchMedium: "Memory"}, "scratchMedium", "only for type kubernetes"},
		{"scratch size", BackendSpec{Type: BackendKubernetes, Image: "x", ScratchSize: "500Gi"}, "", ""},
		{"scratch size not a quantity", BackendSpec{Type: BackendKubernetes, Image: "x", ScratchSize: "500 GB"}, "scratchSize", "not a Kubernetes quantity"},
		{"scratch size negative", BackendSpec{Type: BackendKubernetes, Image: "x", ScratchSize: "-1Gi"}, "scratchSize", "less than 1Mi"},
		{"scratch size too small", BackendSpec{Type: BackendKubernetes, Image: "x", ScratchSize: "100Ki"}, "scratchSize", "less than 1Mi"},
		{"scratch size on slurm", BackendSpec{Type: BackendSlurm, ScratchSize: "1Gi"}, "scratchSize", "only for type kubernetes"},
		{"record key file", BackendSpec{Type: BackendSlurm, RecordKeyFile: "/etc/meridian/site-a.key"}, "", ""},
		{"relative record key file", BackendSpec{Type: BackendSlurm, RecordKeyFile: "keys/a"}, "recordKeyFile", "absolute path"},
		{"record key file with '..'", BackendSpec{Type: BackendSlurm, RecordKeyFile: "/etc/../tmp/a"}, "recordKeyFile", "absolute path"},
		{"record key file with restURL", BackendSpec{Type: BackendSlurm, RestURL: "unix:///s", RecordKeyFile: "/k"}, "recordKeyFile", "only for Slurm through its commands"},
		{"record key file on kubernetes", BackendSpec{Type: BackendKubernetes, Image: "x", RecordKeyFile: "/k"}, "recordKeyFile", "only for type slurm"},
		{"uid through slurmrestd", BackendSpec{Type: BackendSlurm, RestURL: "unix:///s", Sandbox: "uid"}, "sandbox", "run as the user it authenticates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := tt.spec.Problems()
			if tt.field == "" {
				if len(ps) != 0 {
					t.Fatalf("Problems() = %+v, want none", ps)
				}
				return
			}
			for _, p := range ps {
				if p.Field == tt.field && strings.Contains(p.Msg, tt.msg) {
					return
				}
			}
			t.Fatalf("Problems() = %+v, want one for %s containing %q", ps, tt.field, tt.msg)
		})
	}
	// The password of a URL never appears in a message.
	for _, p := range (BackendSpec{Type: BackendSlurm, RestURL: "https://u:hunter2@x", TokenFile: "/t"}).Problems() {
		if strings.Contains(p.Msg, "hunter2") {
			t.Fatalf("message shows the URL's password: %s", p.Msg)
		}
	}
}

// FuzzBackendProblems checks settings as a catalog file would give them:
// any value gets problems or none, never a panic, and a URL's password is
// never repeated.
func FuzzBackendProblems(f *testing.F) {
	f.Add("slurm", "https://u:pw@slurm.example:6820/gw", "~/jwt", "alice", "gpu:h100", "/w")
	f.Add("slurm", "unix:///run/slurmrestd.sock", "", "", "gpu", "")
	f.Add("local", "http://[::1]:1", "/t", "", "", "rel")
	f.Fuzz(func(t *testing.T, typ, restURL, tokenFile, user, gres, workDir string) {
		b := BackendSpec{Type: typ, RestURL: restURL, TokenFile: tokenFile, User: user, Gres: gres, WorkDir: workDir}
		for _, p := range b.Problems() {
			if p.Field == "" || p.Msg == "" {
				t.Fatalf("problem without field or message: %+v", p)
			}
		}
	})
}

func TestKubernetesSettingsAccepted(t *testing.T) {
	secs := int64(30)
	b := BackendSpec{Type: BackendKubernetes, Kubeconfig: "~/.kube/johor.yaml", Context: "johor-prod",
		Namespace: "training", Image: "ghcr.io/example/trainer:1.4", GPUResource: "nvidia.com/gpu",
		NodeSelector: map[string]string{"gpu": "h100", "topology.kubernetes.io/zone": "my-1a"},
		Tolerations: []Toleration{{Key: "gpu", Operator: "Exists", Effect: "NoSchedule"},
			{Key: "node.kubernetes.io/unreachable", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: &secs},
			{Key: "dedicated", Value: "ml"}},
		QueueName: "lab-queue", WorkDir: "/work"}
	if p := b.Problems(); len(p) != 0 {
		t.Fatalf("the SCHEMA example settings are refused: %v", p)
	}
	for _, typ := range []string{"", BackendLocal, BackendSlurm} {
		plain := BackendSpec{Type: typ, Partition: "sg", GresType: "h100", WorkDir: "work"}
		if p := plain.Problems(); len(p) != 0 {
			t.Errorf("type %q with its own settings: %v", typ, p)
		}
	}
}

func TestKubernetesSettingsRefused(t *testing.T) {
	neg := int64(-1)
	cases := []struct {
		name  string
		b     BackendSpec
		field string
	}{
		{"relative work dir", BackendSpec{Image: "t:1", WorkDir: "work"}, "workDir"},
		{"negative toleration seconds", BackendSpec{Image: "t:1", Tolerations: []Toleration{{Key: "k", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: &neg}}}, "tolerations[0].tolerationSeconds"},
		{"toleration seconds without NoExecute", BackendSpec{Image: "t:1", Tolerations: []Toleration{{Key: "k", Operator: "Exists", TolerationSeconds: &neg}}}, "tolerations[0].tolerationSeconds"},
		{"Exists with a value", BackendSpec{Image: "t:1", Tolerations: []Toleration{{Key: "k", Operator: "Exists", Value: "v"}}}, "tolerations[0].value"},
		{"Equal without key", BackendSpec{Image: "t:1", Tolerations: []Toleration{{Value: "v"}}}, "tolerations[0].key"},
		{"node selector value", BackendSpec{Image: "t:1", NodeSelector: map[string]string{"gpu": "h100 sxm"}}, "nodeSelector"},
		{"image with spaces", BackendSpec{Image: "trainer 1.4"}, "image"},
		{"gpu resource with bad prefix", BackendSpec{Image: "t:1", GPUResource: "Nvidia_Com/gpu"}, "gpuResource"},
		{"gres type", BackendSpec{Image: "t:1", GresType: "h100"}, "gresType"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.b.Type = BackendKubernetes
			probs := c.b.Problems()
			for _, p := range probs {
				if p.Field == c.field {
					return
				}
			}
			t.Fatalf("problems %v, want one for %s", probs, c.field)
		})
	}
}
