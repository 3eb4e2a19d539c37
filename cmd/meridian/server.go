package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	_ "meridian.dev/meridian/backend/kubernetes" // registers the "kubernetes" backend
	_ "meridian.dev/meridian/backend/local"      // registers the "local" backend
	_ "meridian.dev/meridian/backend/slurm"      // registers the "slurm" backend
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// serverOptions configure an embedded or standalone server.
type serverOptions struct {
	StateDir    string
	Listen      string
	CatalogDir  string
	Poll        time.Duration
	SiteTimeout time.Duration
	Log         io.Writer
}

// server is a running controller and API.
type server struct {
	URL   string
	Token string
	Store *store.SQLite
	Ctl   *run.Controller
	stop  func()
	done  chan struct{}
}

// planWith is planner.Make with the built-in law packs, compiled once for
// the server's life, and the engine itself, which the stager asks again
// before each dataset moves.
func planWith(io.Writer) (run.Planner, *policy.Engine, error) {
	eng, err := policy.Builtin()
	if err != nil {
		return nil, nil, fmt.Errorf("law engine: %w", err)
	}
	law := planner.PolicyLaw(eng)
	return func(w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
		return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude, Rules: law})
	}, eng, nil
}

// serverKeyring is the owner's keyring in the state directory, the one
// `meridian dataset add` fills when MERIDIAN_HOME is the same directory.
func serverKeyring(stateDir string) (dataset.Keyring, error) {
	k := dataset.Keyring{Dir: filepath.Join(stateDir, "keyring")}
	if p := os.Getenv("MERIDIAN_AGE_IDENTITY"); p != "" {
		data, err := os.ReadFile(p)
		if err != nil {
			return k, fmt.Errorf("MERIDIAN_AGE_IDENTITY: %w", err)
		}
		k.AgeIdentity = string(data)
	}
	return k, nil
}

// backendFor returns a site's backend, as its settings name it, keeping the
// backend's state under root.
func backendFor(site *catalog.Site, root string) (backend.Backend, error) {
	return backend.For(site.Spec.Backend, root)
}

func startServer(opts serverOptions) (*server, error) {
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, err
	}
	// One controller per state directory: a second would race the first.
	// The kernel drops the lock when the process dies, even by SIGKILL.
	lock, err := os.OpenFile(filepath.Join(opts.StateDir, "serve.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("state directory %s is in use by another meridian serve", opts.StateDir)
	}
	ok := false
	defer func() {
		if !ok {
			lock.Close()
		}
	}()
	key, err := audit.LoadKey(opts.StateDir)
	if err != nil {
		return nil, err
	}
	tokens, token, err := api.LoadTokens(opts.StateDir)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(opts.StateDir, "meridian.db"), store.Options{AuditKey: key})
	if err != nil {
		return nil, err
	}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	plan, eng, err := planWith(logw)
	if err != nil {
		st.Close()
		return nil, err
	}
	keys, err := serverKeyring(opts.StateDir)
	if err != nil {
		st.Close()
		return nil, err
	}
	// Datasets move through the same law-gated, verified path as
	// `meridian dataset stage`, with the audit log as the transfer ledger.
	stager := &transfer.Stager{Law: eng, Ledger: audit.NewLog(st), Keys: keys, VerifyArrival: true}
	ctl := run.New(run.Config{Store: st, StateDir: opts.StateDir, CatalogDir: opts.CatalogDir, Plan: plan,
		Backends: backendFor, Poll: opts.Poll, SiteTimeout: opts.SiteTimeout, Stager: stager,
		Logger: slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		st.Close()
		return nil, err
	}
	url := "http://" + ln.Addr().String()
	cfg, _ := json.MarshalIndent(clientConfig{Server: url, Token: token}, "", "  ")
	if err := audit.WriteFileAtomic(opts.StateDir, filepath.Join(opts.StateDir, clientFile), append(cfg, '\n'), 0o600); err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	hs := &http.Server{Handler: api.New(ctl, st, tokens), ReadHeaderTimeout: 10 * time.Second}
	cctx, cancel := context.WithCancel(ctx)
	s := &server{URL: url, Token: token, Store: st, Ctl: ctl, done: make(chan struct{})}
	ctlDone := make(chan struct{})
	go func() { ctl.Run(cctx); close(ctlDone) }()
	go hs.Serve(ln)
	s.stop = func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		hs.Shutdown(sctx)
		cancel()
		<-ctlDone
		st.Close()
		lock.Close()
		close(s.done)
	}
	ok = true
	return s, nil
}

// Close stops the API, then the controller, then closes the store.
func (s *server) Close() { s.stop() }
