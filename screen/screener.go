package screen

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// Screener screens organisations for a process that asks many times (a
// server's plans, law checks and transfers). It keeps the imported list's
// index and each organisation's result, and reads the store again when the
// list or the decisions file changes on disk; it looks at most once per
// Recheck interval, so a new import or decision counts within that long.
type Screener struct {
	Store *Store
	// Recheck is how often the files are looked at (1 s when zero).
	Recheck time.Duration

	mu      sync.Mutex
	checked time.Time
	stamp   string
	digest  string // Digest: the files' contents as last read
	ix      *index
	ds      []Decision
	err     error
	memo    map[string]*policy.Screening
	// retry is when files that did not read are read again while their
	// stamps stay as they were.
	retry time.Time
	// loading is closed when the read in flight ends (nil when none is).
	// The files are read and parsed without mu held: a large list takes
	// seconds, and every screening waited on it.
	loading chan struct{}
	// reads counts the reads of the files.
	reads int
	// now is the clock (time.Now when nil).
	now func() time.Time
	// testHookRead, when set, runs after each read of the files, before
	// mu is taken again to put what was read in force.
	testHookRead func()
}

// maxReadTries bounds the reads of one refresh: files that change while
// they are read (an import, a decision, as the list is parsed) are read
// again, and files that change at every read leave screening
// undetermined until the next look finds them still.
const maxReadTries = 3

// A list or decisions file that did not read is read again, while its
// stamp stays as it was, after at least minRetry and at least retryFactor
// times as long as the failed read took.
const (
	minRetry    = time.Minute
	retryFactor = 4
)

func (s *Screener) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// Screening is ScreeningFor the default tenant's organisation.
func (s *Screener) Screening(org *catalog.Organization) *policy.Screening {
	return s.ScreeningFor("", org)
}

// ScreeningFor is tenant's org's screening result for the policy engine,
// or nil when no list has been imported (the organisation's declared
// status then stands). A list or decisions file that cannot be read gives
// an undetermined status naming the problem: the law fails closed.
func (s *Screener) ScreeningFor(tenant string, org *catalog.Organization) *policy.Screening {
	if s == nil || org == nil {
		return nil
	}
	s.mu.Lock()
	s.refresh()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return &policy.Screening{Status: catalog.RestrictedUndetermined,
			Source: "the restricted-party screening list could not be read: " + err.Error()}
	}
	if s.ix == nil {
		s.mu.Unlock()
		return nil
	}
	key := catalog.TenantOr(tenant) + "\x02" + screenKey(org)
	if sc, ok := s.memo[key]; ok {
		s.mu.Unlock()
		return sc
	}
	// Screening a new organisation reads the whole list: it runs outside
	// the lock, so that other organisations' answers do not wait for it.
	ix, ds := s.ix, s.ds
	s.mu.Unlock()
	sc := ix.screen(tenant, org, ds).Screening()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ix == ix { // the list and decisions it was screened against are still in force
		if len(s.memo) >= maxMemo {
			s.memo = map[string]*policy.Screening{}
		}
		s.memo[key] = sc
	}
	return sc
}

// Digest names what the screening answers now: the hex SHA-256 of the
// list and decisions files as last read (after a look at them, as a
// screening makes), "" when no list is imported. A law check records it,
// so that an import or a decision since is a reason to check again: either
// may change whether a running organisation is listed.
func (s *Screener) Digest() string {
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh()
	if s.err != nil {
		return "unreadable: " + s.err.Error()
	}
	return s.digest
}

// Query returns q with the organisation's screening result set.
func (s *Screener) Query(q policy.Query) policy.Query {
	if sc := s.ScreeningFor(q.Tenant, q.Org); sc != nil {
		q.Screening = sc
	}
	return q
}

// maxMemo bounds the results kept (organisations are per tenant; a server
// with more simply screens again).
const maxMemo = 4096

