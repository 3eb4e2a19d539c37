package backend_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
)

func TestParseProgress(t *testing.T) {
	tests := []struct {
		line string
		want backend.Progress
		ok   bool
	}{
		{"step=120 steps=1000 loss=2.3412 tokens_per_s=51234", backend.Progress{Step: 120, Steps: 1000, Loss: 2.3412, TokensPerSec: 51234}, true},
		{"step=5 loss=0.5\n", backend.Progress{Step: 5, Loss: 0.5}, true},
		{"step=5 loss=1e-3 lr=0.1", backend.Progress{Step: 5, Loss: 0.001}, true},
		{"step=0 loss=5.5452 tokens_per_s=0", backend.Progress{Step: 0, Loss: 5.5452}, true},
		{"step=5", backend.Progress{}, false},
		{"loss=1 step=5", backend.Progress{}, false},
		{"checkpoint step=100 path=/x", backend.Progress{}, false},
		{"step=-1 loss=1", backend.Progress{}, false},
		{"step=1.5 loss=1", backend.Progress{}, false},
		{"step=1 loss=NaN", backend.Progress{}, false},
		{"step=1 loss=+Inf", backend.Progress{}, false},
		{"step=1 loss=-2", backend.Progress{}, false},
		{"step=1 loss=1 loss=2", backend.Progress{}, false},
		{"step=1 loss=1 junk", backend.Progress{}, false},
		{"step=1 loss=1 =3", backend.Progress{}, false},
		{"step=1 loss=1 tokens_per_s=fast", backend.Progress{}, false},
		{"step=1 loss=1 " + strings.Repeat("x=1 ", 2000), backend.Progress{}, false},
		{"", backend.Progress{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.line[:min(len(tt.line), 40)], func(t *testing.T) {
			got, ok := backend.ParseProgress(tt.line)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("ParseProgress(%q) (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}

func TestLastProgress(t *testing.T) {
	in := "start step=0\nstep=10 steps=30 loss=4 tokens_per_s=9\ncheckpoint step=10 path=x\nstep=20 steps=30 loss=3\nnoise\n"
	got, ok, err := backend.LastProgress(strings.NewReader(in))
	if err != nil || !ok {
		t.Fatalf("LastProgress: ok %v err %v", ok, err)
	}
	if diff := cmp.Diff(backend.Progress{Step: 20, Steps: 30, Loss: 3}, got); diff != "" {
		t.Fatal(diff)
	}
	if got.Fraction() != 20.0/30 {
		t.Errorf("Fraction = %v", got.Fraction())
	}
	if _, ok, _ := backend.LastProgress(strings.NewReader("nothing here\n")); ok {
		t.Error("LastProgress found progress in output without any")
	}
}

func FuzzParseProgress(f *testing.F) {
	f.Add("step=120 steps=1000 loss=2.3412 tokens_per_s=51234")
	f.Add("step=1 loss=1 loss=2")
	f.Add("step=")
	f.Fuzz(func(t *testing.T, line string) {
		p, ok := backend.ParseProgress(line)
		if !ok {
			return
		}
		if p.Step < 0 || p.Steps < 0 || p.Loss < 0 || p.TokensPerSec < 0 {
			t.Fatalf("accepted negative values: %+v", p)
		}
		if f := p.Fraction(); f < 0 || f > 1 {
			t.Fatalf("Fraction %v out of [0,1]", f)
		}
	})
}

func TestSpecValidate(t *testing.T) {
	good := backend.Spec{RunID: "run-1.a_b", Attempt: 0, Command: []string{"true"}, Env: map[string]string{"A_1": "x"}}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid spec rejected: %v", err)
	}
	tests := []struct {
		name string
		edit func(*backend.Spec)
		want string
	}{
		{"empty id", func(s *backend.Spec) { s.RunID = "" }, "runID: must not be empty"},
		{"long id", func(s *backend.Spec) { s.RunID = strings.Repeat("a", 65) }, "at most 64"},
		{"dot id", func(s *backend.Spec) { s.RunID = ".hidden" }, "must not start"},
		{"dash id", func(s *backend.Spec) { s.RunID = "-x" }, "must not start"},
		{"space id", func(s *backend.Spec) { s.RunID = "a b" }, "contains ' '"},
		{"negative attempt", func(s *backend.Spec) { s.Attempt = -1 }, "attempt"},
		{"empty program", func(s *backend.Spec) { s.Command = []string{""} }, "command"},
		{"digit env", func(s *backend.Spec) { s.Env = map[string]string{"1A": ""} }, `env: "1A"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good
			tt.edit(&s)
			err := s.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestFor(t *testing.T) {
	if diff := cmp.Diff([]string{"local", "slurm"}, backend.Types()); diff != "" {
		t.Fatalf("registered types (-want +got):\n%s", diff)
	}
	dir := t.TempDir()
	for _, tt := range []struct {
		site catalog.BackendSpec
		want string // type name of the backend, or error text
	}{
		{catalog.BackendSpec{}, "*local.Local"},
		{catalog.BackendSpec{Type: "local"}, "*local.Local"},
		{catalog.BackendSpec{Type: "slurm", Partition: "site-a", GresType: "h100"}, "*slurm.Slurm"},
		{catalog.BackendSpec{Type: "kubernetes"}, `backend.type: "kubernetes" is not available`},
		{catalog.BackendSpec{Type: "slurm", Partition: "a b"}, "backend.partition"},
	} {
		b, err := backend.For(tt.site, dir)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = typeName(b)
		}
		if !strings.Contains(got, tt.want) {
			t.Errorf("For(%+v) = %s, want %s", tt.site, got, tt.want)
		}
	}
	if _, err := backend.For(catalog.BackendSpec{}, ""); err == nil {
		t.Error("For with an empty state directory succeeded")
	}
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }

func BenchmarkParseProgress(b *testing.B) {
	for b.Loop() {
		if _, ok := backend.ParseProgress("step=120 steps=1000 loss=2.3412 tokens_per_s=51234"); !ok {
			b.Fatal("not parsed")
		}
	}
}

// TestSetFor: a program's explicit set runs only what it names, and a
// site without a configured backend is for planning, not "local".
func TestSetFor(t *testing.T) {
	set := backend.Set{"local": local.Factory, "slurm": slurm.Factory}
	if diff := cmp.Diff([]string{"local", "slurm"}, set.Types()); diff != "" {
		t.Fatalf("types (-want +got):\n%s", diff)
	}
	dir := t.TempDir()
	if _, err := set.For(catalog.BackendSpec{}, dir); !errors.Is(err, backend.ErrNoBackend) {
		t.Errorf("a site without a backend: %v, want ErrNoBackend", err)
	}
	if _, err := set.For(catalog.BackendSpec{Type: "kubernetes"}, dir); err == nil || !strings.Contains(err.Error(), "cannot run in this program") {
		t.Errorf("kubernetes: %v", err)
	}
	if b, err := set.For(catalog.BackendSpec{Type: "local"}, dir); err != nil || typeName(b) != "*local.Local" {
		t.Errorf("local: %v %v", typeName(b), err)
	}
	if _, err := (backend.Set{"local": local.Factory}).For(catalog.BackendSpec{Type: "slurm"}, dir); err == nil {
		t.Error("a set without slurm made a slurm backend")
	}
}
