package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/fleet"
	"meridian.dev/meridian/internal/plainfile"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
)

// runFleetPlan is `plan --fleet`: every TrainingJob in the files is
// planned as of the date, then the batch is assigned to the catalog's
// pools at least total cost (fleet.Assign), no pool given more than its
// available count. With --quotas, each job takes from its tenant's quota
// and jobs beyond it wait: with --tenant, every job is that tenant's (a
// job labelled for another tenant is refused); without, a job's tenant is
// its meridian.dev/tenant label, else default.
func runFleetPlan(w, errw io.Writer, f planFlags) error {
	if len(f.files) == 0 {
		return badInput(errors.New("-f: give the files or directories with the jobs, their organizations and datasets"))
	}
	if !contains(outputFormats, f.out) {
		return badInput(fmt.Errorf("-o %q: want one of %s", f.out, strings.Join(outputFormats, ", ")))
	}
	if f.job != "" || f.explain != "" || f.plot != "" {
		return badInput(errors.New("--fleet plans every job in the files: --job, --explain and --plot are for one job"))
	}
	asOf, err := parseAsOf(f.asOf)
	if err != nil {
		return badInput(err)
	}
	engine, err := policy.New(policy.Options{Dirs: f.rulesDir})
	if err != nil {
		return badInput(fmt.Errorf("--rules: %w", err))
	}
	world, err := loadWorld(f.catalogDir, f.files...)
	if err != nil {
		return badInput(err)
	}
	if len(world.Jobs) == 0 {
		return badInput(errors.New("-f: the files hold no TrainingJob"))
	}
	// Refused before any is planned: each plan judges every site.
	if len(world.Jobs) > fleet.MaxJobs {
		return badInput(fmt.Errorf("-f: the files hold %d TrainingJobs: at most %d are planned together; plan them in parts", len(world.Jobs), fleet.MaxJobs))
	}
	if f.tenantSet && f.quotas == "" {
		return badInput(errors.New("--tenant names the tenant whose quota the jobs take from: give --quotas too"))
	}
	var opts fleet.Options
	if f.quotas != "" {
		if !fleet.ValidTenant(f.tenant) {
			return badInput(fmt.Errorf("--tenant %q: want a tenant name (lower-case letters, digits, '.', '_', '-'; up to 63)", f.tenant))
		}
		// Named on the command line, and read once: a pipe will do.
		data, err := plainfile.ReadNamed(f.quotas, catalog.MaxFileBytes)
		if err != nil {
			return badInput(fmt.Errorf("--quotas: %w", err))
		}
		if opts.Quotas, err = fleet.ParseQuotas(f.quotas, data, world.Accelerators); err != nil {
			return badInput(fmt.Errorf("--quotas: %w", err))
		}
		if msg := opts.Quotas.UnnamedWarning(); msg != "" {
			fmt.Fprintf(errw, "--quotas %s: %s\n", f.quotas, msg)
		}
		if opts.Tenants, err = fleetTenants(world.Jobs, f); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	plans := make([]*planner.Plan, 0, len(world.Jobs))
	for _, job := range world.Jobs {
		if seen[job.Metadata.Name] {
			return badInput(fmt.Errorf("TrainingJob %s: given twice; a fleet's jobs need distinct names", job.Metadata.Name))
		}
		seen[job.Metadata.Name] = true
		law, err := screenedLaw(engine, world.Organizations[job.Spec.Organization])
		if err != nil {
			return err
		}
		plan, err := planner.Make(world, job, planner.Options{AsOf: asOf, Rules: law, IncludeAllocation: f.includeAllocation})
		if err != nil {
			return fmt.Errorf("plan %s: %w", job.Metadata.Name, err)
		}
		plans = append(plans, plan)
	}
	res, err := fleet.PlanFleet(world, plans, opts)
	if err != nil {
		return err
	}
	err = renderTable(w, f.out, res, func(w io.Writer, wide bool) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "JOB\tSITE\tACCELERATOR\tCOUNT\tCOST")
		for _, a := range res.Assignments {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t$%.0f\n", a.Job, a.Site, a.Accelerator, a.Count, a.CostUSD)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, wt := range res.Waiting {
			fmt.Fprintf(w, "waiting: %s: %s\n", wt.Job, wt.Reason)
		}
		gap := "proven optimal"
		if res.OptimalityGap > 0 {
			gap = fmt.Sprintf("within %.2f%% of optimal", 100*res.OptimalityGap)
		} else if res.OptimalityGap < 0 {
			gap = "gap unknown"
		}
		_, err := fmt.Fprintf(w, "%d placed, %d waiting, total $%.0f, %s (solved in %.3fs)\n", len(res.Assignments), len(res.Waiting), res.TotalCostUSD, gap, res.SolveSeconds)
		return err
	})
	if err != nil {
		return err
	}
	if len(res.Assignments) == 0 {
		return &codeError{code: exitNoPlacement, err: errSilent}
	}
	return nil
}

// maxOthersNamed bounds the other jobs fleetTenants's refusal names.
const maxOthersNamed = 5

// fleetTenants is the tenant whose quota each job takes from, before any
// is planned. --tenant, when given, names it for every job: a what-if
// plan for one tenant that charged a job labelled for another to that
// other's quota would show one tenant's jobs fitting in quota they do not
// have, so such a job is refused, naming it, its label and the flag (and
// how many others differ). Without --tenant, a job's meridian.dev/tenant
// label names its tenant, and a job without one is the default tenant's.
func fleetTenants(jobs []*catalog.TrainingJob, f planFlags) ([]string, error) {
	tenants := make([]string, 0, len(jobs))
	var differ []string
	for _, job := range jobs {
		label, labelled := job.Metadata.Labels[fleet.TenantLabel]
		if labelled && !fleet.ValidTenant(label) {
			return nil, badInput(fmt.Errorf("TrainingJob %s metadata.labels[%s]: %q: want a tenant name (lower-case letters, digits, '.', '_', '-'; up to 63)", job.Metadata.Name, fleet.TenantLabel, label))
		}
		switch {
		case f.tenantSet:
			if labelled && label != f.tenant {
				differ = append(differ, fmt.Sprintf("%s metadata.labels[%s]: %q", job.Metadata.Name, fleet.TenantLabel, label))
			}
			tenants = append(tenants, f.tenant)
		case labelled:
			tenants = append(tenants, label)
		default:
			tenants = append(tenants, f.tenant)
		}
	}
	if len(differ) == 0 {
		return tenants, nil
	}
	msg := fmt.Sprintf("TrainingJob %s, but --tenant %s: with --tenant every job takes from that tenant's quota, and this job is labelled for another tenant; set its label to %s or remove it, or leave out --tenant to charge each job to its label's tenant", differ[0], f.tenant, f.tenant)
	if rest := differ[1:]; len(rest) > 0 {
		named := rest
		if len(named) > maxOthersNamed {
			named = named[:maxOthersNamed]
		}
		msg += fmt.Sprintf(" (%d more jobs labelled for another tenant: %s", len(rest), strings.Join(named, "; "))
		if len(rest) > len(named) {
			msg += "; …"
		}
		msg += ")"
	}
	return nil, badInput(errors.New(msg))
}
