package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"
	"golang.org/x/text/unicode/norm"

	"meridian.dev/meridian/internal/fdexec"
	"meridian.dev/meridian/internal/textsafe"
	"meridian.dev/meridian/internal/tlspin"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// Config starts an agent for one attempt.
type Config struct {
	Server  string
	Run     string
	Attempt int
	Token   string
	// WorkDir is the attempt's scratch directory at the site (the current
	// directory when empty). The agent empties it at start and at the end.
	WorkDir string
	// Exe is the meridian executable: the workload's "meridian", and the
	// sandbox helper (Exe agent sandbox-exec …). os.Executable when empty.
	Exe string
	// SandboxExec, when set, is the command line that starts the sandbox
	// helper (tests use their own binary); default [Exe, "agent", "sandbox-exec"].
	SandboxExec []string
	Stdout      io.Writer
	Stderr      io.Writer
	HTTP        *http.Client
	// Patience bounds how long the agent retries the server for its
	// manifest when it does not answer (default DefaultPatience, at most
	// MaxPatience); the final reports have their own bound (maxFinalRetry).
	Patience time.Duration
	// PrivateDir, when set, is a directory the workload must not be
	// able to read (EnvPrivateDir).
	PrivateDir string
	// SiteLogLimit, when above 0, bounds the workload's output written
	// to Stdout (EnvSiteLogLimit).
	SiteLogLimit int64
	// ScratchFloor and ScratchInodeFloor, when above 0, raise what the
	// scratch's filesystem keeps free while the workload runs
	// (EnvScratchFloor, EnvScratchInodeFloor).
	ScratchFloor      int64
	ScratchInodeFloor int64
	// SiteScratchFloor and SiteScratchInodeFloor, when above 0, replace
	// the agent's own floors, lower or higher: the backend's, from the
	// agent's command line (FlagScratchFloor, FlagScratchInodeFloor),
	// which no tenant writes. ScratchFloor and ScratchInodeFloor still
	// raise them.
	SiteScratchFloor      int64
	SiteScratchInodeFloor int64
	// logf, set by Run to the attempt's logf, logs each directory mode
	// the agent changes on the scratch's path or a read-only path's
	// (guardDir); nil logs none.
	logf func(string, ...any)
}

// DefaultSiteLogLimit bounds the workload's output the agent writes to
// the site's log when its backend names no bound (EnvSiteLogLimit): the
// local backend's default too.
const DefaultSiteLogLimit = 256 << 20

// FromEnv fills the connection fields from the environment the controller
// gave the attempt.
func FromEnv() (Config, error) {
	cfg := Config{Server: os.Getenv(EnvServer), Run: os.Getenv(EnvRun), Token: os.Getenv(EnvToken)}
	if fp := os.Getenv(EnvServerFingerprint); fp != "" {
		hc, err := tlspin.HTTPClient(fp, time.Minute)
		if err != nil {
			return cfg, fmt.Errorf("%s: %w", EnvServerFingerprint, err)
		}
		// A pinned server is reached over HTTPS only (the client refuses
		// anything else): say so now rather than retry for minutes.
		if u, err := url.Parse(cfg.Server); err != nil || u.Scheme != "https" {
			return cfg, fmt.Errorf("%s=%q: %s is set, so the server is reached over HTTPS only; want an https:// address", EnvServer, cfg.Server, EnvServerFingerprint)
		}
		cfg.HTTP = hc
	}
	if v := os.Getenv(EnvPatience); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return cfg, fmt.Errorf("%s=%q: want a positive duration such as 20m", EnvPatience, v)
		}
		cfg.Patience = d
	}
	if v := os.Getenv(EnvPrivateDir); v != "" {
		if !filepath.IsAbs(v) {
			return cfg, fmt.Errorf("%s=%q: want an absolute path", EnvPrivateDir, v)
		}
		cfg.PrivateDir = v
	}
	// Unset, the site's log is still bounded: a backend that does not
	// pass a limit (a Slurm site's, before it did) had the agent copy
	// every byte the workload printed (`yes`) to the disk the site keeps
	// its state on.
	cfg.SiteLogLimit = DefaultSiteLogLimit
	if v := os.Getenv(EnvSiteLogLimit); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return cfg, fmt.Errorf("%s=%q: want a number of bytes above 0", EnvSiteLogLimit, v)
		}
		cfg.SiteLogLimit = n
	}
	for _, e := range []struct {
		name string
		to   *int64
	}{{EnvScratchFloor, &cfg.ScratchFloor}, {EnvScratchInodeFloor, &cfg.ScratchInodeFloor}} {
		if v := os.Getenv(e.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return cfg, fmt.Errorf("%s=%q: want a number above 0", e.name, v)
			}
			*e.to = n
		}
	}
	n, err := strconv.Atoi(os.Getenv(EnvAttempt))
	if err != nil || n < 1 {
		return cfg, fmt.Errorf("%s=%q: want the attempt number", EnvAttempt, os.Getenv(EnvAttempt))
	}
	cfg.Attempt = n
	for k, v := range map[string]string{EnvServer: cfg.Server, EnvRun: cfg.Run, EnvToken: cfg.Token} {
		if v == "" {
			return cfg, fmt.Errorf("%s is not set: the agent is started by Meridian's controller", k)
		}
	}
	if err := checkServerURL(cfg.Server, os.Getenv(EnvInsecureHTTP) == "1"); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// checkServerURL refuses a server address the agent would send its
// attempt's credential to in the clear: plain http:// to anything but
// this machine's loopback (where the server speaks plain HTTP by
// default), unless insecure (EnvInsecureHTTP: the server was started
// with --insecure-http and says so). Anything but http:// or https://
// is refused too, naming the variable.
func checkServerURL(server string, insecure bool) error {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%s=%q: want the server's https:// address (or http:// on this machine's loopback)", EnvServer, server)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if LoopbackHost(u.Hostname()) || insecure {
			return nil
		}
		return fmt.Errorf("%s=%q: plain HTTP to %s, which is not this machine's loopback, would send the attempt's credential across the network in the clear (through any HTTP proxy too); want an https:// address, or %s=1 from a server started with --insecure-http", EnvServer, server, u.Hostname(), EnvInsecureHTTP)
	}
	return fmt.Errorf("%s=%q: scheme %q: want https:// (or http:// on this machine's loopback)", EnvServer, server, u.Scheme)
}

// LoopbackHost reports whether host (no port) is this machine's
// loopback: localhost, or an address in 127.0.0.0/8 or ::1. The agent
// takes plain HTTP to such a host alone, unless its server consents
// (EnvInsecureHTTP); serve refuses to advertise any other http:// address
// without that consent.
func LoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// agentProxy is the proxy a request to u goes through: none to this
// machine's loopback, whatever HTTP_PROXY says (the server's plain-HTTP
// address there carries the credential), else the environment's, as
// Go's default transport does.
func agentProxy(req *http.Request) (*url.URL, error) {
	if LoopbackHost(req.URL.Hostname()) {
		return nil, nil
	}
	return envProxy(req)
}

// envProxy is the environment's proxy (a variable, so that a test can
// stand in for it: Go reads the environment's once a process).
var envProxy = http.ProxyFromEnvironment

// ExitSetup is the agent's exit code when it could not start the workload
// (no manifest, a dataset that would not unseal, no sandbox).
const ExitSetup = 121

// ExitLease is the agent's exit code when it stopped the workload because
// the server had not answered for the manifest's lease, or gave up on its
// manifest because the server had not answered for its patience. The
// controller takes it as the site's loss, not the run's failure.
const ExitLease = 122

// ExitLost is the agent's exit code when it could not vouch that the
// workload and everything it started had ended: processes it started still
// ran when the reaper, and then the agent, gave up killing them (stuck in
// the kernel, with SIGKILL pending, and holding what they held: a GPU,
// memory, files). The attempt is not finished; the controller takes it as
// the site's loss, as it does ExitLease, and the run resumes from its last
// checkpoint.
const ExitLost = 123

