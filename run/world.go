package run

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
)

// BuildWorld returns the built-in catalog plus, when catalogDir is set, its
// sites in place of the built-in ones, plus the documents, validated. Errors
// name the document, line and field. It is for planning on one's own
// machine; a server builds a run's world from its operator's catalog and the
// tenant's registered resources instead (Controller.requestWorld).
func BuildWorld(catalogDir string, docs []Document) (*catalog.World, error) {
	var cs *catalog.Set
	if catalogDir != "" {
		var err error
		if cs, err = catalog.LoadFiles(catalogDir); err != nil {
			return nil, err
		}
	}
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
// site. `meridian serve` wires planner.Make with the law engine. ctx is
// the request's, or the controller's for its own re-plans: once it is
// done the plan stops and fails with its error (planner.Options.Context).
type Planner func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error)

// MaxDocuments bounds the files of one request (the API refuses a body
// listing more before decoding it).
const MaxDocuments = 64

// request is a submission's documents, decoded.
type request struct {
	orgs     []*catalog.Organization
	datasets []*catalog.Dataset
	jobs     []*catalog.TrainingJob
}

// decodeRequest decodes a request's documents. Sites come from the
// operator's catalog: a request that defines one is refused.
func decodeRequest(docs []Document) (*request, error) {
	if len(docs) > MaxDocuments {
		return nil, &InputError{"documents", fmt.Errorf("%d files, at most %d", len(docs), MaxDocuments)}
	}
	var rq request
	for _, d := range docs {
		set, err := catalog.Decode(d.Name, []byte(d.Content))
		if err != nil {
			return nil, &InputError{"documents", err}
		}
		for _, s := range set.Sites {
			return nil, &InputError{"documents", fmt.Errorf("%s: Site %s: sites come from the operator's catalog; a request may name sites but never define or redefine one", s.Pos, s.Metadata.Name)}
		}
		rq.orgs = append(rq.orgs, set.Organizations...)
		rq.datasets = append(rq.datasets, set.Datasets...)
		rq.jobs = append(rq.jobs, set.Jobs...)
	}
	return &rq, nil
}

// resourceOf is the registered form of an Organization or a Dataset: its
// canonical JSON and that JSON's hash.
func resourceOf(kind, name string, v any, storeKey string) (store.Resource, error) {
	doc, err := json.Marshal(v)
	if err != nil {
		return store.Resource{}, err
	}
	sum := sha256.Sum256(doc)
	return store.Resource{Kind: kind, Name: name, Doc: doc, Hash: hex.EncodeToString(sum[:]), StoreKey: storeKey}, nil
}

func datasetResource(d *catalog.Dataset) (store.Resource, error) {
	return resourceOf(catalog.KindDataset, d.Metadata.Name, d, datasetStoreKey(d))
}

// datasetStoreKey is the key under which d's data is owned (the resources
// row's store key): none without a store.
func datasetStoreKey(d *catalog.Dataset) string {
	if d.Spec.Store == "" {
		return ""
	}
	// By the store as it opens: another spelling of the same place
	// (a trailing "/", a "." or a doubled "/") is the same data.
	return dataset.StoreKey(d.Spec.Store) + "|" + d.Metadata.Name
}

// DatasetStoreKeyFormat names the key DatasetStoreKey computes, for
// store.RekeyResources: a start whose format is the one recorded reads no
// row.
const DatasetStoreKeyFormat = "store|name/" + dataset.StoreKeyFormat

// DatasetStoreKey is the store key of a registered Dataset's document (its
// canonical JSON, a resources row's doc), as a registration of it today
// would hold: for store.RekeyResources, at a start, to move rows that a
// registration under an earlier key format wrote.
//
// A document whose store is a relative file URL (registered before the
// server refused one) gives no key, an error beginning with
// ErrRelativeStore's text: its key would be read from the directory the
// start runs in, moving the row away from the key its registration held
// and leaving that free for another tenant. The row keeps its key, and
// the start warns of it (as at each start until it is registered again).
func DatasetStoreKey(doc []byte) (string, error) {
	var d catalog.Dataset
	if err := json.Unmarshal(doc, &d); err != nil {
		return "", fmt.Errorf("dataset document: %w", err)
	}
	if dataset.NotAbsoluteFile(d.Spec.Store) {
		return "", fmt.Errorf("%w: %q", ErrRelativeStore, d.Spec.Store)
	}
	return datasetStoreKey(&d), nil
}

