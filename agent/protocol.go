package agent

import (
	"time"
)

// Environment the controller gives an attempt: the only things a site's
// scheduler needs to start the agent. The credential is scoped to one attempt
// of one run and stops working when that attempt ends.
const (
	EnvServer  = "MERIDIAN_SERVER"
	EnvRun     = "MERIDIAN_RUN_ID"
	EnvAttempt = "MERIDIAN_ATTEMPT"
	EnvToken   = "MERIDIAN_ATTEMPT_TOKEN"
	// EnvServerFingerprint, when set, is the SHA-256 fingerprint of the
	// server's self-signed certificate: the agent trusts exactly that
	// certificate on an https:// server.
	EnvServerFingerprint = "MERIDIAN_SERVER_FINGERPRINT"
	// EnvInsecureHTTP, set to 1, lets the agent reach an http:// server
	// that is not on this machine's loopback (a server started with
	// --insecure-http): without it the agent refuses to send its
	// credential across the network in the clear.
	EnvInsecureHTTP = "MERIDIAN_AGENT_INSECURE_HTTP"
	// EnvPatience, when set, is how long the agent retries the server for
	// its manifest before it gives up (a Go duration, "20m"): the server
	// sets it from its site timeout, so that an agent does not give up on
	// a server that would not yet count its site lost. It is bounded by
	// MaxPatience.
	EnvPatience = "MERIDIAN_AGENT_PATIENCE"
	// EnvPrivateDir, when set, is a directory of the backend's own (its
	// state directory: job records holding attempt credentials, and the
	// server's secrets beside it) that the workload must not read. In the
	// landlock sandbox the workload runs as the server's user, so only
	// Landlock keeps it out: the agent refuses to start it when a path it
	// would be given to read holds that directory or lies in it.
	EnvPrivateDir = "MERIDIAN_PRIVATE_DIR"
	// EnvSiteLogLimit, when set, bounds the workload's output the agent
	// writes to the site's log (its standard output), in bytes: the local
	// backend's log lies in the server's state directory, whose disk a
	// workload printing without end filled. The server's copy has its
	// own bound (Manifest.LogLimit). Unset, the agent keeps
	// DefaultSiteLogLimit bytes.
	EnvSiteLogLimit = "MERIDIAN_SITE_LOG_LIMIT"
	// EnvScratchFloor, when set, is how many bytes the scratch's
	// filesystem keeps free while the workload runs: below it the agent
	// kills the workload (and everything it started) and the attempt
	// fails saying so. It only raises the agent's own floor (the smaller
	// of 1 GiB and 2% of the filesystem). EnvScratchInodeFloor does the
	// same for inodes (10,000, or 2% of them).
	EnvScratchFloor      = "MERIDIAN_SCRATCH_FLOOR"
	EnvScratchInodeFloor = "MERIDIAN_SCRATCH_INODE_FLOOR"
)

// DefaultPatience is how long the agent retries the server for its
// manifest when neither EnvPatience nor Config.Patience says.
const DefaultPatience = 2 * time.Minute

// MaxPatience bounds the agent's wait for its manifest, whatever it is
// told: until the server answers, the attempt holds its accelerators at
// the site and runs nothing.
const MaxPatience = time.Hour

// Environment the agent gives the workload.
const (
	EnvSite          = "MERIDIAN_SITE"
	EnvCheckpointDir = "MERIDIAN_CHECKPOINT_DIR"
	EnvResumeFrom    = "MERIDIAN_RESUME_FROM"
	EnvDataDir       = "MERIDIAN_DATA_DIR"
	EnvDatasets      = "MERIDIAN_DATASETS"
	EnvWorkDir       = "MERIDIAN_WORKDIR"
	// EnvExe is Meridian's own executable as the workload may run it.
	EnvExe = "MERIDIAN_EXE"
)

// Routes of the agent API, relative to the server URL. {run} and {attempt}
// name the attempt; every request carries the attempt credential as a bearer
// token.
const (
	RouteManifest   = "/v1/agent/runs/{run}/attempts/{attempt}"
	RouteHeartbeat  = "/v1/agent/runs/{run}/attempts/{attempt}/heartbeat"
	RouteCheckpoint = "/v1/agent/runs/{run}/attempts/{attempt}/checkpoints"
	RouteLogs       = "/v1/agent/runs/{run}/attempts/{attempt}/logs"
	RouteExit       = "/v1/agent/runs/{run}/attempts/{attempt}/exit"
)

// MaxLogPost bounds the output one post to RouteLogs carries: the server
// reads no more of one, and refuses a longer one whole.
const MaxLogPost = 1 << 20

// Sandbox modes: how the workload is kept away from everything but its own
// scratch directory.
const (
	// SandboxUID runs the workload as the tenant's own unprivileged user (the
	// agent must be root), with Landlock on top where the kernel has it.
	SandboxUID = "uid"
	// SandboxLandlock runs the workload as the agent's user, confined by a
	// Landlock ruleset to its scratch directory and read-only system paths.
	SandboxLandlock = "landlock"
	// SandboxNone runs the workload as the agent's user without confinement:
	// only for sites whose scheduler already isolates jobs (a container per
	// attempt), and only when the operator configured the site so.
	SandboxNone = "none"
)