// Run runs the attempt: fetch the manifest, unseal the datasets and the
// checkpoint to resume from, run the workload in its sandbox while pushing
// each new checkpoint (sealed with the run's key) to the site's store and
// reporting progress and output, then wipe the scratch directory. It returns
// the workload's exit code.
func Run(ctx context.Context, cfg Config) (int, error) {
	// Before the manifest brings the keys (MainAs has done it before the
	// environment was read; this is for a caller that starts here).
	if err := undumpable(); err != nil {
		return ExitSetup, err
	}
	// The agent's children get only the descriptors it hands them: one
	// it was started with and kept open across exec (the local backend's
	// command lock, on fd 5) reached its reaper, which held the lock
	// once the agent was killed while it ended what the workload left,
	// and Clean, asked once, kept the job's working directory for good.
	// The agent itself keeps them open.
	if err := fdexec.CloseOnExecAbove2(); err != nil {
		return ExitSetup, err
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	if cfg.HTTP == nil {
		// No pin, and no redirects: the credential goes to the server
		// only, and to a server on loopback through no proxy.
		cfg.HTTP, _ = tlspin.HTTPClient("", time.Minute)
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = agentProxy
		cfg.HTTP.Transport = tr
	}
	if cfg.Patience <= 0 {
		cfg.Patience = DefaultPatience
	}
	cfg.Patience = min(cfg.Patience, MaxPatience)
	if cfg.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return ExitSetup, err
		}
		cfg.Exe = exe
	}
	if cfg.WorkDir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return ExitSetup, err
		}
		cfg.WorkDir = wd
	}
	wd, err := filepath.Abs(cfg.WorkDir)
	if err != nil {
		return ExitSetup, err
	}
	// The scratch may be reached through a link (a volume's mount stood in
	// for by one, a site's /scratch on another disk): work in what it
	// names, so that handing the tree to the sandbox's user and confining
	// the workload to it reach the files, not the link. The site made the
	// link before any workload ran.
	if real, err := filepath.EvalSymlinks(wd); err == nil {
		wd = real
	}
	release, err := lockScratch(wd)
	if err != nil {
		return ExitSetup, err
	}
	// The wipe below says whether the scratch is left for the sweep.
	leave := false
	defer func() { release(leave) }() // after the wipe below
	cl := &client{base: cfg.Server, run: cfg.Run, attempt: cfg.Attempt, token: cfg.Token, http: cfg.HTTP}
	m, err := cl.manifest(ctx, cfg.Patience)
	if err != nil {
		if ctx.Err() == nil && unanswered(err) {
			// The server did not answer for the whole patience: the site
			// is cut off from it, and the run is not at fault. The exit
			// code says so, as the lease's does: the controller counts the
			// site lost (the run moves on) rather than the run failed. A
			// server that answered with its own fault every time (a
			// dataset's key gone, a site taken out of its catalog) was
			// reached: that is the attempt's setup failing, or every site
			// would be lost in turn for it.
			return ExitLease, fmt.Errorf("agent: manifest: no answer from the server for %s: %w", cfg.Patience, err)
		}
		return ExitSetup, fmt.Errorf("agent: manifest: %w", err)
	}
	a := &attempt{cfg: cfg, cl: cl, m: m, wd: wd, phase: "preparing", control: make(chan Reply, 4)}
	a.cfg.logf = a.logf
	// Last before the agent's final line (RunMain's), after the wipe's
	// notes: how many of its lines the site's log left out.
	defer a.siteSummary()
	defer func() { leave = a.wipe() }()
	beatCtx, stopBeat := context.WithCancel(ctx)
	defer stopBeat()
	go a.beat(beatCtx)
	if err := a.prepare(ctx); err != nil {
		a.report(ctx, RouteExit, Exit{Code: ExitSetup, Detail: err.Error()})
		return ExitSetup, fmt.Errorf("agent: %w", err)
	}
	code, err := a.runWorkload(ctx)
	switch {
	case !a.fenced.IsZero():
		err = fmt.Errorf("stopped the workload (exit code %d): %s", code, a.fenceWhy)
	case a.diskWhy != "":
		if code == 0 {
			code = 128 + int(syscall.SIGKILL) // killed, whatever it said as it went
		}
		err = fmt.Errorf("killed the workload (exit code %d): %s", code, a.diskWhy)
	case !a.killed.IsZero() && a.cl.over():
		err = errors.Join(err, fmt.Errorf("killed the workload (exit code %d): the server answered that the attempt has ended", code))
	}
	err = a.finish(ctx, code, err)
	switch {
	case !a.fenced.IsZero():
		return ExitLease, fmt.Errorf("agent: %w", err)
	case a.lost:
		return ExitLost, fmt.Errorf("agent: %w", err)
	}
	return code, err
}

// attempt is one agent's state.
type attempt struct {
	cfg Config
	cl  *client
	m   *Manifest
	wd  string
	// scratch is the scratch directory (O_PATH) as its path was checked
	// at the start (freshScratch), nil until it passed: only then does
	// wipe empty it, through this descriptor, never by wd.
	scratch *os.File

	store    *dataset.Store // the site's store, checkpoint prefix
	runKey   seal.Key
	mu       sync.Mutex
	progress *Progress
	phase    string
	exe      string // Meridian's executable as the sandboxed user reaches it
	// exeFile is exe, opened before the workload started: the pack
	// helper runs from it, since the workload may have put a program of
	// its own at exe by then.
	exeFile  *os.File
	reported int64 // last checkpoint step reported
	ck       ckState
	names    []string
	logs     logShipper
	site     siteLog
	// siteOut counts the workload's output written to the site's log;
	// siteCut says it reached cfg.SiteLogLimit (readOutput's own).
	siteOut int64
	siteCut bool
	// control carries the server's requests (stop, checkpoint now) from
	// the heartbeat to the loop that follows the workload.
	control chan Reply
	// fenced is when the workload was stopped because the server had not
	// answered for the lease (zero while it has).
	fenced time.Time
	// sealBy is, once the workload has ended, when the agent gives up
	// sealing checkpoints (zero while it runs).
	sealBy time.Time
	// lost says processes the workload started were still running when
	// the agent gave up on them: the attempt did not end (ExitLost).
	lost bool
	// refusals counts the heartbeats in a row whose credential was
	// refused (401, 403) since the last one the server took. Such a
	// refusal is no answer from the server (something in front of it may
	// give it for a while): it stops the workload only once it persists
	// (refusalPersists).
	refusals atomic.Int64
	// fenceWhy says why the workload was stopped when fenced is set.
	fenceWhy string
	// floor is what the scratch's filesystem keeps free while the
	// workload runs; diskWhy says, once it went below, which limit.
	floor   diskFloor
	diskWhy string
	// killed is when the agent had the reaper kill the workload and all
	// it started because its time to stop had passed (zero until then).
	killed time.Time
}

// finalSeal bounds how long the agent goes on sealing checkpoints once the
// workload has ended: the one in progress then and the last one. A seal is
// otherwise bounded only by the checkpoint's size (MaxCheckpointBytes), and
// the workload decides what the pack helper reads (a sparse file of
// terabytes reads as zeros at the disk's pace, or faster): it could hold
// an ended attempt, and the site's resources, open for hours. A seal given
// up is handled as one that failed: its partial chunks are removed from
// the site's store and the run keeps its last checkpoint reported.
var finalSeal = 10 * time.Minute

// maxFinalRetry bounds how long each report at the attempt's end retries.
const maxFinalRetry = 30 * time.Second

// finalPatience is how long a report at the attempt's end may retry:
// maxFinalRetry, cut to what is left of the lease since the server last
// answered (nothing once the workload was stopped for the lease).
func (a *attempt) finalPatience() time.Duration {
	if !a.fenced.IsZero() {
		return 0
	}
	p := maxFinalRetry
	if a.m.Lease > 0 {
		p = min(p, a.m.Lease-a.cl.quiet())
	}
	return max(p, 0)
}

func (a *attempt) setPhase(p string) {
	a.mu.Lock()
	a.phase = p
	a.mu.Unlock()
}

