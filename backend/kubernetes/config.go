package kubernetes

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"meridian.dev/meridian/catalog"
)

// restConfig loads the client configuration that the site's kubeconfig and
// context name. Errors name the site setting that is wrong.
func restConfig(site catalog.BackendSpec) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if site.Kubeconfig != "" {
		path, err := expandHome(site.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("backend.kubeconfig: %w", err)
		}
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("backend.kubeconfig: %w", err)
		}
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
	}
	raw, err := rules.Load()
	if err != nil {
		return nil, fmt.Errorf("backend.kubeconfig %s: %w", describePath(site.Kubeconfig), err)
	}
	if site.Kubeconfig == "" && len(raw.Contexts) == 0 {
		// No kubeconfig at all: running inside the cluster is the last resort.
		if site.Context != "" {
			return nil, fmt.Errorf("backend.context: %q: no kubeconfig found ($KUBECONFIG, ~/.kube/config); set backend.kubeconfig", site.Context)
		}
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("backend.kubeconfig: not set, no $KUBECONFIG or ~/.kube/config, and not running in a cluster (%v)", err)
		}
		return cfg, nil
	}
	ctxName := site.Context
	if ctxName == "" {
		ctxName = raw.CurrentContext
		if ctxName == "" {
			return nil, fmt.Errorf("backend.context: %s has no current-context; name one of: %s",
				describePath(site.Kubeconfig), strings.Join(contextNames(raw), ", "))
		}
	}
	if _, ok := raw.Contexts[ctxName]; !ok {
		field := "backend.context"
		if site.Context == "" {
			field = "backend.kubeconfig"
		}
		return nil, fmt.Errorf("%s: context %q is not in %s (it has: %s)", field, ctxName,
			describePath(site.Kubeconfig), strings.Join(contextNames(raw), ", "))
	}
	cc := clientcmd.NewNonInteractiveClientConfig(*raw, ctxName, &clientcmd.ConfigOverrides{}, rules)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("backend.kubeconfig %s, context %q: %w", describePath(site.Kubeconfig), ctxName, err)
	}
	return cfg, nil
}

func contextNames(c *clientcmdapi.Config) []string {
	out := make([]string, 0, len(c.Contexts))
	for n := range c.Contexts {
		out = append(out, n)
	}
	sort.Strings(out)
	if len(out) == 0 {
		return []string{"(none)"}
	}
	return out
}

func describePath(p string) string {
	if p == "" {
		return "(default: $KUBECONFIG or ~/.kube/config)"
	}
	return p
}

// expandHome resolves a leading "~/" to the user's home directory.
func expandHome(p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("%s: %w", p, err)
		}
		return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
	}
	if strings.HasPrefix(p, "~") {
		return "", errors.New(p + ": only ~/ (the current user's home) is understood")
	}
	return p, nil
}
