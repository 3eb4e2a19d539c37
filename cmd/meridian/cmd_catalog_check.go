package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/run"
)

func newCatalogCheckCmd() *cobra.Command {
	var (
		out        string
		files      []string
		catalogDir string
	)
	cmd := &cobra.Command{
		Use:   "check [SITE...]",
		Short: "Check each site's scheduler settings against the scheduler itself",
		Long: `Check asks each site with a Slurm or Kubernetes backend whether its settings
work, as meridian serve does when it loads its catalog: that the kubeconfig
and context exist and the API server accepts the credentials, that the
namespace exists and its user may create, watch and delete Jobs there, that a
node the nodeSelector picks offers the GPU resource; that slurmrestd answers
and accepts the token, that the partition exists and one of its nodes has the
GRES; and that a remote site names its store (and, through slurmrestd, a work
directory). It submits nothing.

Each failure names the site, its file and line, and the setting to fix. serve
does not refuse to start over a failing site: it excludes the site from
planning (plans show why, as a rejection of kind "site") and checks it again
every 30 s. Exit 0 when every checked site passes, 1 when one fails, 2 on bad
input.`,
		Example: `  meridian catalog check --catalog sites/
  meridian catalog check --catalog sites/ johor-k8s -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			world, err := catalog.Load(planner.AssumptionKeys(), catalogDir, files...)
			if err != nil {
				return badInput(err)
			}
			var sites []*catalog.Site
			for _, name := range args {
				s := world.Site(name)
				if s == nil {
					names := make([]string, len(world.Sites))
					for i, s := range world.Sites {
						names[i] = s.Metadata.Name
					}
					return badInput(unknownErr("site", name, names))
				}
				sites = append(sites, s)
			}
			if len(args) == 0 {
				for _, s := range world.Sites {
					if run.Checked(s) {
						sites = append(sites, s)
					}
				}
			}
			tmp, err := os.MkdirTemp("", "meridian-check-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			res := checkSites(cmd.Context(), sites, tmp)
			w := cmd.OutOrStdout()
			if err := render(w, out, res, func(w io.Writer) error { return checkTable(w, res) }); err != nil {
				return err
			}
			for _, h := range res {
				if !h.OK {
					return &codeError{code: exitError, err: errSilent}
				}
			}
			return nil
		},
	}
	addOutputFlag(cmd, &out)
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "resource file or directory whose sites are added (repeatable)")
	cmd.Flags().StringVar(&catalogDir, "catalog", "", "directory of Site files that replace the built-in sites (as serve --catalog)")
	return cmd
}

// checkSites checks the sites at once, each backend keeping its state in
// its own directory under tmp.
func checkSites(ctx context.Context, sites []*catalog.Site, tmp string) []run.SiteHealth {
	if ctx == nil {
		ctx = context.Background()
	}
	out := make([]run.SiteHealth, len(sites))
	var wg sync.WaitGroup
	for i, s := range sites {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := run.SiteHealth{Site: s.Metadata.Name, Backend: s.Spec.Backend.Type, OK: true}
			if h.Backend == "" {
				h.Backend = catalog.BackendLocal
			}
			err := checkOne(ctx, s, filepath.Join(tmp, fmt.Sprint(i)))
			h.Checked = time.Now().UTC()
			if err != nil {
				h.OK, h.Problem = false, err.Error()
			}
			out[i] = h
		}()
	}
	wg.Wait()
	return out
}

func checkOne(ctx context.Context, s *catalog.Site, stateDir string) error {
	if ps := run.RemoteProblems(s); len(ps) > 0 {
		return run.CheckSite(ctx, s, nil)
	}
	be, err := checkBackends(stateDir).For(s.Spec.Backend, stateDir)
	if err != nil {
		return fmt.Errorf("site %s (%s): %w", s.Metadata.Name, s.Pos, err)
	}
	if c, ok := be.(io.Closer); ok {
		defer c.Close()
	}
	return run.CheckSite(ctx, s, be)
}

// checkBackends is the set a check makes the backend of a site whose
// state is stateDir from: siteBackends, a Slurm backend given a record key
// file of the check's own beside stateDir, as serve gives one of its own
// settings. Without one, a site whose backend.recordKeyFile names its own
// key is refused: its backend would keep its log of retires in stateDir.
func checkBackends(stateDir string) backend.Set {
	set := maps.Clone(siteBackends)
	set[catalog.BackendSlurm] = slurm.FactoryWith(slurm.RecordKeyFile(filepath.Join(stateDir+".settings", slurmRecordKeyFile)))
	return set
}

func checkTable(w io.Writer, res []run.SiteHealth) error {
	if len(res) == 0 {
		_, err := fmt.Fprintln(w, "no site has a Slurm or Kubernetes backend: nothing to check")
		return err
	}
	t := newTab(w)
	row(t, "SITE", "BACKEND", "CHECK")
	for _, h := range res {
		status := "ok"
		if !h.OK {
			status = h.Problem
		}
		row(t, h.Site, h.Backend, status)
	}
	return t.Flush()
}
