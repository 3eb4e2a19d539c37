package agent

import (
	"io"
	"strings"
	"testing"
)

// BenchmarkReadOutput: the path every line of the workload's output takes
// (the site's log, the server's copy, progress), on a training run's
// usual output: progress lines, plain text, and a progress bar drawn with
// carriage returns.
func BenchmarkReadOutput(b *testing.B) {
	var sb strings.Builder
	for i := range 2000 {
		switch i % 4 {
		case 0:
			sb.WriteString("step=1200 steps=50000 loss=2.3456 tokens_per_s=182345.5\n")
		case 1:
			sb.WriteString("2026-12-05 19:20:31 INFO trainer: saved shard 17 of dataset wiki-en (4096 documents, 12.5 MiB)\n")
		case 2:
			sb.WriteString("\r 45%|████▌     | 45/100 [00:01<00:02, 27.31it/s]\r 46%|████▌     | 46/100 [00:01<00:02, 27.32it/s]\n")
		case 3:
			sb.WriteString("\x1b[32mok\x1b[0m validation perplexity 11.2\n")
		}
	}
	out := sb.String()
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		a := &attempt{cfg: Config{Stdout: io.Discard}, m: &Manifest{LogLimit: 1 << 40}}
		a.readOutput(strings.NewReader(out))
	}
}