// ErrRelativeStore is DatasetStoreKey's error for a dataset whose
// spec.store does not name its directory absolutely.
var ErrRelativeStore = errors.New("spec.store is a file URL that does not name its directory absolutely")

// registry is a tenant's registered organisations and datasets.
type registry struct {
	orgs     map[string]*catalog.Organization
	datasets map[string]*catalog.Dataset
	rows     map[string]*store.Resource // kind/name
}

// MaxResources and MaxResourceBytes bound what one tenant may register (its
// Organizations and Datasets, as their canonical JSON): every plan of the
// tenant's reads all of it, and GET /v1/resources answers all of it, so
// without a bound a tenant could make both as large as it liked.
const (
	MaxResources     = 10000
	MaxResourceBytes = 32 << 20
)

// The bounds room checks; tests lower them.
var maxResources, maxResourceBytes = MaxResources, MaxResourceBytes

// room refuses res, resources to register or to replace registered ones,
// when they would take the tenant's registrations past MaxResources or
// MaxResourceBytes. Requests in flight at once may each pass it: the bound
// is exceeded by at most their documents.
func (reg *registry) room(res []store.Resource) error {
	n, size := len(reg.rows), 0
	for _, r := range reg.rows {
		size += len(r.Doc)
	}
	seen := map[string]bool{}
	for _, r := range res {
		k := r.Kind + "/" + r.Name
		if seen[k] {
			continue
		}
		seen[k] = true
		if old := reg.rows[k]; old != nil {
			size += len(r.Doc) - len(old.Doc)
		} else {
			n++
			size += len(r.Doc)
		}
	}
	switch {
	case n > maxResources:
		return &InputError{"documents", fmt.Errorf("they would make %d registered Organizations and Datasets, more than the %d a tenant may register", n, maxResources)}
	case size > maxResourceBytes:
		return &InputError{"documents", fmt.Errorf("they would make the tenant's registered Organizations and Datasets %d bytes (as JSON), more than the %d a tenant may register", size, maxResourceBytes)}
	}
	return nil
}

// storeReadError is a failure to read the store: it says nothing about a
// run's documents or the law, and the same read may well work a moment
// later (a law check does not fail a run closed on it).
type storeReadError struct{ err error }

func (e *storeReadError) Error() string { return e.err.Error() }
func (e *storeReadError) Unwrap() error { return e.err }

// behindError says that this server cannot load the rules revision in
// force (LawNow.Behind): like a store read error it judges nothing, and
// what it stopped waits for a revision this server can load.
type behindError struct{ err error }

func (e *behindError) Error() string { return e.err.Error() }
func (e *behindError) Unwrap() error { return e.err }

