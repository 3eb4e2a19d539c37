package catalog

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// APIVersion is the only apiVersion this build reads.
const APIVersion = "meridian.dev/v1alpha1"

// Kinds of resource in SCHEMA.md.
const (
	KindOrganization = "Organization"
	KindDataset      = "Dataset"
	KindSite         = "Site"
	KindTrainingJob  = "TrainingJob"
)

// Date is a calendar day written YYYY-MM-DD. The zero Date means "not set".
type Date struct{ time.Time }

// DateLayout is the one accepted way to write a Date.
const DateLayout = "2006-01-02"

// The range of dates Meridian accepts: laws, licences, chips and plans
// all fall well inside it, and a date outside it (0000-01-01) is a mistake
// or an attempt to step around a rule's dates.
const (
	MinDateYear = 1900
	MaxDateYear = 2199
)

// ParseDate reads a YYYY-MM-DD date in UTC, between the years MinDateYear
// and MaxDateYear.
func ParseDate(s string) (Date, error) {
	t, err := time.ParseInLocation(DateLayout, strings.TrimSpace(s), time.UTC)
	if err != nil {
		return Date{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	if y := t.Year(); y < MinDateYear || y > MaxDateYear {
		return Date{}, fmt.Errorf("date %q: outside the years %d to %d", s, MinDateYear, MaxDateYear)
	}
	return Date{t}, nil
}

// MustDate is ParseDate for constants in code and tests; it panics on a bad date.
func MustDate(s string) Date {
	d, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// String prints the date as YYYY-MM-DD, or "" when unset.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return d.Format(DateLayout)
}

// Before reports whether d is strictly before o.
func (d Date) Before(o Date) bool { return d.Time.Before(o.Time) }

// After reports whether d is strictly after o.
func (d Date) After(o Date) bool { return d.Time.After(o.Time) }

// MarshalText writes YYYY-MM-DD.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalYAML reads a YAML scalar as YYYY-MM-DD. It exists because the
// YAML library's text-unmarshalling path re-formats the whole file for every
// value, which made loading the built-in catalog quadratic.
func (d *Date) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	return d.UnmarshalText([]byte(s))
}

// MarshalJSON writes "YYYY-MM-DD". It is needed because the embedded
// time.Time would otherwise print a full timestamp.
func (d Date) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// UnmarshalJSON reads "YYYY-MM-DD" (or "" for unset).
func (d *Date) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("date %s: want a string YYYY-MM-DD", b)
	}
	return d.UnmarshalText([]byte(s))
}

// UnmarshalText reads YYYY-MM-DD; an empty string leaves the date unset.
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Duration is a Go duration that also accepts a whole number of days with
// the suffix "d" ("90d", "36h", "1h30m").
type Duration time.Duration

// ParseDuration reads a Go duration or a number of days written "Nd" (N in
// decimal digits, as the schema's pattern says). A length of time is
// positive and fits a time.Duration (about 292 years): zero, NaN, an
// infinity or an overflow would otherwise read as no deadline at all.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	bad := func() (Duration, error) {
		return 0, fmt.Errorf("duration %q: want a positive Go duration (36h, 90m) or days (14d), at most %dd", s, maxDurationDays)
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if !dayCount.MatchString(days) {
			return bad()
		}
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n > maxDurationDays {
			return bad()
		}
		v := time.Duration(n * float64(24*time.Hour))
		if v <= 0 {
			return bad()
		}
		return Duration(v), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return bad()
	}
	return Duration(v), nil
}

// dayCount is the number in a duration written in days; maxDurationDays
// is the most whole days a time.Duration holds.
var dayCount = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

const maxDurationDays = 106751 // math.MaxInt64 / int64(24*time.Hour)

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Hours returns the duration in hours.
func (d Duration) Hours() float64 { return time.Duration(d).Hours() }

// String prints whole days as "Nd" and anything else as a Go duration.
func (d Duration) String() string {
	if d == 0 {
		return ""
	}
	td := time.Duration(d)
	if td%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	}
	return td.String()
}

// MarshalText writes the String form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalYAML reads a YAML scalar in the forms ParseDuration accepts (see
// Date.UnmarshalYAML for why it exists).
func (d *Duration) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	return d.UnmarshalText([]byte(s))
}