// refresh reloads the list and decisions when their files changed, and
// files that did not read after a rest. s.mu is held on entry and on
// return, and let go while the files are read and parsed: screenings
// meanwhile answer from what is in force (they did so for a Recheck
// interval anyway), but the first read, with nothing in force, is
// waited for.
func (s *Screener) refresh() {
	if s.loading != nil {
		if s.memo == nil {
			ch := s.loading
			s.mu.Unlock()
			<-ch
			s.mu.Lock()
		}
		return
	}
	every := s.Recheck
	if every <= 0 {
		every = time.Second
	}
	now := s.clock()
	if !s.checked.IsZero() && now.Sub(s.checked) < every {
		return
	}
	s.checked = now
	stamp := s.fileStamps()
	if stamp == s.stamp && s.memo != nil && (s.err == nil || now.Before(s.retry)) {
		return
	}
	done := make(chan struct{})
	s.loading = done
	defer func() {
		s.loading = nil
		close(done)
	}()
	var r loaded
	for try := 1; ; try++ {
		s.mu.Unlock()
		r = s.Store.load()
		if s.testHookRead != nil {
			s.testHookRead()
		}
		s.mu.Lock()
		s.reads++
		// What was read is put in force only if the files are still the
		// ones stamped before it: read while they changed (an import
		// between the list and the decisions), it may be of neither
		// version.
		after := s.fileStamps()
		if after == stamp {
			break
		}
		if try == maxReadTries {
			r = loaded{err: fmt.Errorf("%s and %s changed during each of %d reads; screening waits for them to rest", s.Store.listPath(), s.Store.decisionsPath(), maxReadTries)}
			// Unlike what was read, after is a version no read has
			// seen: the next look reads again, without a rest.
			break
		}
		stamp = after
	}
	s.stamp, s.memo, s.ix, s.ds, s.err, s.digest = stamp, map[string]*policy.Screening{}, r.ix, r.ds, r.err, r.digest
	if r.err != nil {
		// Read again when the files change, or after a rest: a passing
		// error (an I/O error, a file being replaced on a network file
		// system) must not leave every organisation undetermined until
		// someone touches the files, but a large list that is corrupt
		// for good was decoded at every look. Organisations are
		// undetermined meanwhile.
		took := s.clock().Sub(now)
		s.retry = now.Add(max(minRetry, retryFactor*took))
	}
}

func (s *Screener) fileStamps() string {
	return fileStamp(s.Store.listPath()) + "|" + fileStamp(s.Store.decisionsPath())
}

// loaded is the list and decisions as one read found them.
type loaded struct {
	ix     *index
	ds     []Decision
	digest string
	err    error
}

// load reads and indexes the list and decisions (nothing, and no error,
// when no list is imported).
func (s *Store) load() loaded {
	l, sum, err := s.listRead()
	if errors.Is(err, ErrNoList) {
		return loaded{}
	}
	if err != nil {
		return loaded{err: err}
	}
	ds, err := s.Decisions()
	if err != nil {
		return loaded{err: err}
	}
	// Of what was read, not of the files again: they may change between.
	// Of the stored list's file as read, not of the hash it records of
	// the file imported: entries that changed under it (the same file
	// imported again by a parser that reads it otherwise, a list file
	// edited) changed the answers but not the digest, and no law check
	// was made again.
	h := sha256.New()
	h.Write([]byte(sum + "\n"))
	json.NewEncoder(h).Encode(ds)
	return loaded{ix: newIndex(l), ds: ds, digest: hex.EncodeToString(h.Sum(nil))}
}

// fileStamp identifies a file's version by its device and inode, size,
// and modification and change times ("-" when it does not exist). Size
// and modification time alone missed a file replaced by one of the same
// size and time (rsync -a, a restore from a backup): its new contents
// were never read.
func fileStamp(path string) string {
	var st unix.Stat_t
	err := unix.Stat(path, &st)
	if errors.Is(err, fs.ErrNotExist) {
		return "-"
	}
	if err != nil {
		return "?" + err.Error()
	}
	msec, mnsec := st.Mtim.Unix()
	csec, cnsec := st.Ctim.Unix()
	return fmt.Sprintf("%d:%d/%d/%d.%09d/%d.%09d", uint64(st.Dev), uint64(st.Ino), st.Size, msec, mnsec, csec, cnsec)
}

// screenKey is everything screening reads of an organisation.
func screenKey(o *catalog.Organization) string {
	parts := append([]string{o.Metadata.Name, o.Spec.Headquarters, o.ParentHQ()}, o.ScreeningNames()...)
	parts = append(parts, "\x00")
	parts = append(parts, o.Spec.Addresses...)
	return strings.Join(parts, "\x01")
}
