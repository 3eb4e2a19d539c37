package main

import (
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/kubernetes"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
)

// siteBackends are the backend types this program runs, named here and
// nowhere else: every catalog it loads (plan, validate, serve, dataset)
// accepts these types and no others, and the server makes its sites'
// backends from this set alone. A site without a backend is for planning.
var siteBackends = backend.Set{
	catalog.BackendLocal:      local.Factory,
	catalog.BackendSlurm:      slurm.Factory,
	catalog.BackendKubernetes: kubernetes.Factory,
}

// loadWorld loads the built-in catalog, the sites of catalogDir (when set)
// in their place, and files, validated for planning and for this program:
// a site whose backend it cannot run is a load error, not a failed run.
// Without catalogDir, the configuration file's context may name one.
func loadWorld(catalogDir string, files ...string) (*catalog.World, error) {
	if catalogDir == "" {
		d, err := defaultCatalog()
		if err != nil {
			return nil, err
		}
		catalogDir = d
	}
	w, err := catalog.Load(planner.AssumptionKeys(), catalogDir, files...)
	if err != nil {
		return nil, err
	}
	if err := w.CheckBackends(siteBackends.Types()); err != nil {
		return nil, err
	}
	return w, nil
}