// beat reports the attempt's phase and progress every heartbeat interval,
// from before the datasets are unsealed until the attempt ends, and passes
// the server's answers on.
func (a *attempt) beat(ctx context.Context) {
	t := time.NewTicker(a.heartbeat())
	defer t.Stop()
	for {
		a.mu.Lock()
		hb := Heartbeat{Phase: a.phase, Progress: a.progress}
		a.mu.Unlock()
		rep, err := a.cl.postJSON(ctx, RouteHeartbeat, hb, 0)
		switch {
		case err == nil:
			a.refusals.Store(0)
			a.pass(rep)
		case errors.Is(err, errEnded):
			// The attempt is over for good: its time to stop has
			// passed too.
			select {
			case a.control <- Reply{Stop: true, Kill: true}:
			default:
			}
		case refusal(err):
			// Not the server's word that the attempt is over: counted
			// as no answer until it persists (refusalPersists).
			if a.refusals.Add(1) == 1 {
				a.logf("heartbeat: %v: taken as no answer from the server until it persists", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pass hands the server's requests in a reply (stop, checkpoint now) to
// the loop that follows the workload. Every report's reply carries them, so
// a run that must leave hears it within one log shipment or checkpoint, not
// only at the next heartbeat.
func (a *attempt) pass(rep Reply) {
	if rep.Stop || rep.Checkpoint || rep.Kill {
		select {
		case a.control <- rep:
		default:
		}
	}
}

func (a *attempt) dirs() (data, ckpt, tmp string) {
	return filepath.Join(a.wd, "data"), filepath.Join(a.wd, "checkpoints"), filepath.Join(a.wd, "tmp")
}

// wipe removes everything in the attempt's scratch directory: unsealed
// data, checkpoints, whatever the workload wrote (wipeScratch). Links are
// removed, never followed. It reports whether the scratch's path and
// lock are to be left for the sweep.
func (a *attempt) wipe() (leave bool) {
	// The keys go first: nothing is unsealed or sealed past here.
	a.dropKeys()
	a.runKey = seal.Key{}
	// A scratch whose path was refused, or not yet checked, is left as
	// it is: its path may lead where another user chose.
	if a.scratch != nil {
		leave = wipeScratch(a.scratch, a.wd, a.notef)
		a.scratch.Close()
		a.scratch = nil
	}
	if a.store != nil {
		a.store.Close()
	}
	if a.exeFile != nil {
		a.exeFile.Close()
	}
	return leave
}

func (a *attempt) report(ctx context.Context, route string, v any) Reply {
	rep, err := a.cl.postJSON(ctx, route, v, a.finalPatience())
	if err != nil {
		a.notef("report %s: %v", filepath.Base(route), err)
	}
	return rep
}

// logf writes an agent message to the site's log and, with the workload's
// output, to the server's. A message names what the workload chose (a
// checkpoint's name, a file in it, what the pack helper said): what may not
// be shown as itself in it is written out (appendEscaped), so that it stays
// one line, a name holding a newline cannot add a line that reads as the
// agent's, and one holding an override cannot reorder the rest of it.
//
// The site's log takes the agent's lines within a bound of their own
// (siteOwnLimit): a workload can have the agent write a line at each step
// (a checkpoint that fails to seal, a report refused), without end. Past
// it the site's log keeps only notes (notef), and says at the end how many
// lines it left out (siteSummary); the server's copy, bounded on its own,
// takes them all.
func (a *attempt) logf(format string, args ...any) { a.say(false, format, args...) }

// notef is logf for a line that says how the attempt goes or ends (the
// workload stopped or killed, the output cut short): one the agent writes
// once, or a few times, in an attempt. Past the bound of the agent's lines
// the site's log still takes such lines, within siteEndLimit.
func (a *attempt) notef(format string, args ...any) { a.say(true, format, args...) }

func (a *attempt) say(note bool, format string, args ...any) {
	line := appendEscaped([]byte(agentPrefix+" "), []byte(fmt.Sprintf(format, args...)))
	line = append(line, '\n')
	a.site.mu.Lock()
	if a.site.takes(len(line), note, a.cfg.SiteLogLimit) {
		a.writeSite(line)
	} else if !a.site.cutSaid {
		a.site.cutSaid = true
		cut := fmt.Appendf(nil, "%s the agent's lines are over their bound in the site's log (%d bytes): it keeps no more of them but those that say how the attempt goes and ends; the server's copy takes them\n",
			agentPrefix, a.site.ownLimit(a.cfg.SiteLogLimit))
		a.site.ends += int64(len(cut))
		a.writeSite(cut)
	}
	a.site.mu.Unlock()
	a.logs.addOwn(line, a.m.LogLimit)
}

// siteSummary says in the site's log how many of the agent's lines it
// left out, if any: once, at the attempt's end.
func (a *attempt) siteSummary() {
	a.site.mu.Lock()
	defer a.site.mu.Unlock()
	if a.site.left == 0 || a.site.summed {
		return
	}
	a.site.summed = true
	a.writeSite(fmt.Appendf(nil, "%s %d of the agent's lines were left out of the site's log (%d bytes), over its bound of %d bytes for them\n",
		agentPrefix, a.site.left, a.site.leftBytes, a.site.ownLimit(a.cfg.SiteLogLimit)))
}

// writeSite writes line, the agent's, to the site's log; a.site.mu is held.
func (a *attempt) writeSite(line []byte) {
	if !a.siteMerged() {
		a.cfg.Stderr.Write(line)
		return
	}
	// After output the workload left without its line's end, the
	// agent's line begins a line of its own, as in the server's copy.
	// It begins in the terminal's plain style too: a colour, a style
	// (concealed, say) or a link the workload's output left in force
	// would carry over into it.
	var before []byte
	if a.site.open {
		before = []byte("\n")
		a.site.open = false
	}
	before = a.site.style.ends(before)
	a.site.style = openStyle{}
	if len(before) > 0 {
		a.cfg.Stderr.Write(append(before, line...))
	} else {
		a.cfg.Stderr.Write(line)
	}
}

// The site's log takes at most siteOwnLimit bytes of the agent's lines (or
// the site's limit on the workload's output, where lower), and past them
// at most siteEndLimit of its notes.
const (
	siteOwnLimit = 64 << 10
	siteEndLimit = 16 << 10
)

func (s *siteLog) ownLimit(siteLimit int64) int64 {
	if siteLimit > 0 {
		return min(siteOwnLimit, siteLimit)
	}
	return siteOwnLimit
}

// takes reports whether the site's log takes n bytes more of the agent's
// lines, and counts them; a line it does not take is counted as left out.
func (s *siteLog) takes(n int, note bool, siteLimit int64) bool {
	if s.left == 0 && s.own+int64(n) <= s.ownLimit(siteLimit) {
		s.own += int64(n)
		return true
	}
	if note && s.ends+int64(n) <= siteEndLimit {
		s.ends += int64(n)
		return true
	}
	s.left++
	s.leftBytes += int64(n)
	return false
}

// siteLog follows the site's log where it takes the workload's output and
// the agent's lines in one file (the scheduler's log of the job, most
// often).
type siteLog struct {
	once   sync.Once
	merged bool
	mu     sync.Mutex
	// open says the workload's output written last left its line open.
	open bool
	// style is what the workload's output may have left in force.
	style openStyle
	// own and ends count the bytes of the agent's lines and notes
	// written (takes); left and leftBytes those left out. cutSaid says
	// the log said where it stops taking them, summed how many it left
	// out.
	own, ends       int64
	left, leftBytes int64
	cutSaid, summed bool
}

// openStyle notes what the workload's output, passed through as written,
// may have left in force on a terminal that shows it: a colour or style
// (SGR), a link (OSC 8). Left so, it carries over into the agent's next
// line, which a workload could thus hide (concealed, black on black) or
// dress as its own, or make into its link. Only escape sequences that
// do no more than that pass through (agentLikeMarker marks and writes
// out any other), so a line without ESC leaves nothing new in force.
type openStyle struct {
	styled, linked bool
}

// note notes b, output as written.
func (o *openStyle) note(b []byte) {
	i := bytes.IndexByte(b, 0x1b)
	if i < 0 {
		return
	}
	o.styled = true
	if bytes.Contains(b[i:], []byte("\x1b]8;")) {
		o.linked = true
	}
}

// styleReset ends every colour and style; linkEnd ends a link.
const (
	styleReset = "\x1b[0m"
	linkEnd    = "\x1b]8;;\x1b\\"
)

// ends appends to b what ends what the output left in force: nothing
// when it left nothing.
func (o *openStyle) ends(b []byte) []byte {
	if o.styled {
		b = append(b, styleReset...)
	}
	if o.linked {
		b = append(b, linkEnd...)
	}
	return b
}

// siteMerged reports whether the agent's lines (Stderr) and the
// workload's output (Stdout) go to the same file.
func (a *attempt) siteMerged() bool {
	a.site.once.Do(func() { a.site.merged = sameSink(a.cfg.Stdout, a.cfg.Stderr) })
	return a.site.merged
}

// sameSink reports whether x and y write to the same place: the same
// writer, or files that are one.
func sameSink(x, y io.Writer) bool {
	fx, ok1 := x.(*os.File)
	fy, ok2 := y.(*os.File)
	if ok1 && ok2 {
		sx, err1 := fx.Stat()
		sy, err2 := fy.Stat()
		return err1 == nil && err2 == nil && os.SameFile(sx, sy)
	}
	return x != nil && reflect.TypeOf(x).Comparable() && x == y
}

// prepare empties the scratch directory, unseals the datasets and the
// checkpoint to resume from, and hands the scratch to the sandbox's user.
// Everything it makes in the scratch goes through the descriptor the
// scratch's path was checked by (a.scratch), never through that path.
func (a *attempt) prepare(ctx context.Context) error {
	if err := checkSandbox(a.m.Sandbox); err != nil {
		return err
	}
	// The scratch's path is checked, in every mode, before anything in
	// the scratch is removed or made (freshScratch); refused, the
	// scratch is left as it is, not wiped either (wipe).
	scratch, err := freshScratch(a.m.Sandbox, a.wd, a.cfg.logf)
	if err != nil {
		return err
	}
	a.scratch = scratch
	afterScratchReady()
	// Where the read-only paths lead is made fixed (no one else may
	// change it) before it is judged.
	if err := checkReadOnlyWriters(a.cfg, a.m.Sandbox); err != nil {
		return err
	}
	if err := checkPrivate(a.cfg, a.m.Sandbox); err != nil {
		return err
	}
	key, err := seal.ParseKey(a.m.RunKey)
	if err != nil {
		return fmt.Errorf("run key: %w", err)
	}
	a.runKey = key
	// The checkpoint's pin is checked with the datasets', before
	// anything is unsealed.
	if err := resumePinned(a.m.Resume); err != nil {
		return err
	}
	base, err := dataset.OpenStore(ctx, a.m.Store)
	if err != nil {
		return fmt.Errorf("site store: %w", err)
	}
	if err := a.unsealDatasets(ctx, base.Sub(a.m.DataPrefix)); err != nil {
		return err
	}
	a.store = base.Sub(a.m.CheckpointPrefix)
	if r := a.m.Resume; r != nil {
		if err := a.restore(ctx, r); err != nil {
			return fmt.Errorf("checkpoint at step %d: %w", r.Step, err)
		}
		a.reported = r.Step
		a.names = append(a.names, r.Name)
	}
	if a.m.Sandbox.Mode == SandboxUID {
		if err := chownTree(a.scratch, a.wd, a.m.Sandbox.UID, a.m.Sandbox.GID); err != nil {
			return err
		}
	}
	// The workload is started in the scratch held (inScratch), but told
	// the paths of its data and checkpoints: a path that no longer names
	// the scratch made ready (its data is there, and the wipe empties
	// it) is refused rather than handed to it.
	return stillAt(int(a.scratch.Fd()), a.wd)
}

// beforeWorkloadStart runs once everything is checked, just before the
// workload's reaper starts: a test stands in here for a swap of the
// scratch made meanwhile.
var beforeWorkloadStart = func() {}

// afterScratchReady runs once the scratch is checked and made ready,
// before anything is unsealed into it: a test stands in here for a swap
// made meanwhile.
var afterScratchReady = func() {}

// workloadEnv is the workload's environment: the job's variables, then
// Meridian's, then a few of the agent's own (PATH, LANG), never the
// attempt credential.
func (a *attempt) workloadEnv() map[string]string {
	data, ckpt, tmp := a.dirs()
	env := map[string]string{}
	for _, k := range []string{"PATH", "LANG", "LC_ALL", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	for k, v := range a.m.Env {
		env[k] = v
	}
	names := make([]string, 0, len(a.m.Datasets))
	for _, d := range a.m.Datasets {
		names = append(names, d.Name)
	}
	env[EnvRun] = a.m.Run
	env[EnvAttempt] = strconv.Itoa(a.m.Attempt)
	env[EnvSite] = a.m.Site
	env[EnvWorkDir] = a.wd
	env[EnvDataDir] = data
	env[EnvDatasets] = strings.Join(names, " ")
	env[EnvCheckpointDir] = ckpt
	env["HOME"] = a.wd
	env["TMPDIR"] = tmp
	if r := a.m.Resume; r != nil {
		env[EnvResumeFrom] = filepath.Join(ckpt, r.Path)
	}
	return env
}

// commandExe is how the workload's command names Meridian's executable
// exe (workloadExe). In the uid sandbox that is the link in the scratch
// wd, named relative to the workload's working directory, the scratch
// held since its check (inScratch): named by its absolute path, a swap
// of the scratch, or a directory above it, after the check had the
// tenant's workload run, and be granted, whatever program lay at the
// same name where the link led. $(MERIDIAN_EXE) is still that path.
func commandExe(sb Sandbox, wd, exe string) string {
	if sb.Mode != SandboxUID {
		return exe
	}
	rel, err := filepath.Rel(wd, exe)
	if err != nil || !filepath.IsLocal(rel) {
		return exe
	}
	return "./" + rel
}

// Expand replaces $(VAR) in s with env[VAR]; $$ is a literal $. Unknown
// variables are left as written, as Kubernetes does.
func Expand(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+end+1])
			}
			i += end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// runWorkload starts the workload in its sandbox and follows it until it
// ends, pushing checkpoints and reporting as it goes.
func (a *attempt) runWorkload(ctx context.Context) (int, error) {
	env := a.workloadEnv()
	exe, exeFile, err := workloadExe(a.cfg, a.m.Sandbox, a.scratch, a.wd)
	if err != nil {
		return ExitSetup, err
	}
	env[EnvExe] = exe
	a.exe, a.exeFile = exe, exeFile
	args := make([]string, len(a.m.Command))
	for i, s := range a.m.Command {
		args[i] = Expand(s, env)
	}
	if len(args) == 0 {
		return ExitSetup, errors.New("the manifest has no command")
	}
	// exe is named too, not only the agent's own file: in the uid
	// sandbox, on a scratch on another filesystem than the agent's
	// executable, it is a copy, and $(MERIDIAN_EXE) run by its absolute
	// path after a swap of the scratch ran what lay at that name where
	// the link led.
	if args[0] == "meridian" || args[0] == exe || sameFile(args[0], a.cfg.Exe) {
		args[0] = commandExe(a.m.Sandbox, a.wd, exe)
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var envList []string
	for _, k := range keys {
		envList = append(envList, k+"="+env[k])
	}
	cmd, err := workloadCommand(a.cfg, a.m.Sandbox, a.wd, args, envList)
	if err != nil {
		return ExitSetup, err
	}
	// Started in the scratch held since its check, not by its path
	// (inScratch): the path was last looked at as prepare ended.
	if err := cmd.inScratch(a.scratch, a.wd); err != nil {
		return ExitSetup, err
	}
	// The workload's reaper leads the process group the agent signals.
	// Should the agent die (the scheduler kills it, SIGKILL), the reaper
	// gets reapSignal and ends everything below it. That signal comes
	// when the thread that started the reaper ends, so this goroutine
	// keeps its thread until the reaper has ended.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: reapSignal}
	// The reaper can be killed or stopped (in sandbox mode none by the
	// workload, which runs as this user; anywhere by the kernel's
	// out-of-memory killer or an operator): what it leaves then comes to
	// the agent, not to init, for the agent to end (sweepOrphans).
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return ExitSetup, fmt.Errorf("agent: cannot become a subreaper: %w", err)
	}
	// A process the reaper could not end (one stuck in the kernel, with
	// SIGKILL pending) may hold the output open: Wait does not wait on it.
	cmd.WaitDelay = 5 * time.Second
	// The scratch's filesystem is looked at through the scratch held
	// since its check, never by its path: swapped for a link to another
	// filesystem, the path had the agent watch that one while the
	// workload filled the scratch's. The descriptor itself is asked
	// (fstatfs), not its /proc entry, which may not be there.
	if a.floor, err = scratchFloor(a.cfg, a.scratch, a.wd); err != nil {
		return ExitSetup, err
	}
	if why, err := a.floor.below(a.scratch, a.wd); err != nil || why != "" {
		return ExitSetup, errors.Join(err, errorIf(why, "not starting the workload: "+why))
	}
	if a.cl.over() {
		// Answered while the datasets were unsealed: another attempt
		// may run already.
		return ExitSetup, errors.New("the server answered that the attempt has ended before its workload started")
	}
	beforeWorkloadStart()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pw.Close()
		return ExitSetup, fmt.Errorf("start workload: %w", err)
	}
	a.setPhase("running")
	outDone := make(chan struct{})
	go func() { a.readOutput(pr); close(outDone) }()
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait(); pw.Close() }()

	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	defer signal.Stop(sig)
	ckTick := time.NewTicker(checkpointPoll)
	defer ckTick.Stop()
	// Checkpoints are sealed and reported beside this loop, one push at a
	// time, never in it: a push may take long (a large checkpoint) or, when
	// the workload stops its pack helper, for ever, and this loop must still
	// see the workload's end, the server's stop and a lapsed lease. A push
	// still running when the workload has ended is waited for (it is most
	// often the workload's last checkpoint), then finish pushes whatever
	// is newer; one running when the workload was stopped for the lease
	// is cancelled, as nothing is pushed then.
	// A push still running finalSeal after the workload ended is cancelled
	// too: its seal is given up.
	pushCtx, cancelPush := context.WithCancelCause(ctx)
	defer cancelPush(nil)
	var pushing chan struct{} // open while a push runs
	defer func() {
		if pushing == nil {
			return
		}
		if !a.fenced.IsZero() {
			cancelPush(errors.New("the workload was stopped for the lease"))
		} else if a.cl.over() {
			cancelPush(errAttemptEnded)
		} else if !a.sealBy.IsZero() {
			t := time.NewTimer(time.Until(a.sealBy))
			defer t.Stop()
			select {
			case <-pushing:
				return
			case <-t.C:
				cancelPush(errSealLate)
			}
		}
		<-pushing
	}()
	pgid := cmd.Process.Pid
	for {
		select {
		case <-pushing:
			pushing = nil
		case err := <-waitErr:
			<-outDone
			// The reaper has ended whatever the workload started; this
			// is for a reaper that was itself killed.
			syscall.Kill(-pgid, syscall.SIGKILL)
			a.sealBy = time.Now().Add(finalSeal)
			return a.reaped(cmd, err)
		case s := <-sig:
			if s == syscall.SIGUSR1 {
				syscall.Kill(-pgid, syscall.SIGUSR1)
			} else {
				syscall.Kill(-pgid, syscall.SIGTERM)
			}
		case <-ctx.Done():
			syscall.Kill(-pgid, syscall.SIGTERM)
		case <-ckTick.C:
			if a.diskWhy == "" {
				why, err := a.floor.below(a.scratch, a.wd)
				if err != nil {
					why = err.Error()
				}
				if why != "" {
					// At once and whole: a grace would let it write on.
					a.diskWhy = why
					cancelPush(errors.New(why))
					a.kill(cmd, why)
				}
			}
			if state := procState(pgid); state == 'T' || state == 't' {
				// Only the workload (in sandbox mode none) or an
				// operator stops the reaper: stopped, it neither
				// reaps nor kills, and the agent would wait on it for
				// ever. It is killed; what it leaves comes to the agent.
				a.notef("the workload's reaper (pid %d) was stopped: killing it and ending what the workload started", pgid)
				cmd.Process.Signal(syscall.SIGKILL) // by pidfd: never another process given its pid
			}
			if a.cl.over() {
				// The server has ended the attempt for good: the run
				// has another attempt (which may run already, on the
				// same data), or has ended. It asked for the stop
				// before, and gave the workload its time to drain.
				// Not a grace more: the workload is killed now, and no
				// checkpoint is sealed for a run that no longer takes
				// this attempt's.
				cancelPush(errAttemptEnded)
				if a.killed.IsZero() {
					a.kill(cmd, "the server answered that the attempt has ended")
				}
			}
			if !a.killed.IsZero() && time.Since(a.killed) > fenceGrace(a.m.Lease) {
				// A reaper that has not ended everything in a grace:
				// its group at least ends.
				syscall.Kill(-pgid, syscall.SIGKILL)
			}
			switch quiet := a.cl.quiet(); {
			case !a.fenced.IsZero():
				switch since := time.Since(a.fenced); {
				case since > 2*fenceGrace(a.m.Lease):
					// A reaper that has not ended everything in another
					// grace: its group at least ends.
					syscall.Kill(-pgid, syscall.SIGKILL)
				case since > fenceGrace(a.m.Lease):
					// Not SIGKILL to the group, which would end the
					// reaper and leave what the workload started in a
					// session of its own: the reaper kills its subtree.
					syscall.Kill(pgid, reapSignal)
				}
			case a.diskWhy != "":
				// Killed for the scratch's disk: nothing more is sealed
				// (its chunks may go to that disk).
				a.shipLogs(ctx, false)
			case a.cl.over():
				// Nothing more is pushed or shipped: the server takes
				// nothing from this attempt.
			case a.m.Lease > 0 && quiet > a.m.Lease:
				// The server has not answered for the lease, by which it
				// has counted this attempt lost and may have started
				// another: the workload stops rather than run on without it.
				a.notef("no answer from the server for %s (the lease is %s): stopping the workload", quiet.Round(time.Millisecond), a.m.Lease)
				a.fenced, a.fenceWhy = time.Now(), fmt.Sprintf("no answer from the server for the lease (%s)", a.m.Lease)
				syscall.Kill(-pgid, syscall.SIGTERM)
			case a.refusalPersists(quiet):
				// Without a lease, a refusal of the credential that
				// persists stops the workload as the lease does: the
				// server has heard nothing from the attempt for as long,
				// and the exit code (ExitLease) says so to it.
				a.notef("the attempt's credential refused for %d heartbeats in a row and no answer from the server for %s: stopping the workload", a.refusals.Load(), quiet.Round(time.Millisecond))
				a.fenced, a.fenceWhy = time.Now(), fmt.Sprintf("the attempt's credential refused, and no answer from the server, for %s", refusalLimit)
				syscall.Kill(-pgid, syscall.SIGTERM)
			default:
				if pushing == nil {
					pushing = make(chan struct{})
					go func(done chan struct{}) {
						defer close(done)
						a.pushCheckpoint(pushCtx, 0, time.Time{})
					}(pushing)
				}
				a.shipLogs(ctx, false)
			}
		case rep := <-a.control:
			if rep.Checkpoint {
				syscall.Kill(-pgid, syscall.SIGUSR1)
			}
			if rep.Stop {
				syscall.Kill(-pgid, syscall.SIGTERM)
			}
			if rep.Kill && a.killed.IsZero() {
				a.kill(cmd, "the server says the time the workload had to stop has passed")
			}
		}
	}
}

// kill has the reaper end the workload and everything it started at once
// (SIGKILL; not to the group, which would end the reaper and leave what
// the workload started in a session of its own): a workload asked to stop
// may ignore SIGTERM, and at a site whose scheduler the server cannot
// reach nothing else would end it.
func (a *attempt) kill(cmd *sandboxed, why string) {
	a.killed = time.Now()
	a.notef("%s: killing the workload and everything it started", why)
	cmd.Process.Signal(reapSignal) // by pidfd: never another process given its pid
}

// reaped is the attempt's outcome once the workload's reaper has ended
// with err: the workload's exit code, as the reaper reported it. A reaper
// that ended without its report, or with another exit code than it
// reported, was killed (by signal, or a crash): the workload's end is not
// known, and what it started may run on, now below the agent, which ends
// it. Its attempt fails (never a success), and is lost when something
// could not be ended.
func (a *attempt) reaped(cmd *sandboxed, err error) (int, error) {
	code := exitCode(err)
	if errors.Is(err, exec.ErrWaitDelay) {
		// The reaper ended well, but its output stayed open past
		// WaitDelay: a process it could not end holds it (its report
		// says so). The code is the reaper's, not a failed start's.
		code = 0
	}
	var rep []byte
	select {
	case rep = <-cmd.report:
	case <-time.After(5 * time.Second):
	}
	var said, left int
	n, _ := fmt.Sscanf(string(rep), "%d %d\n", &said, &left)
	switch {
	case n != 2 || said != code:
		how := "exited with code " + strconv.Itoa(code)
		if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			how = "was killed by " + st.Signal().String()
		}
		a.notef("the workload's reaper %s without saying how the workload ended: ending what the workload started", how)
		if code == 0 {
			code = ExitLost
		}
		if _, n := sweepOrphans(reapGiveUp); n > 0 {
			a.lost = true
			return code, fmt.Errorf("the workload's reaper %s, and %d processes the workload started still ran %s after SIGKILL", how, n, reapGiveUp)
		}
		return code, fmt.Errorf("the workload's reaper %s before the workload's end was known; the agent ended what the workload had started", how)
	case left > 0:
		// Stuck in the kernel past the reaper's bound: they are the
		// agent's children now, with SIGKILL pending; nothing more to do.
		a.lost = true
		return code, fmt.Errorf("the workload exited with code %d, but %d processes it started still ran %s after SIGKILL (stuck in the kernel): the attempt did not end", code, left, reapGiveUp)
	}
	return code, nil
}

// sweepOrphans ends every process below the agent but its helpers and
// theirs (helpers): what a reaper that was killed, or a helper, left,
// which came to the agent, its subreaper. It kills until none is left,
// waiting for those that are the agent's children, for at most bound, and
// returns how many it found at first and how many still run then.
func sweepOrphans(bound time.Duration) (found, left int) {
	self := os.Getpid()
	deadline := time.Now().Add(bound)
	for first := true; ; first = false {
		helpers.Lock()
		procs := descendants(self, helpers.pids)
		killTopDown(procs)
		helpers.Unlock()
		if first {
			found = len(procs)
		}
		for p, info := range procs {
			// The agent's own children here are orphans it adopted,
			// which nothing else waits for: they would stay zombies.
			if info.ppid == self {
				var ws syscall.WaitStatus
				syscall.Wait4(p, &ws, syscall.WNOHANG, nil)
			}
		}
		if len(procs) == 0 {
			return found, 0
		}
		if time.Now().After(deadline) {
			return found, liveCount(procs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sweepAtEnd is sweepOrphans at the attempt's end, unless the attempt is
// lost already: what is left then was given its time.
func (a *attempt) sweepAtEnd() (found, left int) {
	if a.lost {
		return 0, 0
	}
	return sweepOrphans(reapGiveUp)
}

// procState is the state letter of process pid (/proc/PID/stat's third
// field), 0 when it cannot be read.
func procState(pid int) byte {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return 0
	}
	return data[i+2]
}

// refusalLimit is how long refusals of the attempt's credential (401,
// 403) with no answer from the server between them stop the workload of
// an attempt without a lease. With a lease, a refusal is no answer, and
// the lease stops the workload (after at least twice the server's
// silence limit, by which the server has counted the attempt lost); an
// operator who turned leases off lets a cut-off workload run on, but a
// credential refused for this long is not something in front of the
// server recovering.
var refusalLimit = 10 * time.Minute

// minRefusals is how many heartbeats in a row must be refused before the
// refusal counts as persisting: a few refused requests in a burst (the
// agent's heartbeat and reports at once) are one passing answer.
const minRefusals = 3

// refusalPersists reports whether the credential has been refused long
// enough to stop the workload of an attempt without a lease: at least
// minRefusals heartbeats in a row, with no answer from the server
// (quiet) for refusalLimit.
func (a *attempt) refusalPersists(quiet time.Duration) bool {
	return a.m.Lease <= 0 && a.refusals.Load() >= minRefusals && quiet > refusalLimit
}

// fenceGrace is how long a workload stopped for a lapsed lease has to end
// before it is killed: half the lease, from 1 to 30 seconds.
func fenceGrace(lease time.Duration) time.Duration {
	return min(max(lease/2, time.Second), 30*time.Second)
}

// minHeartbeat bounds how often the agent beats, whatever the manifest
// says: the interval is integer nanoseconds in JSON (a 2 meant as seconds
// is 2 ns), and beats faster than the agent API's per-attempt rate would
// have the server refuse the attempt's other reports beside them.
const minHeartbeat = 50 * time.Millisecond

func (a *attempt) heartbeat() time.Duration {
	if a.m.Heartbeat > 0 {
		return max(a.m.Heartbeat, minHeartbeat)
	}
	return 2 * time.Second
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			return 128 + int(st.Signal())
		}
		return ee.ExitCode()
	}
	return ExitSetup
}

// readOutput copies the workload's output to the agent's stdout (the
// scheduler's log), keeps it for the server, and follows progress lines.
func (a *attempt) readOutput(r io.Reader) {
	br := bufio.NewReaderSize(r, 64<<10)
	// A line longer than the buffer comes in pieces: only a piece that
	// starts a line may be a progress line, not one from the middle of a
	// long line (text the workload printed from its data, say).
	whole := true
	var marker agentLikeMarker
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			shown := marker.mark(line)
			// Over the site log's limit, the server's copy and the
			// progress still take it.
			switch {
			case !a.siteKeeps(len(shown)):
			case a.siteMerged():
				a.site.mu.Lock()
				a.cfg.Stdout.Write(shown)
				a.site.open = shown[len(shown)-1] != '\n'
				a.site.style.note(shown)
				a.site.mu.Unlock()
			default:
				a.cfg.Stdout.Write(shown)
			}
			a.logs.add(shown, a.m.LogLimit)
			// Only a line that starts "step=" can be one: every other
			// line is not copied to be parsed.
			if whole && bytes.HasPrefix(line, []byte("step=")) {
				if p, ok := backend.ParseProgress(strings.TrimRight(string(line), "\r\n")); ok {
					a.mu.Lock()
					a.progress = &Progress{Step: p.Step, Steps: p.Steps, Loss: p.Loss, TokensPerS: p.TokensPerSec}
					a.mu.Unlock()
				}
			}
			whole = line[len(line)-1] == '\n'
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// siteKeeps reports whether n more bytes of the workload's output go to
// the site's log, within cfg.SiteLogLimit; the first time they do not, it
// says so there, once.
func (a *attempt) siteKeeps(n int) bool {
	limit := a.cfg.SiteLogLimit
	if limit <= 0 {
		return true
	}
	if !a.siteCut && a.siteOut+int64(n) <= limit {
		a.siteOut += int64(n)
		return true
	}
	if !a.siteCut {
		a.siteCut = true
		a.notef("the workload's output is over the site log's limit (%d bytes): the site's log keeps no more of it", limit)
	}
	return false
}

// agentPrefix begins each line the agent writes to the run's log.
const agentPrefix = "meridian agent:"

// workloadMark begins a line of the workload's output that holds
// agentPrefix, or could read as holding it once shown.
const workloadMark = "(workload) "

// agentLikeMarker marks the workload's lines that could pass for the
// agent's own (a checkpoint sealed, a lease, the output cut short) in the
// run's log. It is fed a stream's lines in order, a long line in pieces.
//
// A line can read as holding agentPrefix without holding its bytes. A
// terminal, and the console, drop escape sequences and controls that are
// not shown ("meridian\x1b[0m agent: sealed"), and a style can blank a
// cell in the prefix's space: the text left once they are removed is
// searched, cut pieces joined. A terminal also draws a carriage return or
// a backspace over what the line wrote before ("Xeridian agent:
// sealed\rm"), moves past cells with a tab, shows nothing for an
// invisible format character or reorders the line (a bidirectional
// override), and may wrap the line at any width before a carriage return.
// What is drawn from such a line is bounded by what it holds: each cell
// shown was written by one of its characters. So a line that holds such a
// character and every letter of the prefix (as many of each, and its
// colon; a space can be a cell passed over) is marked. An escape sequence
// that moves the cursor within its row, or erases or deletes cells in it,
// counts as a carriage return does. Any other (a cursor up, a scroll, a
// clear screen, a mode: anything but those, colours and styles), and a C1
// control, can change lines already shown, a marked one included: a line
// holding one is marked whatever its letters.
//
// A marked piece gets workloadMark before it and what may not be shown as
// itself in it written out (appendEscaped: controls, bytes that are not
// UTF-8, bidirectional and invisible characters), so that nothing in it
// moves the cursor or reorders the line: the mark stays where it is
// drawn, before the text, and the text reads in the order it is stored.
// Every other line is kept as written.
type agentLikeMarker struct {
	// tail is the end of the line's text so far (before this piece),
	// for a prefix cut between two pieces.
	tail []byte
	// text is the piece's text as shown, escape sequences and controls
	// removed (reused from piece to piece).
	text []byte
	// counts counts the prefix's letters in the line's text so far: kept
	// for a line that is drawn over, or longer than a piece.
	counts [len(prefixLetters)]int
	// drawn says the line so far holds a character that moves the
	// cursor within it, or reorders it.
	drawn bool
}

// prefixLetters are the characters of agentPrefix a line must hold to be
// drawn as holding it; prefixNeed is how many of each.
const prefixLetters = "meridagt:"

var prefixNeed = func() (n [len(prefixLetters)]int) {
	for _, c := range []byte(agentPrefix) {
		if i := strings.IndexByte(prefixLetters, c); i >= 0 {
			n[i]++
		}
	}
	return n
}()

// agentPrefix around its space, which a style can show as any cell.
const (
	prefixHead = "meridian"
	prefixRest = "agent:"
)

// maxPrefixShown is the most bytes that can be shown as agentPrefix.
const maxPrefixShown = len(prefixHead) + utf8.UTFMax + len(prefixRest)

// mark returns piece (a line, or a piece of a long one) as the run's log
// gets it.
func (m *agentLikeMarker) mark(piece []byte) []byte {
	body, ends := bytes.CutSuffix(piece, []byte("\n"))
	text, danger := body, false
	if i := firstSpecial(body); i >= 0 {
		if ends && m.counts[0] == 0 && bytes.IndexByte(body, 0x1b) < 0 && bytes.IndexByte(body, 0xc2) < 0 && !showsM(body) {
			// No escape sequence, no C1 control (0xc2 0x80 to 0x9f),
			// and no "m" in the line, nor a letter drawn like one
			// (so no prefix, drawn or not): a progress bar, most often.
			*m = agentLikeMarker{tail: m.tail[:0], text: m.text}
			return piece
		}
		text, danger = m.shown(body, i, ends)
	}
	if m.drawn || !ends {
		for i := range len(prefixLetters) {
			m.counts[i] += bytes.Count(text, []byte{prefixLetters[i]})
		}
	}
	mark := danger || showsPrefix(text)
	if !mark && len(m.tail) > 0 {
		joined := append(m.tail[:len(m.tail):len(m.tail)], text[:min(len(text), maxPrefixShown-1)]...)
		mark = showsPrefix(joined)
	}
	if !mark && m.drawn {
		mark = true
		for i, n := range prefixNeed {
			if m.counts[i] < n {
				mark = false
				break
			}
		}
	}
	if ends {
		*m = agentLikeMarker{tail: m.tail[:0], text: m.text}
	} else {
		m.tail = append(m.tail, text[max(0, len(text)-(maxPrefixShown-1)):]...)
		m.tail = m.tail[max(0, len(m.tail)-(maxPrefixShown-1)):]
	}
	if !mark {
		return piece
	}
	out := make([]byte, 0, len(workloadMark)+len(piece)+16)
	out = append(out, workloadMark...)
	out = appendEscaped(out, body)
	if ends {
		out = append(out, '\n')
	}
	return out
}

// firstSpecial returns the index of b's first byte that is a control
// character or not ASCII, or -1. Every byte of the workload's output goes
// through it: eight at a time are tested for one (a byte of 0x80 or more,
// one below 0x20, or DEL), which is then found one by one.
func firstSpecial(b []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; len(b)-i >= 8; i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		del := x ^ 0x7f*ones
		if (x|(x-0x20*ones)&^x|(del-ones)&^del)&highs != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c >= 0x7f {
			return i
		}
	}
	return -1
}

// shown returns the text a terminal shows of body (ending its line when
// ends), whose first control or byte that is not ASCII is at i: escape sequences that only set
// colours and styles, and controls that are not shown, removed. It notes
// in m.drawn a character that moves the cursor within the line or
// reorders it, and reports whether body holds a sequence or a control
// that can change other lines.
func (m *agentLikeMarker) shown(body []byte, i int, ends bool) (text []byte, danger bool) {
	t := append(m.text[:0], body[:i]...)
	for i < len(body) {
		c := body[i]
		switch {
		case c >= 0x20 && c < 0x7f:
			t = append(t, c)
			i++
		case c == 0x1b:
			n, kind := escapeLen(body[i:])
			switch kind {
			case escInRow:
				m.drawn = true
			case escOther:
				danger = true
			}
			i += n
		case c == '\r', c == '\b', c == '\t', c == '\v', c == '\f':
			m.drawn = true
			i++
		case c < 0x80:
			i++ // not shown: NUL, BEL, DEL, …
		default:
			r, n := utf8.DecodeRune(body[i:])
			switch {
			case r == utf8.RuneError && n == 1 && c == 0xc2 && i == len(body)-1 && !ends:
				// The next piece may end it as a C1 control.
				danger = true
			case r == utf8.RuneError && n == 1:
				// Shown as a replacement, or joined with the next
				// piece's bytes into a character that is not.
				m.drawn = true
			case r < 0xa0:
				danger = true // C1: a CSI, a reverse line feed, …
			case invisible(r):
				m.drawn = true
			default:
				if like := lookAlike(r); like != 0 {
					t = append(t, like)
				} else if !(r >= 0x300 && unicode.Is(unicode.Mn, r)) {
					t = append(t, body[i:i+n]...)
				}
			}
			i += n
		}
	}
	m.text = t
	return t, danger
}

// lookAlike returns the letter of agentPrefix (or its colon) that r is
// drawn like, or 0. A line that writes the prefix with look-alike letters
// ("mеridian agent:" with a Cyrillic е, or in fullwidth forms) reads as
// the agent's though its bytes differ: shown folds each such letter to the
// prefix's own before the prefix is searched for. The fold is this
// prefix's only, and small: a letter whose compatibility form (NFKC) is
// one of the prefix's (fullwidth ｍ, mathematical 𝐦, small ⅿ, ：), and
// the letters of other scripts and the symbols that Unicode's confusables
// (UTS #39) gives as the prefix's own letters: Cyrillic е ҽ г і ӏ ԁ а,
// Greek ι α, Armenian ո ռ ց, IPA ɑ ɡ ɩ ı, and colons in other scripts.
// An accented letter folds to its letter (é to e), and shown drops
// combining marks written apart ("me\u0301ridian"): either is drawn as
// the prefix with an accent.
func lookAlike(r rune) byte {
	switch r {
	case 'е', 'ҽ':
		return 'e'
	case 'г', 'ⲅ':
		return 'r'
	case 'і', 'ı', 'ι', 'ɩ', 'ӏ', 'ꙇ':
		return 'i'
	case 'ԁ', 'ᑯ':
		return 'd'
	case 'а', 'ɑ', 'α', '⍺':
		return 'a'
	case 'ո', 'ռ':
		return 'n'
	case 'ɡ', 'ց', 'ᶃ':
		return 'g'
	case 'ː', '˸', '։', '׃', '܃', '܄', '᛬', '∶', '꞉', 'ꓽ', '⁚':
		return ':'
	}
	if r < 0xa0 || r >= 0x2500 && r < 0x2c00 || r >= 0x3040 && r < 0xa000 {
		// None in these ranges (box drawing, blocks and other symbols,
		// kana and CJK ideographs) folds: a progress bar's blocks and
		// text in those scripts are not looked up.
		return 0
	}
	return lookAlikeNFKC(r)
}

// lookAlikeNFKC is lookAlike for a letter whose compatibility form, its
// accents aside, is one of the prefix's.
func lookAlikeNFKC(r rune) byte {
	var b [utf8.UTFMax]byte
	d := norm.NFKC.Properties(b[:utf8.EncodeRune(b[:], r)]).Decomposition()
	if len(d) == 0 || strings.IndexByte(prefixHead+prefixRest, d[0]) < 0 {
		return 0
	}
	// A letter with an accent (é) decomposes to the letter and its
	// marks, which shown drops where they are written apart.
	for _, m := range string(d[1:]) {
		if !unicode.Is(unicode.Mn, m) {
			return 0
		}
	}
	return d[0]
}

// showsM reports whether body holds an "m", or a letter lookAlike draws
// as one.
func showsM(body []byte) bool {
	if bytes.IndexByte(body, 'm') >= 0 {
		return true
	}
	for i := firstSpecial(body); i >= 0 && i < len(body); {
		if body[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(body[i:])
		if lookAlike(r) == 'm' {
			return true
		}
		i += n
	}
	return false
}

// showsPrefix reports whether text shows agentPrefix, its space any one
// character (a style can blank a cell).
func showsPrefix(text []byte) bool {
	for {
		i := bytes.Index(text, []byte(prefixHead))
		if i < 0 {
			return false
		}
		rest := text[i+len(prefixHead):]
		if _, n := utf8.DecodeRune(rest); n > 0 && bytes.HasPrefix(rest[n:], []byte(prefixRest)) {
			return true
		}
		text = text[i+1:]
	}
}

// Kinds of escape sequence, as escapeLen tells them.
const (
	// escStyle sets colours and styles (SGR: ESC [ … m), shows or
	// hides the cursor (ESC [ ? 25 h, l), names the window or makes a
	// link (oscLen).
	escStyle = iota
	// escInRow moves the cursor within its row, or erases, inserts or
	// deletes cells in it: ESC [ … then @ C D G I K P X Z ` a (a
	// progress bar's "\r\x1b[2K", say). Like a carriage return.
	escInRow
	// escOther is any other sequence, or one cut short: it may move the
	// cursor to another row, scroll, clear the screen, change a mode.
	escOther
)

// escapeLen returns the length of the escape sequence at the start of b
// (which begins with ESC), and its kind.
func escapeLen(b []byte) (int, int) {
	if len(b) >= 2 && b[1] == ']' {
		return oscLen(b)
	}
	if len(b) < 2 || b[1] != '[' {
		return 1, escOther
	}
	if bytes.HasPrefix(b, []byte("\x1b[?25h")) || bytes.HasPrefix(b, []byte("\x1b[?25l")) {
		return 6, escStyle
	}
	for i := 2; i < len(b); i++ {
		switch c := b[i]; {
		case c >= '0' && c <= '9', c == ';', c == ':':
		case c == 'm':
			return i + 1, escStyle
		case strings.IndexByte("@CDGIKPXZ`a", c) >= 0:
			return i + 1, escInRow
		default:
			return i, escOther
		}
	}
	return len(b), escOther
}

// oscLen is escapeLen for an operating system command (ESC ] …, ended by
// BEL or ESC \). One that names a window's title or makes a link (OSC 0,
// 1, 2, 8) shows nothing in the line and moves nothing: it counts as a
// style. Any other, and one not ended within the piece (a terminal would
// swallow what follows, the agent's next line included), does not.
func oscLen(b []byte) (int, int) {
	end := -1
	for i := 2; i < len(b); i++ {
		if b[i] == 0x07 {
			end = i + 1
			break
		}
		if b[i] == 0x1b && i+1 < len(b) && b[i+1] == '\\' {
			end = i + 2
			break
		}
		if b[i] < 0x20 || b[i] == 0x7f {
			break
		}
	}
	if end < 0 {
		return 1, escOther
	}
	code, _, _ := bytes.Cut(b[2:end], []byte(";"))
	switch string(code) {
	case "0", "1", "2", "8":
		return end, escStyle
	}
	return end, escOther
}

// invisible reports whether a terminal may show r as nothing, or let it
// change how the characters around it are drawn: format characters
// (zero-width spaces and joiners, bidirectional controls), others ignored
// by default, variation selectors, and the line and paragraph separators.
func invisible(r rune) bool {
	if r < 0xad || r >= 0x2070 && r < 0x3164 {
		// None in these ranges (Latin, most symbols, box drawing): the
		// tables are not searched for a progress bar's blocks.
		return false
	}
	return invisibleInTables(r)
}

func invisibleInTables(r rune) bool {
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) ||
		unicode.Is(unicode.Variation_Selector, r) || r == '\u2028' || r == '\u2029'
}

// appendEscaped appends body to out with each character written out that
// may not be shown as itself: those that every other place showing a
// tenant's, a site's or a workload's text escapes (textsafe.Unsafe: C0 and
// C1 controls, a tab included, DEL, bidirectional overrides, embeddings
// and isolates, the line and paragraph separators), and those a terminal
// may draw as nothing (invisible: a zero-width space or joiner, a soft
// hyphen), which would hide or reorder the rest of the line as the
// workload chose. A control below U+00A0 and a byte that is not UTF-8 are
// written as \xNN, a byte each; any other as \uXXXX or \UXXXXXXXX. It
// serves the workload's lines marked as not the agent's (agentLikeMarker)
// and the agent's own, which may hold what the workload named (a
// checkpoint's name, what the pack helper said).
func appendEscaped(out, body []byte) []byte {
	for len(body) > 0 {
		r, n := utf8.DecodeRune(body)
		switch {
		case r == utf8.RuneError && n == 1, r < 0xa0 && textsafe.Unsafe(r):
			for _, c := range body[:n] {
				out = fmt.Appendf(out, "\\x%02x", c)
			}
		case textsafe.Unsafe(r), r >= utf8.RuneSelf && invisible(r):
			if r > 0xffff {
				out = fmt.Appendf(out, "\\U%08x", r)
			} else {
				out = fmt.Appendf(out, "\\u%04x", r)
			}
		default:
			out = append(out, body[:n]...)
		}
		body = body[n:]
	}
	return out
}

// finish pushes the last checkpoint and output, ends what is left below
// the agent, and reports the end, returning err with what could not be
// ended. Each report retries for at most what is left of the lease since
// the server last answered: an agent the server cannot hear ends within
// the lease, as the server expects, rather than retrying for minutes at a
// site the run has left.
func (a *attempt) finish(ctx context.Context, code int, err error) error {
	a.setPhase("finishing")
	// Not for a workload killed for filling the disk: the seal's chunks
	// may go to that disk, and its last checkpoint may be what filled it.
	if a.fenced.IsZero() && !a.cl.over() && a.diskWhy == "" {
		a.pushCheckpoint(ctx, a.finalPatience(), a.sealBy)
	}
	if a.ck.failed != 0 && a.store != nil {
		// The last checkpoint that failed to seal is not tried again.
		rctx, cancel := context.WithTimeout(ctx, maxFinalRetry)
		a.dropFailed(rctx)
		cancel()
	}
	// The pack helper runs as the workload's user, in its sandbox, and
	// what it started (a helper the workload took over, in sandbox mode
	// none or where Landlock is missing) came to the agent when it ended:
	// nothing outlives the attempt, whichever helper started it.
	// (After the reaper's leftovers, already given their time, nothing.)
	if found, left := a.sweepAtEnd(); left > 0 {
		a.lost = true
		err = errors.Join(err, fmt.Errorf("%d processes left below the agent still ran %s after SIGKILL (stuck in the kernel): the attempt did not end", left, reapGiveUp))
	} else if found > 0 {
		a.notef("ended %d processes left below the agent", found)
	}
	a.shipLogs(ctx, true)
	a.mu.Lock()
	p := a.progress
	a.mu.Unlock()
	a.report(ctx, RouteHeartbeat, Heartbeat{Phase: "finishing", Progress: p})
	detail := ""
	if err != nil {
		detail = err.Error()
	}
	a.report(ctx, RouteExit, Exit{Code: code, Detail: detail, Fenced: !a.fenced.IsZero(), Lost: a.lost && a.fenced.IsZero()})
	return err
}

// logShipper keeps the output the server has not acknowledged.
type logShipper struct {
	mu      sync.Mutex
	pending []byte
	offset  int64 // bytes acknowledged
	total   int64 // bytes produced
	dropped bool
	// skipped counts the bytes left out since the last kept, while
	// pending was full.
	skipped int64
	// open says the last byte kept did not end a line.
	open bool
}

// maxPending bounds the output held while the server does not answer.
const maxPending = 8 << 20

// overLimitNote ends the output the server keeps once it reaches the
// manifest's LogLimit.
const overLimitNote = "meridian agent: output over the server's limit; the rest is in the site's own log\n"

// add keeps b, the workload's output, for the server.
func (l *logShipper) add(b []byte, limit int64) { l.put(b, limit, false) }

// addOwn keeps line, one of the agent's own, for the server. It begins a
// line: after output the workload left without its end ("(workload) ",
// say), it would read as the workload's, or as whatever the workload put
// before it.
func (l *logShipper) addOwn(line []byte, limit int64) { l.put(line, limit, true) }

func (l *logShipper) put(b []byte, limit int64, own bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dropped {
		return
	}
	// Output left out while pending was full is marked where it was, so
	// that the server's copy never reads as whole across a gap.
	var note []byte
	if l.skipped > 0 {
		note = fmt.Appendf(nil, "meridian agent: %d bytes of output left out here (the server did not take them in time); the site's own log has them\n", l.skipped)
	}
	// The agent's notes and lines begin a line of their own.
	var nl []byte
	if l.open && (own || len(note) > 0) {
		nl = []byte("\n")
	}
	// The note that output went over the server's limit fits within it:
	// the server keeps no byte past the limit, and cut there the note
	// read as a broken line rather than saying why the log ends.
	if limit > 0 && l.total+int64(len(nl)+len(note)+len(b)) > limit-int64(len(overLimitNote)+1) {
		if l.open {
			l.pending = append(l.pending, '\n')
			l.total++
		}
		l.pending = append(l.pending, overLimitNote...)
		l.total += int64(len(overLimitNote))
		l.dropped = true
		return
	}
	if len(l.pending)+len(nl)+len(note)+len(b) > maxPending {
		l.skipped += int64(len(b))
		return
	}
	l.pending = append(append(append(l.pending, nl...), note...), b...)
	l.total += int64(len(nl) + len(note) + len(b))
	l.skipped = 0
	if n := len(l.pending); n > 0 {
		l.open = l.pending[n-1] != '\n'
	}
}

func (a *attempt) shipLogs(ctx context.Context, final bool) {
	l := &a.logs
	// The server reads at most MaxLogPost bytes of a post and refuses a
	// longer one whole: what piled up (a burst of output between two
	// polls, or while the server did not answer) goes in posts of that
	// size, or it would be refused at every poll and nothing written after
	// it would reach the server. A poll sends one post, as the agent API's
	// rate expects; the end sends everything.
	for {
		l.mu.Lock()
		data := append([]byte(nil), l.pending[:min(len(l.pending), MaxLogPost)]...)
		off := l.offset
		l.mu.Unlock()
		if len(data) == 0 {
			return
		}
		patience := time.Duration(0)
		if final {
			patience = a.finalPatience()
		}
		var rep Reply
		err := retry(ctx, patience, func(ctx context.Context) (err error) {
			rep, err = a.cl.postLogs(ctx, off, data)
			return err
		})
		if err != nil {
			return
		}
		a.pass(rep)
		l.mu.Lock()
		l.pending = l.pending[len(data):]
		l.offset += int64(len(data))
		l.mu.Unlock()
		if !final {
			return
		}
	}
}
