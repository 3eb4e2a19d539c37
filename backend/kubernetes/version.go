package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	utilversion "k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apimachinery/pkg/version"
)

// The oldest Kubernetes the backend submits to. The pods of an attempt
// split over nodes keep apart by a required anti-affinity term whose
// matchLabelKeys narrows it to the pods of the attempt's own Job (jobFor):
// without it, anyone who may create pods in the namespace, knowing the
// run's and attempt's labels before the attempt exists, keeps every pod of
// the attempt off every node with pods of their own, and the attempt waits
// for good, unseen (blockingPod looks for pods carrying the Job's UID).
// An API server before 1.31 drops the field as it stores the Job, without
// an error: before 1.29 it does not know it; in 1.29 and 1.30 it keeps it
// only with the MatchLabelKeysInPodAffinity feature gate on, which is off
// by default there and which no client can read. No form of the term
// that those servers keep names the Job's own pods (its UID is drawn as
// the Job is made, after its template is written), so the backend does
// not submit to them rather than submit what cannot hold.
const (
	minServerMajor = 1
	minServerMinor = 31
)

// serverVersion holds the API server's version, read once (the first
// time the API server answers) by versionErr.
type serverVersion struct {
	mu    sync.Mutex
	known bool
	err   error // a *versionRefusedError, or nil where the version is minServerMajor.minServerMinor or later
}

// versionErr is nil when the site's API server is recent enough for the
// backend to submit to it (minServerMinor), and otherwise an error naming
// its version and why it is refused (a *versionRefusedError), or why its
// version could not be asked. The version is asked once: an
// answer (a version, or one that names none the backend can read) is kept
// for the backend's life; a failed request is not, and the next call asks
// again. newWithConfig asks as the backend starts.
func (b *Backend) versionErr(ctx context.Context) error {
	b.version.mu.Lock()
	known, verdict := b.version.known, b.version.err
	b.version.mu.Unlock()
	if known {
		return verdict
	}
	// Asked without the lock held: a call that waits on a slow answer
	// holds up no other beyond its own context.
	raw, err := b.cs.core.Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return fmt.Errorf("kubernetes API server at %s: asking its version: %w", b.host, tooLarge(err))
	}
	b.version.mu.Lock()
	defer b.version.mu.Unlock()
	if !b.version.known {
		b.version.known, b.version.err = true, versionRefusal(b.host, raw)
	}
	return b.version.err
}

// versionRefusedError is versionErr's refusal of the API server's
// version.
type versionRefusedError struct{ msg string }

func (e *versionRefusedError) Error() string { return e.msg }

func refuseVersion(format string, args ...any) error {
	return &versionRefusedError{fmt.Sprintf(format, args...)}
}

// versionRefusal says why the API server at host, whose /version answer
// is raw, is not one to submit to, or nil.
func versionRefusal(host string, raw []byte) error {
	var info version.Info
	if err := json.Unmarshal(raw, &info); err != nil {
		return refuseVersion("backend.kubeconfig: the API server at %s: its /version answer is not a version (%v); refused, as its version cannot be told to keep matchLabelKeys", host, err)
	}
	major, minor, ok := serverMinor(info)
	if !ok {
		return refuseVersion("backend.kubeconfig: the API server at %s: its /version answer names no version the backend can read (gitVersion %s, major %s, minor %s); refused, as its version cannot be told to keep matchLabelKeys",
			host, shown(info.GitVersion), shown(info.Major), shown(info.Minor))
	}
	if major > minServerMajor || major == minServerMajor && minor >= minServerMinor {
		return nil
	}
	return refuseVersion("backend.kubeconfig: the API server at %s is Kubernetes %s, older than %d.%d: it drops the matchLabelKeys of the anti-affinity term that keeps an attempt's pods on a node each apart from pods others make, so anyone who may create pods in the namespace could keep an attempt waiting for good, unseen; the backend does not submit to it (upgrade the cluster to %d.%d or later)",
		host, shown(versionName(info, major, minor)), minServerMajor, minServerMinor, minServerMajor, minServerMinor)
}

// serverMinor is the major and minor version of the API server that info
// describes: by its gitVersion ("v1.30.4-gke.1000"), or, where that does
// not read as a version, by its major and minor fields (which some
// providers end with "+": "30+").
func serverMinor(info version.Info) (major, minor uint, ok bool) {
	if v, err := utilversion.ParseGeneric(info.GitVersion); err == nil {
		return v.Major(), v.Minor(), true
	}
	ma, err1 := strconv.ParseUint(strings.TrimSuffix(info.Major, "+"), 10, 32)
	mi, err2 := strconv.ParseUint(strings.TrimSuffix(info.Minor, "+"), 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uint(ma), uint(mi), true
}

// versionName is how a refusal names the API server's version.
func versionName(info version.Info, major, minor uint) string {
	if info.GitVersion != "" {
		return info.GitVersion
	}
	return fmt.Sprintf("%d.%d", major, minor)
}
