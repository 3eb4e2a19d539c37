package run

import (
	"fmt"
	"sort"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
)

// BuildWorld returns the built-in catalog plus, when catalogDir is set, its
// sites in place of the built-in ones, plus the submitted documents,
// validated. Errors name the document, line and field.
func BuildWorld(catalogDir string, docs []Document) (*catalog.World, error) {
	var cs *catalog.Set
	if catalogDir != "" {
		var err error
		if cs, err = catalog.LoadFiles(catalogDir); err != nil {
			return nil, err
		}
	}
	return buildWorld(cs, docs)
}

// buildWorld is BuildWorld over an already loaded catalog set (read only).
func buildWorld(cs *catalog.Set, docs []Document) (*catalog.World, error) {
	sets := make([]*catalog.Set, 0, len(docs))
	for _, d := range docs {
		set, err := catalog.Decode(d.Name, []byte(d.Content))
		if err != nil {
			return nil, err
		}
		sets = append(sets, set)
	}
	return catalog.Assemble(planner.AssumptionKeys(), cs, sets...)
}

// Planner plans job in w as of a date, never placing it at an excluded
// site. `meridian serve` wires planner.Make with the law engine.
type Planner func(w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error)

// ruleIDs lists every rule id a plan cites, sorted and unique.
func ruleIDs(p *planner.Plan) []string {
	seen := map[string]bool{}
	for _, pl := range p.Placements {
		for _, f := range pl.Obligations {
			seen[f.Rule] = true
		}
		for _, f := range pl.Advisories {
			seen[f.Rule] = true
		}
	}
	for _, r := range p.Rejected {
		for _, f := range r.Reasons {
			seen[f.Rule] = true
		}
	}
	delete(seen, "")
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// pickJob returns the named job, or the only job when name is empty.
func pickJob(w *catalog.World, name string) (*catalog.TrainingJob, error) {
	if name != "" {
		j := w.Job(name)
		if j == nil {
			return nil, fmt.Errorf("job: no TrainingJob named %q in the submitted files", name)
		}
		return j, nil
	}
	switch len(w.Jobs) {
	case 0:
		return nil, fmt.Errorf("job: the submitted files hold no TrainingJob")
	case 1:
		return w.Jobs[0], nil
	default:
		names := make([]string, len(w.Jobs))
		for i, j := range w.Jobs {
			names[i] = j.Metadata.Name
		}
		return nil, fmt.Errorf("job: the files hold %d TrainingJobs (%v); name one", len(names), names)
	}
}
