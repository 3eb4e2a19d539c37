// Command trainer is Meridian's example training program: a character-level
// language model that checkpoints every K steps and resumes after a crash or
// a migration. See package charlm for what it prints and writes.
//
//	trainer -data charlm/corpus -checkpoints /tmp/ckpt -steps 600 -checkpoint-every 100
package main

import (
	"os"

	"meridian.dev/meridian/examples/trainer/charlm"
)

func main() {
	os.Exit(charlm.Main(os.Args[1:], os.Stdout, os.Stderr))
}
