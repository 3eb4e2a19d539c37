// Package api is Meridian's HTTP API: submit, list, describe, cancel and
// follow runs, and read and verify the audit log. Every route requires a
// bearer token; a token maps to a tenant and a tenant sees only its own
// runs. Bad input gets a 4xx JSON error and changes nothing.
package api