// Sandbox says how to confine the workload.
type Sandbox struct {
	// Mode is SandboxUID, SandboxLandlock or SandboxNone; an agent that
	// cannot provide the mode refuses to start the workload.
	Mode string `json:"mode"`
	UID  int    `json:"uid,omitempty"`
	GID  int    `json:"gid,omitempty"`
	// ReadOnly lists extra paths the workload may read (a Python
	// environment, a model cache) besides the system's own directories.
	ReadOnly []string `json:"readOnly,omitempty"`
	// ScratchVolume says the scratch is the attempt's own volume, mounted
	// for it alone (a Kubernetes pod's emptyDir, root's and 0777): the
	// scratch directory itself is then taken as it is when it is a mount
	// point owned by root, which an agent that is not root could neither
	// take nor set right (checkPathWriters). Only the server sets it, in
	// the manifest answered to the attempt's credential; the directories
	// above the scratch are judged as ever.
	ScratchVolume bool `json:"scratchVolume,omitempty"`
}

// DatasetKey is one dataset staged at the site for the attempt.
type DatasetKey struct {
	Name string `json:"name"`
	// Key is the dataset key (seal.Key text). It travels only in the answer
	// to the attempt's own credential and is held in memory.
	Key string `json:"key"`
	// ManifestSHA256 is the hex SHA-256 of the manifest staged for the
	// attempt; the agent refuses another (dataset.ErrManifestPin). Given
	// with every key: the agent refuses a key without it, and the server
	// refuses an attempt staged before it recorded pins (it has none to
	// give).
	ManifestSHA256 string `json:"manifestSha256,omitempty"`
}

// CheckpointRef names a sealed checkpoint in the site's store.
type CheckpointRef struct {
	Step int64 `json:"step"`
	// Name is the sealed object's dataset name under the checkpoint prefix.
	Name string `json:"name"`
	// Path is the entry's name in the checkpoint directory (a file or a
	// directory) as the workload wrote it.
	Path   string `json:"path"`
	Bytes  int64  `json:"bytes,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// MaxCheckpointBytes bounds the plaintext bytes of one checkpoint: the
// agent stops sealing past it, and the server refuses a report of more.
// 16 TiB holds the whole training state of a trillion-parameter model
// (bf16 weights, fp32 master weights and two fp32 Adam moments: about 14
// bytes a parameter) with room for the data loader's and RNG state; a
// checkpoint larger than that is a runaway, not a model. Its manifest
// bounds it too (dataset.MaxManifestBytes, some 11 million chunks): one of
// 16 TiB in small chunks can pass that first, and its seal then fails.
const MaxCheckpointBytes int64 = 16 << 40

// Manifest is what an attempt needs from the server.
type Manifest struct {
	Run     string `json:"run"`
	Attempt int    `json:"attempt"`
	Site    string `json:"site"`
	Tenant  string `json:"tenant"`
	// Command and Env are the workload's. Command arguments may use $(VAR)
	// references to the workload's environment, as in Kubernetes; a first
	// word of "meridian" is the agent's own executable.
	Command []string          `json:"command"`
	Env     map[string]string `json:"env,omitempty"`
	// Store is the site's store URL. Datasets are under DataPrefix in it,
	// checkpoints under CheckpointPrefix; both prefixes are the tenant's own.
	Store            string       `json:"store"`
	DataPrefix       string       `json:"dataPrefix"`
	CheckpointPrefix string       `json:"checkpointPrefix"`
	Datasets         []DatasetKey `json:"datasets,omitempty"`
	// RunKey seals this run's checkpoints.
	RunKey string         `json:"runKey"`
	Resume *CheckpointRef `json:"resume,omitempty"`
	// CheckpointName is the dataset name for a checkpoint at a step:
	// fmt.Sprintf(CheckpointName, step).
	CheckpointName string  `json:"checkpointName"`
	Sandbox        Sandbox `json:"sandbox"`
	// Heartbeat is how often to report progress.
	Heartbeat time.Duration `json:"heartbeat"`
	// Lease is how long the agent may go without an answer from the server
	// before it stops the workload (0: never). The server gives at least
	// twice the silence after which it declares the attempt lost and may
	// start another elsewhere, so a cut-off site's workload ends within
	// about a lease of the server's last answer.
	Lease time.Duration `json:"lease,omitempty"`
	// LogLimit bounds the output the server keeps for the attempt.
	LogLimit int64 `json:"logLimit"`
}

// Progress is the workload's last progress line.
type Progress struct {
	Step       int64   `json:"step"`
	Steps      int64   `json:"steps,omitempty"`
	Loss       float64 `json:"loss"`
	TokensPerS float64 `json:"tokensPerS,omitempty"`
}

// Heartbeat reports that the attempt is alive, with its progress.
type Heartbeat struct {
	Phase    string    `json:"phase"` // preparing, running, finishing
	Progress *Progress `json:"progress,omitempty"`
	Detail   string    `json:"detail,omitempty"`
}

// Exit reports the workload's end.
type Exit struct {
	Code   int    `json:"code"`
	Detail string `json:"detail,omitempty"`
	// Fenced says the agent stopped the workload itself, because the
	// server had not answered for the lease: Code is then not the
	// workload's own end, and the run is to move on.
	Fenced bool `json:"fenced,omitempty"`
	// Lost says processes the workload started still ran when the agent
	// gave up on them (ExitLost): Code is the workload's, but the attempt
	// did not end, and the run is to move on as from a lost site.
	Lost bool `json:"lost,omitempty"`
}

// Reply is the server's answer to a report: Stop asks the agent to stop the
// workload (the attempt was cancelled or moved), Checkpoint asks for a
// checkpoint now (the workload gets SIGUSR1).
type Reply struct {
	Stop       bool `json:"stop,omitempty"`
	Checkpoint bool `json:"checkpoint,omitempty"`
	// Kill says the time the workload had to stop has passed (a move's
	// drain deadline, a cancel's grace): the agent kills it and everything
	// it started (SIGKILL, through the reaper). It comes with Stop. An
	// agent that predates it ignores it, and a server that predates it
	// never sends it; the site's scheduler's own kill is then the only
	// one, as before.
	Kill bool `json:"kill,omitempty"`
}
