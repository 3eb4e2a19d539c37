// Package fleet is what Meridian needs to run many jobs on finite lawful
// capacity: tenants' quotas per accelerator family, grouped in cohorts that
// lend what a member does not use (in the manner of Kueue's ClusterQueues);
// the order in which waiting runs are admitted (fair share across tenants,
// priority within one); and a global assignment of a batch of jobs to pools
// that minimises total cost without giving any pool more than it has free.
//
// It decides; the run package's controller acts on the decisions, and the
// store enforces the limits in the transaction that takes the capacity.
package fleet
