package catalog

import "testing"

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
