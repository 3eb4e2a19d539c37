// Package api is Meridian's HTTP API: runs, plans, estimates, the catalog,
// a tenant's datasets, the audit log and, for admins, tenants and tokens.
//
// The routes are one table (routes.go): each says its method and path, who
// may call it (a tenant, an admin, anyone), its deadline, body limit, cost
// against the tenant's rate limit and the Go types of its bodies. The
// server is built from the table, and so is the OpenAPI 3.1 document it
// serves at GET /v1/openapi.json; the route matrix test checks every
// route's answers to every kind of caller against that document.
//
// Every route but GET /healthz and the document requires a bearer token.
// Tokens are kept in the store as hashes (Auth); a token speaks for one
// tenant (PrincipalOf), which sees only its own runs and data: another
// tenant's run answers 404, as an unknown one does. Admin tokens may also
// manage tenants. Bad input gets a 4xx JSON error {"error": {"code",
// "field", "message"}} and changes nothing.
//
// Attempts' agents use the routes under /v1/agent/ with their attempt
// credential (run.Controller.AgentHandler), not a token.
package api
