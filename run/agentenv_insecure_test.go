package run

import (
	"context"
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
// when its agents are to reach the server at serverURL.
func agentEnvFor(t *testing.T, serverURL string) backend.Spec {
	t.Helper()
	at := &envAt{got: make(chan backend.Spec, 1)}
	e := newEnv(t, func(c *Config) {
		at.reach = c.ServerURL
		c.ServerURL = serverURL
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

// TestAgentEnvInsecureHTTP: a server whose agents reach it over plain
// HTTP (serve --insecure-http, or an http:// --advertise, which a server
// that speaks TLS refuses) tells them so, and the agent takes the address;
// one reached over HTTPS does not. The agent refuses plain HTTP off its
// own loopback unless told, and nothing told it: every attempt of a
// --insecure-http server whose sites are other machines failed at its
// agent's start.
func TestAgentEnvInsecureHTTP(t *testing.T) {
	for _, tc := range []struct {
		url      string
		insecure bool
	}{
		{"http://10.0.0.1:7420", true},
		{"HTTP://meridian.example:7420", true},
		{"https://10.0.0.1:7420", false},
	} {
		t.Run(tc.url, func(t *testing.T) {
			spec := agentEnvFor(t, tc.url)
			if got := spec.Env[agent.EnvServer]; got != tc.url {
				t.Fatalf("%s=%q, want %q", agent.EnvServer, got, tc.url)
			}
			v, set := spec.Env[agent.EnvInsecureHTTP]
			if tc.insecure && v != "1" {
				t.Errorf("%s=%q (set %v), want 1", agent.EnvInsecureHTTP, v, set)
			}
			if !tc.insecure && set {
				t.Errorf("%s=%q for an https:// server, want it unset", agent.EnvInsecureHTTP, v)
			}
			// What the agent makes of it: it starts.
			for k, v := range spec.JobEnv() {
				t.Setenv(k, v)
			}
			if !set {
				t.Setenv(agent.EnvInsecureHTTP, "")
			}
			if _, err := agent.FromEnv(); err != nil {
				t.Errorf("the agent refuses its environment: %v", err)
			}
		})
	}
}
