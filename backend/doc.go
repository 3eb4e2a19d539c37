// Package backend runs workloads on a site's scheduler. Backends submit,
// report status, cancel and stream logs; they know nothing of law, prices or
// keys.
//
// Implementations live in sub-packages (local, slurm) and register themselves
// for For; backendtest holds the conformance suite that each one passes.
// ParseProgress reads the progress lines that the example trainer prints.
package backend