// notJudged reports whether err is a store read error, or a law this
// server cannot load: what it stopped was not judged, and is tried again
// rather than acted on.
func notJudged(err error) bool {
	var rerr *storeReadError
	var berr *behindError
	// The rules' own refusal while behind (a plan that met it after the
	// step's check of LawNow.Behind) is the same.
	var rberr *rules.BehindError
	// So are plans that kept meeting new revisions (ErrRulesChanging):
	// nothing was decided, and the same step a moment later is judged.
	// And a plan stopped by its context (the step's deadline, the server
	// stopping): the planner returns no plan once it is done.
	return errors.As(err, &rerr) || errors.As(err, &berr) || errors.As(err, &rberr) || errors.Is(err, ErrRulesChanging) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// registry reads tenant's registered resources. The decoded organisations
// and datasets are shared with every other world built from the same rows
// (registryCache); the maps are the caller's own, to add a request's to.
func (c *Controller) registry(ctx context.Context, tenant string) (*registry, error) {
	return c.readRegistry(ctx, tenant, nil)
}

// readRegistry reads tenant's registered resources, each confirmed as
// Meridian wrote it (resourceWitness); one that is not is an error, unless
// replacing names it (kind/name: an apply that registers it again), when it
// is left out.
func (c *Controller) readRegistry(ctx context.Context, tenant string, replacing map[string]bool) (*registry, error) {
	// The registry confirmed when no sealed register record of the tenant
	// had been read since is the registry now (Meridian writes none of its
	// rows without one), for registryRecheck: it is taken without listing
	// and hashing the rows again. A row changed by hand meanwhile is not
	// used (the copy kept is the one confirmed), and the next full read
	// refuses it: once the recheck time is up, or this server reads a
	// record of the tenant or drops the registry, or another server reads.
	if err := c.resWitness.readOn(ctx, c.cfg.Store); err != nil {
		return nil, err
	}
	now := c.cfg.Now()
	if gen, ok := c.resWitness.generation(tenant); ok {
		if dr := c.regs.confirmed(tenant, gen, now); dr != nil {
			return dr.registry(), nil
		}
	}
	rows, err := c.cfg.Store.ListResources(ctx, tenant, "")
	if err != nil {
		return nil, &storeReadError{err}
	}
	// Read on after the list (confirmRow), even with no rows: a
	// registered resource whose row was deleted outright is missing from
	// them (missingRows).
	if err := c.resWitness.readOn(ctx, c.cfg.Store); err != nil {
		return nil, err
	}
	// Taken before any row is confirmed: a record read while they are
	// (an update that came in between) moves it on, and the next read
	// reads the rows again.
	gen, witnessed := c.resWitness.generation(tenant)
	rowsOf := make(map[string]*store.Resource, len(rows))
	kept := make([]*store.Resource, 0, len(rows))
	for _, listed := range rows {
		r, err := c.confirmRow(ctx, tenant, listed)
		if r == nil {
			r = listed
		}
		var changed *changedError
		if errors.As(err, &changed) && replacing[r.Kind+"/"+r.Name] {
			witnessed = false
			continue
		}
		if err != nil {
			return nil, err
		}
		kept = append(kept, r)
		rowsOf[r.Kind+"/"+r.Name] = r
	}
	listed := make(map[resourceName]bool, len(rows))
	for _, r := range rows {
		listed[resourceName{r.Kind, r.Name}] = true
	}
	late, skipped, err := c.missingRows(ctx, tenant, func(kind, name string) bool { return listed[resourceName{kind, name}] }, replacing)
	if err != nil {
		return nil, err
	}
	for _, r := range late {
		kept = append(kept, r)
		rowsOf[r.Kind+"/"+r.Name] = r
	}
	sum, size := registrySum(kept)
	dr := c.regs.get(tenant, sum)
	if dr == nil {
		if dr, err = decodeRegistry(kept); err != nil {
			return nil, err
		}
	}
	// A registry that left out a row changed outside Meridian (an apply
	// replacing it) is not the tenant's registry: it is not taken as
	// confirmed.
	dr = &decodedRegistry{sum: sum, size: 2 * size, orgs: dr.orgs, datasets: dr.datasets, rows: rowsOf, gen: gen, at: now, witnessed: witnessed && !skipped}
	c.regs.put(tenant, dr)
	return dr.registry(), nil
}

// registry is a registry of dr for a caller to add to: its maps are the
// caller's own, their values shared.
func (dr *decodedRegistry) registry() *registry {
	return &registry{orgs: maps.Clone(dr.orgs), datasets: maps.Clone(dr.datasets), rows: maps.Clone(dr.rows)}
}

// decodeRegistry decodes a tenant's registered rows.
func decodeRegistry(rows []*store.Resource) (*decodedRegistry, error) {
	dr := &decodedRegistry{orgs: map[string]*catalog.Organization{}, datasets: map[string]*catalog.Dataset{}}
	for _, r := range rows {
		switch r.Kind {
		case catalog.KindOrganization:
			var o catalog.Organization
			if err := json.Unmarshal(r.Doc, &o); err != nil {
				return nil, fmt.Errorf("registered %s %s: %w", r.Kind, r.Name, err)
			}
			dr.orgs[r.Name] = &o
		case catalog.KindDataset:
			var d catalog.Dataset
			if err := json.Unmarshal(r.Doc, &d); err != nil {
				return nil, fmt.Errorf("registered %s %s: %w", r.Kind, r.Name, err)
			}
			dr.datasets[r.Name] = &d
		}
	}
	return dr, nil
}

// registrySum is the hash of rows' kinds, names and documents' hashes
// (each length-prefixed), and the documents' size: rows with the same sum
// decode to the same resources. The rows' Hash is taken only as
// readRegistry confirmed it: each document hashes to it.
func registrySum(rows []*store.Resource) ([sha256.Size]byte, int) {
	h := sha256.New()
	size := 0
	var n [8]byte
	for _, r := range rows {
		for _, b := range [][]byte{[]byte(r.Kind), []byte(r.Name), []byte(r.Hash)} {
			binary.BigEndian.PutUint64(n[:], uint64(len(b)))
			h.Write(n[:])
			h.Write(b)
		}
		size += len(r.Doc)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum, size
}

// decodedRegistry is a tenant's registered organisations and datasets,
// decoded from the rows whose registrySum is sum.
type decodedRegistry struct {
	sum      [sha256.Size]byte
	size     int // bytes of the rows' documents, twice: kept as rows and decoded
	used     uint64
	orgs     map[string]*catalog.Organization
	datasets map[string]*catalog.Dataset
	rows     map[string]*store.Resource // kind/name; read-only
	// witnessed says the rows are the tenant's whole registry, each
	// confirmed against the sealed register records, when the witness's
	// generation of the tenant was gen.
	witnessed bool
	gen       uint64
	at        time.Time // when the rows were listed
}

// registryRecheck is how long a confirmed registry is taken without
// reading its rows again while no register record of its tenant comes:
// how long a running server may go on using the confirmed copy of a row
// changed by hand before it refuses the row.
const registryRecheck = 30 * time.Second

// registryCache keeps the last decoded registry of each tenant, for the
// worlds of its runs to share. Each run's world decoded the tenant's
// registered resources anew (up to MaxResourceBytes of JSON), and the
// controller keeps a world per live run: 10,000 runs of a tenant kept
// 10,000 copies. A world treats its resources as read-only
// (catalog.World), so worlds may share them; an update of the tenant's
// resources changes the rows' sum, and the next world decodes them again.
// It keeps at most maxCachedRegistries registries and
// maxCachedRegistryBytes of their documents, the least recently used
// dropped first; a dropped registry lives on in the worlds that use it.
type registryCache struct {
	mu    sync.Mutex
	m     map[string]*decodedRegistry // by tenant
	bytes int
	tick  uint64
}

const (
	maxCachedRegistries    = 1024
	maxCachedRegistryBytes = 256 << 20
)

// get is tenant's registry decoded from rows with sum, or nil.
func (rc *registryCache) get(tenant string, sum [sha256.Size]byte) *decodedRegistry {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	dr := rc.m[tenant]
	if dr == nil || dr.sum != sum {
		return nil
	}
	rc.tick++
	dr.used = rc.tick
	return dr
}

// confirmed is tenant's registry confirmed at the witness's generation
// gen of the tenant less than registryRecheck before now, or nil.
func (rc *registryCache) confirmed(tenant string, gen uint64, now time.Time) *decodedRegistry {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	dr := rc.m[tenant]
	if dr == nil || !dr.witnessed || dr.gen != gen || now.Before(dr.at) || now.Sub(dr.at) >= registryRecheck {
		return nil
	}
	rc.tick++
	dr.used = rc.tick
	return dr
}

// put keeps dr as tenant's registry, in place of any other.
func (rc *registryCache) put(tenant string, dr *decodedRegistry) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if old := rc.m[tenant]; old != nil {
		rc.bytes -= old.size
		delete(rc.m, tenant)
	}
	if dr.size > maxCachedRegistryBytes {
		return
	}
	for len(rc.m) > 0 && (len(rc.m) >= maxCachedRegistries || rc.bytes+dr.size > maxCachedRegistryBytes) {
		lru := ""
		for t, e := range rc.m {
			if lru == "" || e.used < rc.m[lru].used {
				lru = t
			}
		}
		rc.bytes -= rc.m[lru].size
		delete(rc.m, lru)
	}
	if rc.m == nil {
		rc.m = map[string]*decodedRegistry{}
	}
	rc.tick++
	dr.used = rc.tick
	rc.m[tenant] = dr
	rc.bytes += dr.size
}

// ErrConflict wraps a request whose copy of a registered resource differs
// from the registered one.
var ErrConflict = errors.New("conflicts with a registered resource")

// conflict makes a store conflict the user's error.
func conflict(rc *store.ResourceConflict) error {
	return &InputError{Field: "documents", Err: fmt.Errorf("%w: %s", ErrConflict, rc.Error())}
}

// requestWorld builds the world a tenant's request runs in: the operator's
// catalog, the tenant's registered organisations and datasets, and the
// request's own documents, which must equal the registered copies where
// there are some. It returns the resources the request registers for the
// first time.
func (c *Controller) requestWorld(ctx context.Context, tenant string, rq *request) (*catalog.World, []store.Resource, error) {
	reg, err := c.registry(ctx, tenant)
	if err != nil {
		return nil, nil, err
	}
	var fresh []store.Resource
	check := func(res store.Resource) error {
		if got := reg.rows[res.Kind+"/"+res.Name]; got != nil {
			if got.Hash != res.Hash {
				return conflict(&store.ResourceConflict{Kind: res.Kind, Name: res.Name, Registered: got,
					Detail: fmt.Sprintf("differs from the copy registered on %s (version %d); change it with `meridian apply -f FILE --update`, not in a run request",
						got.UpdatedAt.UTC().Format(catalog.DateLayout), got.Version)})
			}
			return nil
		}
		fresh = append(fresh, res)
		return nil
	}
	set := &catalog.Set{Jobs: rq.jobs, Sites: c.cfg.ExtraSites}
	for _, o := range rq.orgs {
		res, err := resourceOf(catalog.KindOrganization, o.Metadata.Name, o, "")
		if err != nil {
			return nil, nil, err
		}
		if err := check(res); err != nil {
			return nil, nil, err
		}
		reg.orgs[o.Metadata.Name] = o
	}
	for _, d := range rq.datasets {
		if err := c.checkDatasetStore(d); err != nil {
			return nil, nil, err
		}
		res, err := datasetResource(d)
		if err != nil {
			return nil, nil, err
		}
		if err := check(res); err != nil {
			return nil, nil, err
		}
		reg.datasets[d.Metadata.Name] = d
	}
	for _, name := range sortedKeys(reg.orgs) {
		set.Organizations = append(set.Organizations, reg.orgs[name])
	}
	for _, name := range sortedKeys(reg.datasets) {
		set.Datasets = append(set.Datasets, reg.datasets[name])
	}
	if len(fresh) > 0 {
		if err := reg.room(fresh); err != nil {
			return nil, nil, err
		}
	}
	cs, err := c.catalog()
	if err != nil {
		return nil, nil, err
	}
	w, err := catalog.Assemble(planner.AssumptionKeys(), cs, set)
	if err != nil {
		return nil, nil, &InputError{"documents", err}
	}
	// Names of organisations in the operator's catalog are read as this
	// tenant's, or another's (catalog.NamesOrg).
	w.Tenant = catalog.TenantOr(tenant)
	return w, fresh, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// catalog is the server's site catalog (nil: the built-in sites), read once.
func (c *Controller) catalog() (*catalog.Set, error) {
	c.catOnce.Do(func() {
		if c.cfg.CatalogDir != "" {
			// Named as catalog/FILE, not by where the server keeps
			// them: a site's position is cited in the plans and
			// errors its tenants read.
			c.catSet, c.catErr = catalog.LoadDir(c.cfg.CatalogDir, catalog.ServerCatalogName)
			if c.catErr == nil {
				// Valid sites are not validated again per request; an
				// invalid catalog is reported by each request, as before.
				_ = catalog.CheckSites(planner.AssumptionKeys(), c.catSet)
			}
		}
	})
	if c.catErr != nil {
		return nil, fmt.Errorf("server catalog: %w", c.catErr)
	}
	return c.catSet, nil
}

// world returns a run's world: the operator's catalog, the tenant's
// registered resources as they are now, and the run's job.
func (c *Controller) world(r *Run) (*catalog.World, error) {
	// A run about to stage or start an attempt is held to its newest
	// sealed placement decision, whether or not its world is kept.
	if err := c.runWitness.confirmPlace(context.Background(), c.cfg.Store, r); err != nil {
		return nil, err
	}
	c.mu.Lock()
	w := c.worlds[r.ID]
	gen := c.worldsGen
	c.mu.Unlock()
	if w != nil {
		return w, nil
	}
	docs, err := c.runDocuments(r)
	if err != nil {
		return nil, err
	}
	if err := c.runWitness.confirm(context.Background(), c.cfg.Store, r, docs); err != nil {
		return nil, err
	}
	rq, err := decodeRequest(docs)
	if err != nil {
		return nil, err
	}
	// Registered copies, not the request's, decide: the request's were
	// equal when it was accepted, and an owner's later update counts.
	rq.orgs, rq.datasets = nil, nil
	// A run accepted before the catalog refused a job naming a dataset
	// twice is read with each named once, which is what it meant: refused
	// now, the run would fail at its next step for a job it was let in
	// with.
	for _, j := range rq.jobs {
		j.Spec.Datasets = onceEach(j.Spec.Datasets)
	}
	w, _, err = c.requestWorld(context.Background(), r.Tenant, rq)
	if err != nil {
		return nil, err
	}
	if built := worldBuilt.Load(); built != nil {
		(*built)(r)
	}
	// Kept only where no apply dropped the tenant's worlds meanwhile: one
	// that did came after the registered resources were read here, and a
	// world kept from them would stand until the tenant's next apply.
	c.mu.Lock()
	if c.worldsGen == gen {
		c.worlds[r.ID] = w
	}
	c.mu.Unlock()
	return w, nil
}

// runDocuments is r's documents: its own, or, for a run decoded without
// them (decodeRow, a list without documents), the stored run's. A run's
// documents never change once it is accepted, so any version of its row
// holds the same. A failure to read them is the store's, not the run's.
func (c *Controller) runDocuments(r *Run) ([]Document, error) {
	if len(r.Documents) > 0 {
		return r.Documents, nil
	}
	row, err := c.cfg.Store.GetRun(context.Background(), r.ID)
	if err != nil {
		return nil, &storeReadError{err}
	}
	full, err := fromRow(row)
	if err != nil {
		return nil, err
	}
	return full.Documents, nil
}

// worldBuilt, where set (by a test), is called as world has built a run's
// world, before it is kept: where an apply may come.
var worldBuilt atomic.Pointer[func(r *Run)]

// forgetWorlds drops the cached worlds of a tenant's runs after its
// registered resources changed. Each world names its tenant (set by
// requestWorld), so the cache alone says which: it listed the tenant's
// runs instead, every run it ever had, ended ones too, with each row's
// whole data read to leave its documents out, on every apply and on every
// server reading its record; on SQLite every other tenant's writes waited
// for that list (300 runs of 1 MiB held a write for 245 ms).
func (c *Controller) forgetWorlds(_ context.Context, tenant string) {
	t := catalog.TenantOr(tenant)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.worldsGen++
	for id, w := range c.worlds {
		if w == nil || catalog.TenantOr(w.Tenant) == t {
			delete(c.worlds, id)
		}
	}
}

// worldSite returns the run's world and one of its sites, which must exist.
func (c *Controller) worldSite(r *Run, siteName string) (*catalog.World, *catalog.Site, error) {
	w, err := c.world(r)
	if err != nil {
		return nil, nil, err
	}
	site := w.Site(siteName)
	if site == nil {
		return nil, nil, fmt.Errorf("site %q is no longer in the catalog", siteName)
	}
	return w, site, nil
}

// worldJob returns the run's world and its job, which must exist.
func (c *Controller) worldJob(r *Run) (*catalog.World, *catalog.TrainingJob, error) {
	w, err := c.world(r)
	if err != nil {
		return nil, nil, err
	}
	job := w.Job(r.Job)
	if job == nil {
		return nil, nil, fmt.Errorf("job %s is missing from the run's documents", r.Job)
	}
	return w, job, nil
}

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

// PickJob returns the job called name in w, or its only job when name is
// empty. Errors list the jobs there are; callers say which flag or field.
// The CLI and the API both pick jobs with it.
func PickJob(w *catalog.World, name string) (*catalog.TrainingJob, error) {
	if name != "" {
		if j := w.Job(name); j != nil {
			return j, nil
		}
		// The caller names the job asked for (flag or field and value).
		if len(w.Jobs) == 0 {
			return nil, errors.New("no such TrainingJob: the files hold none")
		}
		return nil, fmt.Errorf("no such TrainingJob; found: %s", jobNames(w))
	}
	switch len(w.Jobs) {
	case 0:
		return nil, fmt.Errorf("the files hold no TrainingJob")
	case 1:
		return w.Jobs[0], nil
	}
	return nil, fmt.Errorf("the files hold %d TrainingJobs; name one of: %s", len(w.Jobs), jobNames(w))
}

// maxJobNames bounds the job names an error of PickJob lists: a request's
// files may hold a hundred thousand jobs, and each name 253 bytes.
const maxJobNames = 20

// jobNames lists w's job names, sorted, the first maxJobNames of them and
// a count of the rest.
func jobNames(w *catalog.World) string {
	names := make([]string, 0, len(w.Jobs))
	for _, j := range w.Jobs {
		names = append(names, j.Metadata.Name)
	}
	sort.Strings(names)
	if len(names) <= maxJobNames {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxJobNames], ", "), len(names)-maxJobNames)
}

// onceEach is names without the repeats, in the order first named.
func onceEach(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := names[:0:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
