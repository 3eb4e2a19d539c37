package kubernetes

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/types"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/internal/atomicfile"
)

// The marks the backend puts on an attempt's Job (AnnotationLost,
// AnnotationCancelled) are each signed: anyone who may update Jobs in the
// namespace can put the same annotation on a Job, and a mark read as the
// backend's made the attempt lost at once (run again at the forger's will)
// and its pods count for nothing in Capacity, and had Submit take the Job
// for finished. Each mark carries, in an annotation of its own, an HMAC
// over its kind, the Job's name and the Job's UID (which the API server
// chooses), keyed by a secret only the backend's state directory holds: a
// mark without a valid one was not the backend's, and is reported and
// otherwise ignored. The mark's value (a lost attempt's reason, which
// Status reports and the record keeps once the Job is deleted) is signed
// apart, in a third annotation, over the same and the value: a value
// changed on a Job the backend did mark changes no verdict, and is not
// reported as the backend's (unverifiedMark). The backend writes a value
// as the watch cache keeps it (markValue), so that what it signed is what
// it reads back.
const (
	// AnnotationLostSig signs AnnotationLost.
	AnnotationLostSig = "meridian.dev/lost-sig"
	// AnnotationCancelledSig signs AnnotationCancelled.
	AnnotationCancelledSig = "meridian.dev/cancelled-sig"
	// AnnotationLostValueSig signs AnnotationLost's value (a reason).
	AnnotationLostValueSig = "meridian.dev/lost-value-sig"
	// AnnotationCancelledValueSig signs AnnotationCancelled's value.
	AnnotationCancelledValueSig = "meridian.dev/cancelled-value-sig"
)

// unverifiedMark is what the backend reads of its own mark's value when
// the value's signature does not match it: changed since, by someone who
// may update Jobs, or written by an older version that did not sign it.
const unverifiedMark = "reason not verifiable (the mark on the Job was changed at the site, or made before its reason was signed)"

// markKeyFile is the key's file in the records' directory (0700), shared
// by every backend that shares the state directory.
const markKeyFile = "mark-key"

// markKeyBytes is the key's length.
const markKeyBytes = 32

// loadMarkKey reads the state directory's key for marks, made on first
// use. Of backends starting at once on one state directory, one writes it
// (whole, atomically) and the others read what it wrote. A key file that
// is not a key is an error: a backend that cannot tell its marks from
// others' must not start.
func loadMarkKey(jobsDir string) ([]byte, error) {
	path := filepath.Join(jobsDir, markKeyFile)
	fresh := make([]byte, markKeyBytes)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	if _, err := atomicfile.CreateFile(path, []byte(hex.EncodeToString(fresh)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("key for the marks on Jobs: %w", err)
	}
	data, err := backend.ReadSmallFile(path, 2*markKeyBytes+2)
	if err != nil {
		return nil, fmt.Errorf("key for the marks on Jobs: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != markKeyBytes {
		return nil, fmt.Errorf("key for the marks on Jobs: %s holds no key of %d bytes", path, markKeyBytes)
	}
	return key, nil
}

// markSigKey is the annotation that signs the mark kind.
func markSigKey(kind string) string {
	switch kind {
	case AnnotationLost:
		return AnnotationLostSig
	case AnnotationCancelled:
		return AnnotationCancelledSig
	}
	panic("kubernetes: no signature for mark " + kind)
}

// markValueSigKey is the annotation that signs the mark kind's value.
func markValueSigKey(kind string) string {
	switch kind {
	case AnnotationLost:
		return AnnotationLostValueSig
	case AnnotationCancelled:
		return AnnotationCancelledValueSig
	}
	panic("kubernetes: no signature for mark " + kind)
}

// markValue is v as the backend writes it in a mark: invalid UTF-8 made
// U+FFFD, as a JSON encoder does, and cut at a character's boundary to
// no more than the watch cache keeps of a string (cut), so that what is
// signed is what is read back.
func markValue(v string) string {
	v = strings.Map(func(r rune) rune { return r }, v)
	if len(v) <= maxKeptString {
		return v
	}
	n := maxKeptString
	for n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	return v[:n]
}

// markSig is the signature of mark kind on the Job name whose UID is uid.
func (b *Backend) markSig(kind, name string, uid types.UID) string {
	return b.sign("meridian job mark 1", kind, name, string(uid))
}

// markValueSig is the signature of the value of mark kind on the Job name
// whose UID is uid.
func (b *Backend) markValueSig(kind, name string, uid types.UID, value string) string {
	return b.sign("meridian job mark value 1", kind, name, string(uid), value)
}

// sign is the HMAC, by the marks' key, of the strings, each ended by a
// zero byte. Only the last may hold one (names and UIDs cannot), so no
// two lists of strings sign alike.
func (b *Backend) sign(parts ...string) string {
	m := hmac.New(sha256.New, b.markKey)
	for _, s := range parts {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// markOf reports the mark kind on job: its value, and whether the backend
// put it there (signed by this state directory's key for this Job's name
// and UID). A mark present but not the backend's is someone else's. The
// value of the backend's own mark is unverifiedMark unless its own
// signature matches it.
func (b *Backend) markOf(job *apiJob, kind string) (value string, own bool) {
	value = job.Annotations[kind]
	if value == "" {
		return "", false
	}
	sig := job.Annotations[markSigKey(kind)]
	want := b.markSig(kind, job.Name, job.UID)
	if sig == "" || !hmac.Equal([]byte(sig), []byte(want)) {
		return value, false
	}
	vsig := job.Annotations[markValueSigKey(kind)]
	vwant := b.markValueSig(kind, job.Name, job.UID, value)
	if vsig == "" || !hmac.Equal([]byte(vsig), []byte(vwant)) {
		return unverifiedMark, true
	}
	return value, true
}

// ownMark reports whether job carries the backend's own mark kind.
func (b *Backend) ownMark(job *apiJob, kind string) bool {
	_, own := b.markOf(job, kind)
	return own
}

// forgedMarks says, or "", which marks on job the backend did not put
// there: the way Status reports them, beside the attempt's state.
func (b *Backend) forgedMarks(job *apiJob) string {
	var forged []string
	for _, kind := range []string{AnnotationLost, AnnotationCancelled} {
		if v, own := b.markOf(job, kind); v != "" && !own {
			forged = append(forged, kind)
		}
	}
	if len(forged) == 0 {
		return ""
	}
	return "the Job carries a " + strings.Join(forged, " mark and a ") + " mark that Meridian did not put there (ignored)"
}

// markPatch is the annotations that put the backend's mark kind, of
// value, on the Job name whose UID is uid.
func (b *Backend) markPatch(kind, name string, uid types.UID, value string) map[string]string {
	value = markValue(value)
	return map[string]string{kind: value, markSigKey(kind): b.markSig(kind, name, uid),
		markValueSigKey(kind): b.markValueSig(kind, name, uid, value)}
}