// UnmarshalText reads the forms ParseDuration accepts.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Metadata names a resource.
type Metadata struct {
	Name   string            `yaml:"name" json:"name"`
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// Position says where a resource was read from. It is empty for resources
// built in code.
type Position struct {
	File string `json:"-" yaml:"-"`
	Line int    `json:"-" yaml:"-"`
	// src is the document's text, for finding the line of a field.
	src *docSource
}

// String prints "file:line".
func (p Position) String() string {
	if p.File == "" {
		return "<built-in>"
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Organization is who trains: its headquarters, parent, list memberships
// and the licences it holds.
type Organization struct {
	APIVersion string           `yaml:"apiVersion" json:"apiVersion"`
	Kind       string           `yaml:"kind" json:"kind"`
	Metadata   Metadata         `yaml:"metadata" json:"metadata"`
	Spec       OrganizationSpec `yaml:"spec" json:"spec"`
	Pos        Position         `yaml:"-" json:"-"`
}

// Restricted-party states of an Organization.
const (
	RestrictedNone              = "none"
	RestrictedEntityList        = "entity-list"
	RestrictedAffiliateOfListed = "affiliate-of-listed"
)

// OrganizationSpec is the body of an Organization.
type OrganizationSpec struct {
	Headquarters               string    `yaml:"headquarters" json:"headquarters"`
	UltimateParentHeadquarters string    `yaml:"ultimateParentHeadquarters,omitempty" json:"ultimateParentHeadquarters,omitempty"`
	RestrictedParty            string    `yaml:"restrictedParty,omitempty" json:"restrictedParty,omitempty"`
	USPerson                   *bool     `yaml:"usPerson,omitempty" json:"usPerson,omitempty"`
	Licenses                   []License `yaml:"licenses,omitempty" json:"licenses,omitempty"`
	// Attributes are what the organisation declares about itself, from
	// OrgAttributeIDs (e.g. cn-ciio).
	Attributes []string `yaml:"attributes,omitempty" json:"attributes,omitempty"`
	// Affiliates names organisations of the same group (common ownership
	// or control). Volume thresholds that count a group's exports add up
	// the organisation, its affiliates and theirs.
	Affiliates []string `yaml:"affiliates,omitempty" json:"affiliates,omitempty"`
	// LegalName, Aliases and Addresses are what restricted-party screening
	// compares with the lists (package screen); without a legal name the
	// metadata name is screened.
	LegalName string   `yaml:"legalName,omitempty" json:"legalName,omitempty"`
	Aliases   []string `yaml:"aliases,omitempty" json:"aliases,omitempty"`
	Addresses []string `yaml:"addresses,omitempty" json:"addresses,omitempty"`
}

// ScreeningNames are the names screening compares: the legal name (or the
// metadata name with '-' read as a space) and the aliases.
func (o *Organization) ScreeningNames() []string {
	name := o.Spec.LegalName
	if name == "" {
		name = strings.ReplaceAll(o.Metadata.Name, "-", " ")
	}
	return append([]string{name}, o.Spec.Aliases...)
}

// ScreeningText is the length in bytes of the names screening compares
// (ScreeningNames), which MaxScreeningText bounds.
func (o *Organization) ScreeningText() int {
	n := 0
	for _, s := range o.ScreeningNames() {
		n += len(s)
	}
	return n
}

// ParentHQ is the ultimate parent's headquarters, defaulting to the organisation's own.
func (o *Organization) ParentHQ() string {
	if o.Spec.UltimateParentHeadquarters != "" {
		return o.Spec.UltimateParentHeadquarters
	}
	return o.Spec.Headquarters
}

// IsUSPerson reports the usPerson flag, true by default for US headquarters.
func (o *Organization) IsUSPerson() bool {
	if o.Spec.USPerson != nil {
		return *o.Spec.USPerson
	}
	return o.Spec.Headquarters == "US"
}

// Restricted returns the restricted-party state, "none" when unset.
func (o *Organization) Restricted() string {
	if o.Spec.RestrictedParty == "" {
		return RestrictedNone
	}
	return o.Spec.RestrictedParty
}

// License is an authorisation that lifts a named rule's denial until it expires.
type License struct {
	Rule    string `yaml:"rule" json:"rule"`
	Expires Date   `yaml:"expires,omitempty" json:"expires,omitzero"`
	Note    string `yaml:"note,omitempty" json:"note,omitempty"`
}

// Dataset describes training data: where it comes from, how big, what kind,
// and the legal bases held for moving it.
type Dataset struct {
	APIVersion string      `yaml:"apiVersion" json:"apiVersion"`
	Kind       string      `yaml:"kind" json:"kind"`
	Metadata   Metadata    `yaml:"metadata" json:"metadata"`
	Spec       DatasetSpec `yaml:"spec" json:"spec"`
	Pos        Position    `yaml:"-" json:"-"`
}

// Data classifications, from least to most restricted.
const (
	ClassPublic            = "public"
	ClassDeidentified      = "deidentified"
	ClassPersonal          = "personal"
	ClassSensitivePersonal = "sensitive-personal"
	ClassImportant         = "important"
)

// Classifications lists the accepted classification values.
var Classifications = []string{ClassPublic, ClassDeidentified, ClassPersonal, ClassSensitivePersonal, ClassImportant}

// DatasetSpec is the body of a Dataset.
type DatasetSpec struct {
	Origin         string   `yaml:"origin" json:"origin"`
	Location       string   `yaml:"location,omitempty" json:"location,omitempty"`
	SizeBytes      float64  `yaml:"sizeBytes" json:"sizeBytes"`
	Classification string   `yaml:"classification" json:"classification"`
	Subjects       int64    `yaml:"subjects,omitempty" json:"subjects,omitempty"`
	TransferBases  []string `yaml:"transferBases,omitempty" json:"transferBases,omitempty"`
	// Store is where the dataset's encrypted chunks live (file:// or s3://);
	// set by `meridian dataset add`.
	Store string `yaml:"store,omitempty" json:"store,omitempty"`
}

// IsPersonal reports whether the dataset holds personal data of any kind.
func (d *Dataset) IsPersonal() bool {
	return d.Spec.Classification == ClassPersonal || d.Spec.Classification == ClassSensitivePersonal
}

// Site is a data centre or cluster with pools of accelerators.
type Site struct {
	APIVersion string   `yaml:"apiVersion" json:"apiVersion"`
	Kind       string   `yaml:"kind" json:"kind"`
	Metadata   Metadata `yaml:"metadata" json:"metadata"`
	Spec       SiteSpec `yaml:"spec" json:"spec"`
	Pos        Position `yaml:"-" json:"-"`
}

// SiteSpec is the body of a Site.
type SiteSpec struct {
	Country  string   `yaml:"country" json:"country"`
	City     string   `yaml:"city,omitempty" json:"city,omitempty"`
	Location LatLon   `yaml:"location" json:"location"`
	Operator Operator `yaml:"operator" json:"operator"`
	Pools    []Pool   `yaml:"pools" json:"pools"`
	Network  Network  `yaml:"network" json:"network"`
	// Backend says how the site runs jobs. A site without one (no type) is
	// for planning only: plans rank it, runs never start there.
	Backend BackendSpec `yaml:"backend,omitempty" json:"backend,omitempty"`
	// Access says who may use the site: public-rental (the default: anyone
	// who pays), allocation (granted through a national or research
	// programme; its prices are notional), or private (the organisations of
	// AccessOrganizations only).
	Access string `yaml:"access,omitempty" json:"access,omitempty"`
	// AccessOrganizations are the organisations that may use a private
	// site, or that hold an allocation at an allocation site.
	AccessOrganizations []string `yaml:"accessOrganizations,omitempty" json:"accessOrganizations,omitempty"`
	// Store is the site's blob store URL (file:///path or s3://bucket?endpoint=…).
	Store string `yaml:"store,omitempty" json:"store,omitempty"`
	// Source says where the site's facts come from; built-in sites label
	// prices and capacities as illustrative here.
	Source string `yaml:"source,omitempty" json:"source,omitempty"`
}

// LatLon is a point on Earth in degrees.
type LatLon struct {
	Lat float64 `yaml:"lat" json:"lat"`
	Lon float64 `yaml:"lon" json:"lon"`
}

// Operator is who runs the site.
type Operator struct {
	Name         string `yaml:"name" json:"name"`
	Headquarters string `yaml:"headquarters" json:"headquarters"`
}

// Pool owners.
const (
	OwnerOperator  = "operator"
	OwnerOrgPrefix = "organization:"
)

// Pool is a set of identical accelerators at a site.
type Pool struct {
	Accelerator  string  `yaml:"accelerator" json:"accelerator"`
	Count        int     `yaml:"count" json:"count"`
	Available    int     `yaml:"available" json:"available"`
	PricePerHour float64 `yaml:"pricePerHour" json:"pricePerHour"`
	// PriceSource says where the price comes from and its date, or that it is an assumption.
	PriceSource string `yaml:"priceSource,omitempty" json:"priceSource,omitempty"`
	Acquired    Date   `yaml:"acquired,omitempty" json:"acquired,omitzero"`
	Owner       string `yaml:"owner,omitempty" json:"owner,omitempty"`
}

// OwnerOrganization returns the organisation that owns the pool, or "" when the operator does.
func (p *Pool) OwnerOrganization() string {
	if strings.HasPrefix(p.Owner, OwnerOrgPrefix) {
		return strings.TrimPrefix(p.Owner, OwnerOrgPrefix)
	}
	return ""
}

// Network is a site's connection to the world: the price of data leaving
// it (USD per GB) and the bandwidth available for staging data (Gbit/s).
type Network struct {
	EgressPerGB float64 `yaml:"egressPerGB" json:"egressPerGB"`
	Gbps        float64 `yaml:"gbps" json:"gbps"`
	// Source says where the egress price and bandwidth come from.
	Source string `yaml:"source,omitempty" json:"source,omitempty"`
}

// Backend types.
const (
	BackendLocal      = "local"
	BackendSlurm      = "slurm"
	BackendKubernetes = "kubernetes"
)

// BackendSpec says which scheduler runs jobs at a site and how to reach it.
type BackendSpec struct {
	Type string `yaml:"type,omitempty" json:"type,omitempty"`
	// Partition is the Slurm partition jobs are submitted to.
	Partition string `yaml:"partition,omitempty" json:"partition,omitempty"`
	// GresType is the type of the site's GPUs in Slurm's GRES (h100 asks for
	// gpu:h100:N); Gres is the newer, fuller form of the same setting.
	GresType string `yaml:"gresType,omitempty" json:"gresType,omitempty"`
	// Gres is the Slurm GRES that one accelerator is, name[:type] such as
	// gpu:h100; a job asking for N accelerators asks for gpu:h100:N.
	Gres string `yaml:"gres,omitempty" json:"gres,omitempty"`
	// Namespace is the Kubernetes namespace the site's Jobs run in (type
	// kubernetes; default "default").
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	// Endpoint is, for Slurm through its commands on this machine, the path
	// of the cluster's slurm.conf when it is not the default one.
	Endpoint string `yaml:"endpoint,omitempty" json:"endpoint,omitempty"`
	// WorkDir is the directory under which the site's jobs run. For a Slurm
	// reached through RestURL it is a path on the cluster and must be absolute.
	WorkDir string `yaml:"workDir,omitempty" json:"workDir,omitempty"`
	// RestURL reaches a Slurm cluster through slurmrestd instead of its
	// commands: unix:///path/to/slurmrestd.sock (rest_auth/local) or
	// https://host:port (a JWT read from TokenFile).
	RestURL string `yaml:"restURL,omitempty" json:"restURL,omitempty"`
	// TokenFile holds the JWT sent to slurmrestd over https (a file readable
	// by its owner only: mode 0600 or 0400). It is read again when it changes.
	TokenFile string `yaml:"tokenFile,omitempty" json:"tokenFile,omitempty"`
	// User is the Slurm user name sent with the token (X-SLURM-USER-NAME),
	// for tokens that do not name their user themselves.
	User string `yaml:"user,omitempty" json:"user,omitempty"`
	// RecordKeyFile holds the key that signs the records naming the
	// site's jobs (Slurm through its commands): hex, at least 16 bytes, in
	// a file of the server's user that only it may read (0600 or 0400),
	// not a link, outside the site's state directory, which the site's
	// nodes write. Empty: the server's own key (slurm-record-key in its
	// state directory).
	RecordKeyFile string `yaml:"recordKeyFile,omitempty" json:"recordKeyFile,omitempty"`

	// Kubeconfig is the kubeconfig file of the site's cluster (type
	// kubernetes; "~/" is the user's home). Empty: $KUBECONFIG, then
	// ~/.kube/config, then the in-cluster service account.
	Kubeconfig string `yaml:"kubeconfig,omitempty" json:"kubeconfig,omitempty"`
	// Context is the kubeconfig context to use (default: its current context).
	Context string `yaml:"context,omitempty" json:"context,omitempty"`
	// Image is the container image the site's Jobs run (type kubernetes;
	// required there).
	Image string `yaml:"image,omitempty" json:"image,omitempty"`
	// GPUResource is the extended resource a Job requests for its
	// accelerators (default nvidia.com/gpu).
	GPUResource string `yaml:"gpuResource,omitempty" json:"gpuResource,omitempty"`
	// NodeSelector pins the site's Jobs to nodes with these labels.
	NodeSelector map[string]string `yaml:"nodeSelector,omitempty" json:"nodeSelector,omitempty"`
	// Tolerations let the site's Jobs run on tainted nodes.
	Tolerations []Toleration `yaml:"tolerations,omitempty" json:"tolerations,omitempty"`
	// ScratchMedium is where a Kubernetes attempt's scratch lives: an
	// emptyDir volume mounted at its working directory, on the node's disk
	// ("", the default) or in memory ("Memory": a tmpfs, counted against
	// the pod's memory, gone when the node loses power). Either way the
	// node removes it when the pod ends, the node's return after a loss
	// included, so unsealed data never outlives the attempt there.
	ScratchMedium string `yaml:"scratchMedium,omitempty" json:"scratchMedium,omitempty"`
	// ScratchSize bounds what one pod of a Kubernetes attempt may write, a
	// Kubernetes quantity such as 500Gi: the scratch volume's sizeLimit
	// and the container's ephemeral-storage request and limit, which
	// count the container's own writes outside the scratch (its writable
	// layer: /tmp and the rest) and its log, and, on the node's disk, the
	// scratch too (in memory the tmpfs counts against the pod's memory
	// instead, bounded by the sizeLimit). The scheduler then places a pod
	// only where that much disk is free, and the kubelet evicts a pod past
	// it, which fails the attempt (a pod evicted because its node ran short
	// is lost instead). Empty: no bound, and a workload may fill the
	// node's disk, or with the scratch in memory the node's memory.
	ScratchSize string `yaml:"scratchSize,omitempty" json:"scratchSize,omitempty"`
	// QueueName is the Kueue LocalQueue of the site's Jobs: they carry the
	// label kueue.x-k8s.io/queue-name and are created suspended, for Kueue
	// to admit.
	QueueName string `yaml:"queueName,omitempty" json:"queueName,omitempty"`

	// Agent is Meridian's executable as the site's jobs reach it: every
	// attempt runs "Agent agent". An absolute path on the site's nodes (or
	// in its image), or a bare name found on the job's PATH. Empty: the
	// server's own executable for sites on the server's machine (local,
	// Slurm through its commands), "meridian" for remote ones (kubernetes,
	// Slurm through restURL).
	Agent string `yaml:"agent,omitempty" json:"agent,omitempty"`
	// Sandbox is how the agent confines the workload at this site: uid (the
	// tenant's own user; the agent must run as root), landlock (the job's
	// user, confined by Landlock to its scratch) or none (the site's
	// scheduler already isolates each job, as a container does). Empty: the
	// server's --workload-sandbox for sites on the server's machine, and
	// landlock for remote ones, whose jobs cannot be assumed to run as root
	// (jobs through slurmrestd run as the user it authenticates).
	Sandbox string `yaml:"sandbox,omitempty" json:"sandbox,omitempty"`
}

// Sandbox modes a site may ask for (BackendSpec.Sandbox).
var SandboxModes = []string{"uid", "landlock", "none"}

// Remote reports whether the site's scheduler is reached over the network
// (Kubernetes, Slurm through slurmrestd), so that nothing of the server's
// machine (its executable, its directories) can be assumed there.
func (b BackendSpec) Remote() bool {
	return b.Type == BackendKubernetes || b.Type == BackendSlurm && b.RestURL != ""
}

// Toleration is a Kubernetes pod toleration.
type Toleration struct {
	Key string `yaml:"key,omitempty" json:"key,omitempty"`
	// Operator is Equal (default) or Exists.
	Operator string `yaml:"operator,omitempty" json:"operator,omitempty"`
	Value    string `yaml:"value,omitempty" json:"value,omitempty"`
	// Effect is NoSchedule, PreferNoSchedule or NoExecute; empty matches all.
	Effect string `yaml:"effect,omitempty" json:"effect,omitempty"`
	// TolerationSeconds bounds how long a NoExecute taint is tolerated.
	TolerationSeconds *int64 `yaml:"tolerationSeconds,omitempty" json:"tolerationSeconds,omitempty"`
}

// TrainingJob is a training or fine-tuning run to place.
type TrainingJob struct {
	APIVersion string          `yaml:"apiVersion" json:"apiVersion"`
	Kind       string          `yaml:"kind" json:"kind"`
	Metadata   Metadata        `yaml:"metadata" json:"metadata"`
	Spec       TrainingJobSpec `yaml:"spec" json:"spec"`
	Pos        Position        `yaml:"-" json:"-"`
}

// Training methods.
const (
	MethodPretrain     = "pretrain"
	MethodFullFinetune = "full-finetune"
	MethodLoRA         = "lora"
	MethodQLoRA        = "qlora"
)

// Methods lists the accepted method values.
var Methods = []string{MethodPretrain, MethodFullFinetune, MethodLoRA, MethodQLoRA}

// Precisions lists the accepted precision values.
var Precisions = []string{"bf16", "fp8", "fp16"}

// Objectives lists the accepted objective values.
var Objectives = []string{"cost", "time"}

// TrainingJobSpec is the body of a TrainingJob.
type TrainingJobSpec struct {
	Organization string   `yaml:"organization" json:"organization"`
	Datasets     []string `yaml:"datasets,omitempty" json:"datasets,omitempty"`
	Model        Model    `yaml:"model" json:"model"`
	Method       string   `yaml:"method" json:"method"`
	LoRA         *LoRA    `yaml:"lora,omitempty" json:"lora,omitempty"`
	Tokens       float64  `yaml:"tokens" json:"tokens"`
	Precision    string   `yaml:"precision,omitempty" json:"precision,omitempty"`
	Objective    string   `yaml:"objective,omitempty" json:"objective,omitempty"`
	Deadline     Duration `yaml:"deadline,omitempty" json:"deadline,omitempty"`
	BudgetUSD    float64  `yaml:"budgetUSD,omitempty" json:"budgetUSD,omitempty"`
	Release      Release  `yaml:"release,omitempty" json:"release,omitempty"`
	StateFunded  bool     `yaml:"stateFunded,omitempty" json:"stateFunded,omitempty"`
	// WeightsDelivery lists the countries the trained weights will be
	// delivered to (weights-delivery rules read it).
	WeightsDelivery []string    `yaml:"weightsDelivery,omitempty" json:"weightsDelivery,omitempty"`
	Constraints     Constraints `yaml:"constraints,omitempty" json:"constraints,omitempty"`
	CheckpointEvery Duration    `yaml:"checkpointEvery,omitempty" json:"checkpointEvery,omitempty"`
	Workload        Workload    `yaml:"workload,omitempty" json:"workload,omitempty"`
	// Confidence is the one-sided quantile of the time and cost estimate at
	// which the deadline and budget must hold: 0.8 (the default) means the
	// run must finish within the deadline and the budget in 80 % of cases
	// like it. Accepted from 0.5 (the central estimate) to 0.999.
	Confidence float64 `yaml:"confidence,omitempty" json:"confidence,omitempty"`
	// Assumptions overrides assumed constants of the estimator and the planner
	// (mfu, goodput, dataEgressPerGB, …) by name; the accepted keys are the
	// AssumptionKeys the loader is given.
	Assumptions map[string]float64 `yaml:"assumptions,omitempty" json:"assumptions,omitempty"`
	// LawFLOPs, when above 0, is the training compute the law judges the job
	// on in place of its own: a re-plan of a run plans the work left after
	// its checkpoint, and is judged on the whole run's. Set by the
	// controller, never read from a document.
	LawFLOPs float64 `yaml:"-" json:"-"`
}

// ConfidenceOrDefault returns the job's confidence, DefaultConfidence when unset.
func (s *TrainingJobSpec) ConfidenceOrDefault() float64 {
	if s.Confidence == 0 {
		return DefaultConfidence
	}
	return s.Confidence
}

// PrecisionOrDefault returns the job's precision, bf16 when unset.
func (s *TrainingJobSpec) PrecisionOrDefault() string {
	if s.Precision == "" {
		return "bf16"
	}
	return s.Precision
}

// ObjectiveOrDefault returns the job's objective, cost when unset.
func (s *TrainingJobSpec) ObjectiveOrDefault() string {
	if s.Objective == "" {
		return "cost"
	}
	return s.Objective
}

// Model is the shape of the model being trained.
type Model struct {
	Parameters       float64 `yaml:"parameters" json:"parameters"`
	ActiveParameters float64 `yaml:"activeParameters,omitempty" json:"activeParameters,omitempty"`
	Layers           int     `yaml:"layers,omitempty" json:"layers,omitempty"`
	HiddenSize       int     `yaml:"hiddenSize,omitempty" json:"hiddenSize,omitempty"`
	Heads            int     `yaml:"heads,omitempty" json:"heads,omitempty"`
	SequenceLength   int     `yaml:"sequenceLength,omitempty" json:"sequenceLength,omitempty"`
	// Experts is the number of routed experts of a mixture-of-experts model
	// (0 for a dense one); an MoE model also gives ActiveParameters and
	// ExpertsPerToken.
	Experts int `yaml:"experts,omitempty" json:"experts,omitempty"`
	// ExpertsPerToken is how many routed experts each token uses (top-k),
	// from 1 to Experts.
	ExpertsPerToken int `yaml:"expertsPerToken,omitempty" json:"expertsPerToken,omitempty"`
	// Base is the model a fine-tune starts from; nil for a model trained
	// from scratch or when not declared.
	Base *BaseModel `yaml:"base,omitempty" json:"base,omitempty"`
}

// BaseModel is the provenance of the model a job starts from.
type BaseModel struct {
	Name string `yaml:"name" json:"name"`
	// Origin is the country of the base model's developer.
	Origin string `yaml:"origin,omitempty" json:"origin,omitempty"`
	// License is the base model's licence kind (ModelLicenceIDs).
	License     string `yaml:"license,omitempty" json:"license,omitempty"`
	OpenWeights bool   `yaml:"openWeights,omitempty" json:"openWeights,omitempty"`
	// TrainingFLOPs is the compute the base model was trained with, when
	// published (the AI Act's one-third test for modifications reads it).
	TrainingFLOPs float64 `yaml:"trainingFLOPs,omitempty" json:"trainingFLOPs,omitempty"`
}

// Active returns the parameters used per token: activeParameters when set, else parameters.
func (m Model) Active() float64 {
	if m.ActiveParameters > 0 {
		return m.ActiveParameters
	}
	return m.Parameters
}

// LoRA holds adapter settings for lora and qlora jobs.
type LoRA struct {
	Rank int `yaml:"rank,omitempty" json:"rank,omitempty"`
	// TrainableFraction overrides the trainable share of parameters (default from rank and shape).
	TrainableFraction float64 `yaml:"trainableFraction,omitempty" json:"trainableFraction,omitempty"`
}

// Release says where the trained model will be offered.
type Release struct {
	Markets     []string `yaml:"markets,omitempty" json:"markets,omitempty"`
	OpenWeights bool     `yaml:"openWeights,omitempty" json:"openWeights,omitempty"`
}

// AllowDeny is a pair of allow and deny lists; an empty allow list allows all.
type AllowDeny struct {
	Allow []string `yaml:"allow,omitempty" json:"allow,omitempty"`
	Deny  []string `yaml:"deny,omitempty" json:"deny,omitempty"`
}

// Permits reports whether v passes the lists.
func (a AllowDeny) Permits(v string) bool {
	for _, d := range a.Deny {
		if d == v {
			return false
		}
	}
	if len(a.Allow) == 0 {
		return true
	}
	for _, x := range a.Allow {
		if x == v {
			return true
		}
	}
	return false
}

// Empty reports whether neither list has entries.
func (a AllowDeny) Empty() bool { return len(a.Allow) == 0 && len(a.Deny) == 0 }

// Constraints are a job's own limits on placement.
type Constraints struct {
	Countries       AllowDeny `yaml:"countries,omitempty" json:"countries,omitempty"`
	Accelerators    AllowDeny `yaml:"accelerators,omitempty" json:"accelerators,omitempty"`
	Sites           AllowDeny `yaml:"sites,omitempty" json:"sites,omitempty"`
	MinAccelerators int       `yaml:"minAccelerators,omitempty" json:"minAccelerators,omitempty"`
	MaxAccelerators int       `yaml:"maxAccelerators,omitempty" json:"maxAccelerators,omitempty"`
}

// Workload is what to run.
type Workload struct {
	Command []string          `yaml:"command,omitempty" json:"command,omitempty"`
	Env     map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	Image   string            `yaml:"image,omitempty" json:"image,omitempty"`
}
