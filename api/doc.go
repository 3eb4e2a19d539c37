// Package api is Meridian's HTTP API: submit, list, describe, cancel and
// follow runs, and read and verify the audit log. Every route requires a
// bearer token; a token maps to a tenant and a tenant sees only its own
// runs (another tenant's run answers 404, as an unknown one does). Bad input
// gets a 4xx JSON error {"error": {"code", "field", "message"}} and changes
// nothing.
//
//	GET  /v1/healthz
//	POST /v1/runs                  run.SubmitRequest → 201 (200 for a repeated idempotency key)
//	GET  /v1/runs                  {"runs": [...]}
//	GET  /v1/runs/{id}
//	GET  /v1/runs/{id}/events      {"events": [...]}
//	GET  /v1/runs/{id}/logs?offset=N   text; X-Log-Size carries the total length
//	POST /v1/runs/{id}/cancel      202
//	GET  /v1/audit?run=ID          {"entries": [...]} (the tenant's runs only)
//	GET  /v1/audit/verify          audit.Result
//
// Request bodies are limited to MaxBodyBytes (413 beyond).
package api
