package kubernetes

import (
	"net/http"

	authorizationv1 "k8s.io/client-go/kubernetes/typed/authorization/v1"
	batchv1 "k8s.io/client-go/kubernetes/typed/batch/v1"
	corev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
)

// clients holds the typed clients of the three API groups the backend uses.
// Building only these, rather than the clientset of every group, keeps most
// of client-go's generated clients out of the binary.
type clients struct {
	batch batchv1.BatchV1Interface
	core  corev1.CoreV1Interface
	authz authorizationv1.AuthorizationV1Interface
}

func newClients(rc *rest.Config) (*clients, error) {
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, err
	}
	return newClientsFor(rc, hc)
}

// newClientsFor shares one HTTP client (and so one connection pool) between
// the groups.
func newClientsFor(rc *rest.Config, hc *http.Client) (*clients, error) {
	b, err := batchv1.NewForConfigAndClient(rc, hc)
	if err != nil {
		return nil, err
	}
	c, err := corev1.NewForConfigAndClient(rc, hc)
	if err != nil {
		return nil, err
	}
	a, err := authorizationv1.NewForConfigAndClient(rc, hc)
	if err != nil {
		return nil, err
	}
	return &clients{batch: b, core: c, authz: a}, nil
}

func (c *clients) BatchV1() batchv1.BatchV1Interface                         { return c.batch }
func (c *clients) CoreV1() corev1.CoreV1Interface                            { return c.core }
func (c *clients) AuthorizationV1() authorizationv1.AuthorizationV1Interface { return c.authz }
