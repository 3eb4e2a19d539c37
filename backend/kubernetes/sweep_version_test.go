package kubernetes

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestSweepKeepsBoundedVersions: the sweep remembers, for each ownerless
// Secret of Meridian's, the resourceVersion it was first seen at, from
// sweep to sweep, for up to maxOrphansSeen Secrets. The version is the API
// server's, a number from a real one; a hostile one's, up to the megabytes
// of a list page each, were kept whole: 64 Secrets of 1 MiB versions held
// 64 MiB until they went. What is kept of a version is now bounded
// (seenVersion), and a version changed is still told from the one seen.
func TestSweepKeepsBoundedVersions(t *testing.T) {
	_, b := newHostile(t, nil)
	ctx := testContext(t)
	secret := func(i int, version string) *apiSecret {
		run := fmt.Sprint("orphan-", i)
		return &apiSecret{ObjectMeta: metav1.ObjectMeta{Name: JobName(run, 1), Namespace: "ns", UID: "secret-uid",
			ResourceVersion: version,
			Labels:          map[string]string{LabelManagedBy: managedBy, LabelAttempt: "1"},
			Annotations:     map[string]string{AnnotationRunID: run}}}
	}
	version := func(i int, c string) string {
		return strconv.Itoa(i) + strings.Repeat(c, 1<<20)
	}
	sweep := func(sec *apiSecret) {
		var res SweepResult
		if err := b.sweepOne(ctx, sec, time.Hour, time.Now(), map[string]bool{}, &res); err != nil {
			t.Fatal(err)
		}
	}
	sweep(secret(0, "1")) // first uses
	const secrets = 64
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 1; i <= secrets; i++ {
		sweep(secret(i, version(i, "7")))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d ownerless Secrets of 1 MiB resourceVersions seen: the heap grew by %.1f MiB", secrets, float64(grown)/(1<<20))
	if grown > 8<<20 {
		t.Errorf("the sweep holds %.1f MiB after seeing %d Secrets of 1 MiB resourceVersions; want under 8 MiB",
			float64(grown)/(1<<20), secrets)
	}
	b.sweep.mu.Lock()
	seen := b.sweep.seen[JobName("orphan-1", 1)]
	b.sweep.mu.Unlock()
	// Rewritten (another version of the same length): seen afresh.
	later := time.Now()
	var res SweepResult
	if err := b.sweepOne(ctx, secret(1, version(1, "8")), time.Hour, later, map[string]bool{}, &res); err != nil {
		t.Fatal(err)
	}
	b.sweep.mu.Lock()
	again := b.sweep.seen[JobName("orphan-1", 1)]
	b.sweep.mu.Unlock()
	if !again.since.Equal(later) || again.since.Equal(seen.since) {
		t.Errorf("a Secret rewritten since it was seen keeps its first sight (%v, now %v); want seen afresh", seen.since, again.since)
	}
}
