package run

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// envAt is a site's backend that hands the environment of the first job
// it is given to got, and starts the job's agent against reach, the
// test's own server, whatever address the controller gave it.
type envAt struct {
	backend.Backend
	reach string
	got   chan backend.Spec
}

func (b *envAt) Submit(ctx context.Context, spec backend.Spec) (string, error) {
	select {
	case b.got <- spec:
	default:
	}
	env := maps.Clone(spec.Env)
	env[agent.EnvServer] = b.reach
	spec.Env = env
	return b.Backend.Submit(ctx, spec)
}

// agentEnvFor is the Spec the controller gives the first attempt's job
// when its agents are to reach the server at serverURL, the operator's
// consent to plain HTTP (serve --insecure-http) given or not.
func agentEnvFor(t *testing.T, serverURL string, insecure bool) backend.Spec {
	t.Helper()
	at := &envAt{got: make(chan backend.Spec, 1)}
	e := newEnv(t, func(c *Config) {
		at.reach = c.ServerURL
		c.ServerURL = serverURL
		c.AgentInsecureHTTP = insecure
		c.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := backend.For(site.Spec.Backend, root)
			if err != nil {
				return b, err
			}
			return &envAt{Backend: b, reach: at.reach, got: at.got}, nil
		}
	})
	if _, _, err := e.c.Submit(context.Background(), "t1", SubmitRequest{Documents: []Document{jobDoc(2, 1)}}); err != nil {
		t.Fatal(err)
	}
	select {
	case spec := <-at.got:
		return spec
	case <-time.After(30 * time.Second):
		t.Fatal("no job was submitted")
	}
	return backend.Spec{}
}

// TestAgentEnvInsecureHTTP: a server whose operator consented to plain
// HTTP (serve --insecure-http) and whose agents reach it at an http://
// address off loopback tells them so, and the agent takes the address.
// One reached over HTTPS, or on loopback, does not, and neither does one
// at an http:// address without the consent: any http:// address used to
// tell the agent, so serve --listen 127.0.0.1:7420 --advertise
// http://gw.example:7420 had agents send their credential across the
// network in clear, which the operator never allowed. The agent refuses
// that address now.
func TestAgentEnvInsecureHTTP(t *testing.T) {
	for _, tc := range []struct {
		url      string
		consent  bool
		insecure bool // the agent is told
		refused  bool // the agent refuses its environment
	}{
		{"http://10.0.0.1:7420", true, true, false},
		{"HTTP://meridian.example:7420", true, true, false},
		{"https://10.0.0.1:7420", true, false, false},
		{"http://127.0.0.1:7420", true, false, false},
		{"http://gw.example:7420", false, false, true},
		{"http://10.0.0.1:7420", false, false, true},
		{"http://[::1]:7420", false, false, false},
		{"https://gw.example:7420", false, false, false},
	} {
		t.Run(fmt.Sprintf("%s/consent=%v", tc.url, tc.consent), func(t *testing.T) {
			spec := agentEnvFor(t, tc.url, tc.consent)
			if got := spec.Env[agent.EnvServer]; got != tc.url {
				t.Fatalf("%s=%q, want %q", agent.EnvServer, got, tc.url)
			}
			v, set := spec.Env[agent.EnvInsecureHTTP]
			if tc.insecure && v != "1" {
				t.Errorf("%s=%q (set %v), want 1", agent.EnvInsecureHTTP, v, set)
			}
			if !tc.insecure && set {
				t.Errorf("%s=%q, want it unset", agent.EnvInsecureHTTP, v)
			}
			// What the agent makes of it.
			for k, v := range spec.JobEnv() {
				t.Setenv(k, v)
			}
			if !set {
				t.Setenv(agent.EnvInsecureHTTP, "")
			}
			_, err := agent.FromEnv()
			if tc.refused && err == nil {
				t.Error("the agent takes a plain-HTTP address off loopback that the operator never consented to")
			}
			if !tc.refused && err != nil {
				t.Errorf("the agent refuses its environment: %v", err)
			}
		})
	}
}
