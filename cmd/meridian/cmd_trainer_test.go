package main

import (
	"bytes"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

func TestTrainerCommand(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"trainer", "-data", "../../examples/trainer/charlm/corpus", "-checkpoints", t.TempDir(),
		"-steps", "40", "-checkpoint-every", "20", "-log-every", "20"})
	if err := root.Execute(); err != nil {
		t.Fatalf("meridian trainer: %v\n%s", err, out.String())
	}
	p, ok, err := backend.LastProgress(strings.NewReader(out.String()))
	if err != nil || !ok || p.Step != 40 || p.Steps != 40 {
		t.Fatalf("last progress %+v (ok %v, err %v), want step 40 of 40:\n%s", p, ok, err, out.String())
	}

	root = newRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"trainer", "-steps", "0"})
	err = root.Execute()
	var ce *codeError
	if err == nil || !asCode(err, &ce) || ce.code != exitBadInput {
		t.Fatalf("meridian trainer -steps 0: %v, want exit code %d", err, exitBadInput)
	}
}

func asCode(err error, ce **codeError) bool {
	c, ok := err.(*codeError)
	*ce = c
	return ok
}
