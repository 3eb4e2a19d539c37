package kubernetes

import (
	"fmt"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
)

// Resources the backend reads and writes, and the patch type it sends.
const (
	resourceJobs        = "jobs"
	resourcePods        = "pods"
	resourceNodes       = "nodes"
	resourceNamespaces  = "namespaces"
	resourceSecrets     = "secrets"
	resourceAccessCheck = "selfsubjectaccessreviews"
	mergePatch          = "application/merge-patch+json"
)

// scheme knows the backend's own object types (api.go) under their API
// kinds, and the meta/v1 types every group carries (Status, ListOptions,
// DeleteOptions, WatchEvent). It is the backend's alone: client-go's
// kubernetes/scheme would link every API group of k8s.io/api.
var scheme = newScheme()

var codecs = serializer.NewCodecFactory(scheme)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for gv, types := range map[schema.GroupVersion]map[string]runtime.Object{
		coreV1:  {"Pod": &apiPod{}, "PodList": &apiPodList{}, "Node": &apiNode{}, "NodeList": &apiNodeList{}, "Secret": &apiSecret{}, "SecretList": &apiSecretList{}},
		batchV1: {"Job": &apiJob{}, "JobList": &apiJobList{}},
		authzV1: {"SelfSubjectAccessReview": &accessReview{}},
	} {
		for kind, obj := range types {
			s.AddKnownTypeWithName(gv.WithKind(kind), obj)
		}
		metav1.AddToGroupVersion(s, gv)
	}
	return s
}

// clients holds a REST client for each API group the backend uses, all
// sharing one HTTP client (one connection pool) and one rate limiter.
type clients struct {
	core  *rest.RESTClient // core/v1: pods, pods/log, nodes, namespaces, secrets
	batch *rest.RESTClient // batch/v1: jobs
	authz *rest.RESTClient // authorization.k8s.io/v1: selfsubjectaccessreviews
}

func newClients(rc *rest.Config) (*clients, error) {
	// The configuration's transport refuses redirects (refuseRedirects).
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, err
	}
	forGroup := func(gv schema.GroupVersion, apiPath string) (*rest.RESTClient, error) {
		return restClientFor(rc, hc, gv, apiPath)
	}
	core, err := forGroup(coreV1, "/api")
	if err != nil {
		return nil, err
	}
	batch, err := forGroup(batchV1, "/apis")
	if err != nil {
		return nil, err
	}
	authz, err := forGroup(authzV1, "/apis")
	if err != nil {
		return nil, err
	}
	return &clients{core: core, batch: batch, authz: authz}, nil
}

// refuseRedirects wraps the transport of every client made from the
// backend's configuration (its own, and those made from RESTConfig's copy)
// so that an answer that is a redirect is an error, not followed.
// client-go's round trippers set the cluster's credential (the
// Authorization header of a bearer token, an exec plugin's or an auth
// provider's) on every request the client makes, a redirected one too,
// whatever host it goes to, and a 307 or 308 keeps the method and the body
// (a Secret's keys, on a create). An API server of Kubernetes answers its
// API with no redirect; one that does (or whoever answers in its place) is
// not sent the credential elsewhere. The refusal is the transport's, not
// the HTTP client's (CheckRedirect): a client made from the configuration
// is built by its maker, and the configuration carries only the transport.
// The answers refused are those Go's HTTP client follows: 301, 302, 303,
// 307 and 308 with a Location.
func refuseRedirects(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if err != nil || !followed(resp) {
			return resp, err
		}
		resp.Body.Close()
		return nil, redirectRefused(req, resp)
	})
}

// followed reports whether Go's HTTP client would follow the answer.
func followed(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return resp.Header.Get("Location") != ""
	}
	return false
}

// redirectRefused says that the answer to req was a redirect, not
// followed. The target is the answer's words, shown escaped and cut.
func redirectRefused(req *http.Request, resp *http.Response) error {
	target := resp.Header.Get("Location")
	if u, err := req.URL.Parse(target); err == nil {
		target = u.Redacted()
	}
	return fmt.Errorf("kubernetes API server: answered with a redirect (%d) to %s; not followed, as it would carry the cluster's credential there",
		resp.StatusCode, shown(target))
}

// restClientFor makes the client of one group version, speaking JSON with
// the backend's scheme. (client-go's typed clients ask for protobuf where
// the API server offers it; decoding that needs k8s.io/api's generated
// code, which is what the backend's own types leave out.)
func restClientFor(rc *rest.Config, hc *http.Client, gv schema.GroupVersion, apiPath string) (*rest.RESTClient, error) {
	c := *rc
	c.GroupVersion = &gv
	c.APIPath = apiPath
	c.NegotiatedSerializer = codecs.WithoutConversion()
	c.ContentType = runtime.ContentTypeJSON
	c.AcceptContentTypes = runtime.ContentTypeJSON
	return rest.RESTClientForConfigAndClient(&c, hc)
}
