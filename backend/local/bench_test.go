package local_test

import (
	"context"
	"fmt"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
)

// BenchmarkSubmit measures accepted local submissions (each starts a real
// process running `true`) per second.
func BenchmarkSubmit(b *testing.B) {
	l := newLocalB(b)
	ctx := context.Background()
	wd := b.TempDir()
	for i := 0; b.Loop(); i++ {
		if _, err := l.Submit(ctx, backend.Spec{RunID: fmt.Sprintf("bench-%d", i), Attempt: 1,
			Command: []string{"true"}, WorkDir: wd}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "submits/s")
}

// BenchmarkResubmit measures the idempotent path: the job exists already.
func BenchmarkResubmit(b *testing.B) {
	l := newLocalB(b)
	ctx := context.Background()
	spec := backend.Spec{RunID: "bench", Attempt: 1, Command: []string{"true"}, WorkDir: b.TempDir()}
	if _, err := l.Submit(ctx, spec); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := l.Submit(ctx, spec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFileNow measures one read of the state directory's filesystem
// clock (a file made, looked at and removed), which each Status of a job
// whose lock and record cannot be read costs.
func BenchmarkFileNow(b *testing.B) {
	l := newLocalB(b)
	for b.Loop() {
		if _, err := local.FileNow(l); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatusEnded measures Status of a job that has ended: the run
// lock is probed before the exit code is read.
func BenchmarkStatusEnded(b *testing.B) {
	l := newLocalB(b)
	ctx := context.Background()
	h, err := l.Submit(ctx, backend.Spec{RunID: "benchstatus", Attempt: 1, Command: []string{"true"}, WorkDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	for {
		st, err := l.Status(ctx, h)
		if err != nil {
			b.Fatal(err)
		}
		if st.State.Final() {
			break
		}
	}
	for b.Loop() {
		if _, err := l.Status(ctx, h); err != nil {
			b.Fatal(err)
		}
	}
}
