package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"meridian.dev/meridian/backend"
)

// Check asks the cluster whether the site's settings can work: the API
// server answers and accepts the credentials, the namespace exists and the
// user may do there what the backend does (create, read, list, watch,
// patch and delete Jobs; create, read, list, update, patch and delete the
// attempts' Secrets; list and watch Pods and read their logs; list and
// watch Nodes: docs/kubernetes-rbac.md), and some node that
// backend.nodeSelector picks offers backend.gpuResource. Each error names
// the setting to fix. The watch caches list before they watch, so a user
// who may watch but not list passed a check that asked for watch alone and
// failed at the first Status. An API server older than the backend
// submits to (versionErr) fails the check, naming its version, as does
// one that drops the matchLabelKeys of a Job's anti-affinity term
// (spreadErr), naming the field.
func (b *Backend) Check(ctx context.Context) error {
	var refused *versionRefusedError
	if err := b.versionErr(ctx); errors.As(err, &refused) {
		return err
	} else if err != nil {
		if apierrors.IsUnauthorized(err) {
			return fmt.Errorf("backend.kubeconfig: the API server at %s refuses the credentials: %w", b.host, err)
		}
		return fmt.Errorf("backend.kubeconfig: %w", err)
	}
	if err := b.spreadRefusal(); err != nil {
		return err
	}
	var problems []string
	for _, a := range []resourceAttributes{
		{Namespace: b.ns, Verb: "create", Group: "batch", Resource: "jobs"},
		{Namespace: b.ns, Verb: "get", Group: "batch", Resource: "jobs"},
		{Namespace: b.ns, Verb: "list", Group: "batch", Resource: "jobs"},
		{Namespace: b.ns, Verb: "watch", Group: "batch", Resource: "jobs"},
		{Namespace: b.ns, Verb: "patch", Group: "batch", Resource: "jobs"},
		{Namespace: b.ns, Verb: "delete", Group: "batch", Resource: "jobs"},
		{Namespace: b.ns, Verb: "create", Resource: "secrets"},
		{Namespace: b.ns, Verb: "get", Resource: "secrets"},
		{Namespace: b.ns, Verb: "list", Resource: "secrets"},
		{Namespace: b.ns, Verb: "update", Resource: "secrets"},
		{Namespace: b.ns, Verb: "patch", Resource: "secrets"},
		{Namespace: b.ns, Verb: "delete", Resource: "secrets"},
		{Namespace: b.ns, Verb: "list", Resource: "pods"},
		{Namespace: b.ns, Verb: "watch", Resource: "pods"},
		{Namespace: b.ns, Verb: "delete", Resource: "pods"},
		{Namespace: b.ns, Verb: "get", Resource: "pods", Subresource: "log"},
		{Verb: "list", Resource: "nodes"},
		{Verb: "watch", Resource: "nodes"},
	} {
		var r accessReview
		err := b.cs.authz.Post().Resource(resourceAccessCheck).
			Body(&accessReview{Spec: accessReviewSpec{ResourceAttributes: &a}}).Do(ctx).Into(&r)
		if err != nil {
			return fmt.Errorf("backend.kubeconfig: asking the API server what the user may do: %w", siteError(tooLarge(err)))
		}
		if !r.Status.Allowed {
			what := a.Verb + " " + a.Resource
			if a.Subresource != "" {
				what += "/" + a.Subresource
			}
			problems = append(problems, what)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("backend.namespace %q: the kubeconfig's user may not %s", b.ns, strings.Join(problems, ", "))
	}
	if err := b.cs.core.Get().Resource(resourceNamespaces).Name(b.ns).Do(ctx).Error(); apierrors.IsNotFound(err) {
		return fmt.Errorf("backend.namespace: namespace %q does not exist", b.ns)
	}
	// Asked once the user may create Jobs, which the dry run needs (a
	// refusal of that is told by name above), and once the namespace is
	// known to exist: a create in one that does not is answered "not
	// found", which would not say which.
	if err := b.spreadErr(ctx); err != nil {
		return err
	}
	if err := b.watch.ready(ctx); err != nil {
		return err
	}
	if _, _, err := b.placement(ctx, 1); err != nil && !errors.Is(err, backend.ErrSiteDown) {
		return err
	}
	return nil
}
