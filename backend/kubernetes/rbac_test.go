package kubernetes_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/clientcmd"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
)

// documentedRoles reads the Role and the ClusterRole of the manifest in
// docs/kubernetes-rbac.md.
func documentedRoles(t *testing.T) (rbacv1.Role, rbacv1.ClusterRole) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "kubernetes-rbac.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	manifest, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/kubernetes-rbac.md holds no yaml block")
	}
	var role rbacv1.Role
	var cluster rbacv1.ClusterRole
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("docs/kubernetes-rbac.md: %v", err)
		}
		data, _ := json.Marshal(obj)
		var err error
		switch obj["kind"] {
		case "Role":
			err = json.Unmarshal(data, &role)
		case "ClusterRole":
			err = json.Unmarshal(data, &cluster)
		}
		if err != nil {
			t.Fatalf("docs/kubernetes-rbac.md: %v", err)
		}
	}
	if len(role.Rules) == 0 || len(cluster.Rules) == 0 {
		t.Fatal("docs/kubernetes-rbac.md: the manifest lacks the Role or the ClusterRole")
	}
	return role, cluster
}

// TestDocumentedRBACSuffices: the lab's tenant user, given the rights
// docs/kubernetes-rbac.md lists and no others, passes Check and runs an
// attempt through (submit, status, logs, capacity, sweep, cancel); given
// them less list on Jobs (which the watch cache needs before it watches),
// Check says so.
func TestDocumentedRBACSuffices(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	tok := os.Getenv("MERIDIAN_KUBE_TENANT_TOKEN")
	if tok == "" {
		t.Fatal("MERIDIAN_TEST_KUBE=1 but MERIDIAN_KUBE_TENANT_TOKEN is not set (source scripts/kube-up.sh's env.sh)")
	}
	role, cluster := documentedRoles(t)
	name := fmt.Sprintf("meridian-rbac-test-%d", time.Now().UnixNano())
	ctx := testCtx(t)
	role.ObjectMeta = metav1.ObjectMeta{Name: name, Namespace: labNamespace}
	cluster.ObjectMeta = metav1.ObjectMeta{Name: name}
	subjects := []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "meridian-tenant"}}
	if _, err := cs.RbacV1().Roles(labNamespace).Create(ctx, &role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.RbacV1().Roles(labNamespace).Delete(context.Background(), name, metav1.DeleteOptions{}) })
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &cluster, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	if _, err := cs.RbacV1().RoleBindings(labNamespace).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: labNamespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name}, Subjects: subjects,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cs.RbacV1().RoleBindings(labNamespace).Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name}, Subjects: subjects,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	raw, err := clientcmd.LoadFromFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range raw.AuthInfos {
		u.Token, u.ClientCertificateData, u.ClientKeyData, u.ClientCertificate, u.ClientKey = tok, nil, nil, "", ""
	}
	tenant := filepath.Join(t.TempDir(), "tenant.kubeconfig")
	if err := clientcmd.WriteToFile(*raw, tenant); err != nil {
		t.Fatal(err)
	}

	b := newBackend(t, site(tenant), t.TempDir())
	// RBAC changes reach the authorizer through its cache.
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := b.Check(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Check with the documented rights: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	spec := backend.Spec{RunID: uniqueRunID("rbac"), Attempt: 1, WorkDir: t.TempDir(),
		Command: []string{"/bin/sh", "-c", `echo "rbac-ok"; sleep 600`}, Secret: map[string]string{"TOKEN": "x"}}
	h, err := b.Submit(ctx, spec)
	if err != nil {
		t.Fatalf("Submit with the documented rights: %v", err)
	}
	deadline = time.Now().Add(backendtest.Timeout)
	for {
		var logs []byte
		st, err := b.Status(ctx, h)
		if err == nil && st.State == backend.Running {
			if rc, err := b.Logs(ctx, h); err == nil {
				logs, _ = io.ReadAll(rc)
				rc.Close()
			}
			if bytes.Contains(logs, []byte("rbac-ok")) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("with the documented rights: Status %+v, %v; logs %q", st, err, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// What Status asks of a pod the watch cache shows live when its Job
	// completes (whether it runs still).
	if err := b.PodsNowForTest(ctx, h); err != nil {
		t.Errorf("asking the API server for the attempt's running pod with the documented rights: %v", err)
	}
	if _, err := b.Capacity(ctx); err != nil {
		t.Errorf("Capacity with the documented rights: %v", err)
	}
	if _, err := b.SweepSecrets(ctx, time.Hour); err != nil {
		t.Errorf("SweepSecrets with the documented rights: %v", err)
	}
	if err := b.Cancel(ctx, h); err != nil {
		t.Errorf("Cancel with the documented rights: %v", err)
	}

	// Less list on Jobs: Check names it.
	for i, r := range role.Rules {
		if len(r.Resources) == 1 && r.Resources[0] == "jobs" {
			var verbs []string
			for _, v := range r.Verbs {
				if v != "list" {
					verbs = append(verbs, v)
				}
			}
			role.Rules[i].Verbs = verbs
		}
	}
	if _, err := cs.RbacV1().Roles(labNamespace).Update(ctx, &role, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		err := b.Check(ctx)
		if err != nil && strings.Contains(err.Error(), "may not list jobs") && strings.Contains(err.Error(), "backend.namespace") {
			t.Logf("Check: %v", err)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Check of a user who may not list Jobs: %v; want an error naming backend.namespace and list jobs", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
