package dataset

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/seal"
)

var update = flag.Bool("update", false, "rewrite testdata files")

// fuzzKey is a fixed key so that seeds keep a valid MAC across runs.
var fuzzKey = seal.Key{1, 2, 3, 4, 5, 6, 7, 8}

func fuzzSealer(t testing.TB) *seal.Sealer {
	s, err := seal.New(fuzzKey, "fuzz")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sampleManifest(s *seal.Sealer) *Manifest {
	return &Manifest{Version: ManifestVersion, Dataset: "fuzz", Files: []File{
		{Path: "a/x.bin", Size: 5, Mode: 0o644, Chunks: []ChunkRef{{ID: s.ChunkID([]byte("hello")), Size: 5}}},
		{Path: "b", Size: 0, Mode: 0o600},
	}}
}

// TestManifestGolden pins the stored form of a manifest.
func TestManifestGolden(t *testing.T) {
	s := fuzzSealer(t)
	got, err := sampleManifest(s).Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "manifest.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("manifest encoding changed (run with -update if intended):\n got %s\nwant %s", got, want)
	}
	m, err := ParseManifest(want, s)
	if err != nil || len(m.Files) != 2 || m.Files[0].Chunks[0].Size != 5 {
		t.Fatalf("ParseManifest(golden) = %+v, %v", m, err)
	}
}

func TestManifestRejects(t *testing.T) {
	s := fuzzSealer(t)
	tests := []struct {
		name string
		edit func(m *Manifest)
	}{
		{"dotdot path", func(m *Manifest) { m.Files[0].Path = "../etc/passwd" }},
		{"absolute path", func(m *Manifest) { m.Files[0].Path = "/etc/passwd" }},
		{"unsorted", func(m *Manifest) { m.Files[0].Path = "c" }},
		{"size mismatch", func(m *Manifest) { m.Files[0].Size = 6 }},
		{"zero chunk", func(m *Manifest) { m.Files[0].Chunks[0].Size = 0 }},
		{"setuid mode", func(m *Manifest) { m.Files[0].Mode = 0o4755 }},
		{"bad version", func(m *Manifest) { m.Version = 2 }},
		{"bad dataset", func(m *Manifest) { m.Dataset = "Bad_Name" }},
		{"file is also a directory", func(m *Manifest) { m.Files[1].Path = "a" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := sampleManifest(s)
			tc.edit(m)
			if _, err := m.Encode(s); err == nil {
				t.Fatal("Encode accepted an invalid manifest")
			}
		})
	}
	good, _ := sampleManifest(s).Encode(s)
	other, _ := seal.New(seal.Key{9}, "fuzz")
	if _, err := ParseManifest(good, other); err != ErrManifestAuth {
		t.Fatalf("wrong key: %v", err)
	}
	bad := bytes.Replace(good, []byte(`a/x.bin`), []byte(`a/y.bin`), 1)
	if _, err := ParseManifest(bad, s); err != ErrManifestAuth {
		t.Fatalf("altered body: %v", err)
	}
}

// FuzzParseManifest feeds arbitrary stored manifests; nothing may panic, and
// anything accepted must re-encode and re-parse to the same manifest.
func FuzzParseManifest(f *testing.F) {
	s := fuzzSealer(f)
	good, _ := sampleManifest(s).Encode(s)
	f.Add(good)
	f.Add([]byte(`{"manifest":{},"mac":"00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data, s)
		if err != nil {
			return
		}
		enc, err := m.Encode(s)
		if err != nil {
			t.Fatalf("accepted manifest does not re-encode: %v", err)
		}
		if _, err := ParseManifest(enc, s); err != nil {
			t.Fatalf("re-encoded manifest does not parse: %v", err)
		}
	})
}

// FuzzManifestBody fuzzes the body decoder behind the MAC, which a holder of
// the key (or a bug) could feed anything.
func FuzzManifestBody(f *testing.F) {
	s := fuzzSealer(f)
	good, _ := sampleManifest(s).Encode(s)
	body := good[len(`{"manifest":`):bytes.LastIndex(good, []byte(`,"mac"`))]
	f.Add(body)
	f.Add([]byte(`{"version":1,"dataset":"x","files":[{"path":"..","size":0,"mode":0,"chunks":[]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeBody(data)
		if err != nil {
			return
		}
		for _, fl := range m.Files {
			if CheckPath(fl.Path) != nil {
				t.Fatalf("unsafe path accepted: %q", fl.Path)
			}
		}
	})
}
