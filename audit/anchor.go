package audit

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/internal/flock"
	"meridian.dev/meridian/internal/plainfile"
)

// Truncated is the Problem kind for a log that holds fewer entries than its
// anchor recorded: entries were cut from its end.
const Truncated = "truncated"

// Diverged is the Problem kind for a log whose entry at the anchored
// position is not the one the anchor recorded: history was rewritten.
const Diverged = "diverged"

// AnchorMissing is the Problem kind for a log that records the key of the
// anchor guarding it while the anchor directory holds no anchor: anchor.json
// (or the whole directory) was removed, which takes no key and would
// otherwise let a cut tail verify as a log never anchored.
const AnchorMissing = "anchor-missing"

// AnchorReplaced is the Problem kind for a log that records an anchor key
// other than the one in the anchor directory: the directory was replaced.
const AnchorReplaced = "anchor-replaced"

// KindAnchored is the kind of the entry that records which anchor key
// guards the log (payload {"key": hex Ed25519 public key}). The server
// appends it at start, once the anchor exists, when the log does not yet
// record the key in use; from then on a missing or replaced anchor fails
// verification instead of reading as a log never anchored.
const KindAnchored = "audit-anchored"

// ErrNoAnchor is returned by Extend when the directory holds no anchor.
var ErrNoAnchor = errors.New("audit anchor: the anchor directory holds no anchor.json; only a start over a verified log writes the first one")

// AnchoredPayload is the payload of a KindAnchored entry.
type AnchoredPayload struct {
	Key string `json:"key"`
}

// Anchor is a signed statement that the chain had Seq entries ending in
// Head at Time. It is kept apart from the database (its own directory and
// its own key), so that whoever edits the database cannot cut the log's
// tail or rewrite it without Verify noticing.
type Anchor struct {
	Seq  int64  `json:"seq"`
	Head string `json:"head"`
	Time string `json:"time"`
	// Key is the hex Ed25519 public key that signed the anchor.
	Key string `json:"key"`
	Sig string `json:"sig"`
}

func (a Anchor) message() []byte {
	return []byte("meridian-audit-anchor-v1\n" + strconv.FormatInt(a.Seq, 10) + "\n" + a.Head + "\n" + a.Time + "\n")
}

// Anchor file names inside the anchor directory.
const (
	AnchorFile    = "anchor.json"
	AnchorKeyFile = "anchor.key"
	anchorLock    = "anchor.lock"
)

// maxAnchorFileBytes and maxKeyFileBytes bound what is read of the anchor
// and of a key file: an anchor is a few hundred bytes, a key under a
// hundred. They are read with plainfile.Read, which refuses what is not a
// regular file: whoever can write the anchor directory (or the state
// directory) could put a FIFO there, whose open waits for a writer and
// hung every verification and anchor update, or a link to /dev/zero or a
// file of gigabytes, read whole into memory.
const (
	maxAnchorFileBytes = 64 << 10
	maxKeyFileBytes    = 4 << 10
)

// Anchors keeps the anchor of one chain in a directory: the signed
// anchor.json and the 0600 Ed25519 key that signs it. Several processes may
// share the directory (the server and `meridian dataset stage`): each update
// takes a file lock and checks the anchor on disk, not a copy in memory.
type Anchors struct {
	dir  string
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	// made is set when this Anchors made its key: OpenAnchors created
	// the key file, or Rekey replaced it.
	made bool

	// mu serialises this process's updates (a channel of one, so that a
	// wait for it ends with the caller's context, as the wait for the
	// file lock does); nil until an update first needs it.
	muOnce sync.Once
	mu     chan struct{}
}

// writeLock is lock for a writer: errReadOnlyAnchors where a holds no
// private key.
func (a *Anchors) writeLock(ctx context.Context) (func(), error) {
	if a.priv == nil {
		return nil, errReadOnlyAnchors
	}
	return a.lock(ctx)
}

// lock takes a's in-process lock and then the directory's file lock,
// giving up when ctx ends (the file lock in any case after
// anchorLockWait).
func (a *Anchors) lock(ctx context.Context) (func(), error) {
	a.muOnce.Do(func() { a.mu = make(chan struct{}, 1) })
	// Free, it is taken whatever ctx says, as the file lock is: the
	// wait, not the update, ends with ctx.
	select {
	case a.mu <- struct{}{}:
	default:
		select {
		case a.mu <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("audit anchor: waiting for another update of this process: %w", ctx.Err())
		}
	}
	unlock, err := lockFile(ctx, filepath.Join(a.dir, anchorLock))
	if err != nil {
		<-a.mu
		return nil, err
	}
	return func() { unlock(); <-a.mu }, nil
}

// OpenAnchors opens (creating on first use) the anchor directory dir.
func OpenAnchors(dir string) (*Anchors, error) {
	if dir == "" {
		return nil, errors.New("audit anchor: directory not set")
	}
	// Synced into its parent: otherwise a power loss after the first
	// start could take the directory, key and anchor, while the log's
	// entry naming the key survived, failing every later start as an
	// anchor removed.
	if err := mkdirDurable(dir); err != nil {
		return nil, fmt.Errorf("audit anchor: %w", err)
	}
	removeAnchorTemps(dir)
	path := filepath.Join(dir, AnchorKeyFile)
	made := false
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		_, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, gerr
		}
		// Replicas sharing the directory may start together: one key wins.
		if made, err = atomicfile.CreateFile(path, []byte(hex.EncodeToString(priv.Seed())+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("audit anchor key: %w", err)
		}
	}
	a, err := loadAnchors(dir)
	if err != nil {
		return nil, err
	}
	a.made = made
	if a.priv == nil {
		return nil, fmt.Errorf("audit anchor key: %w", fs.ErrNotExist)
	}
	// Made durable before anything is signed with it: a creator killed
	// between its link and its sync of the directory left a key in
	// memory only, which a power loss took, failing every later start as
	// an anchor removed.
	if err := atomicfile.SyncEntry(path); err != nil {
		return nil, fmt.Errorf("audit anchor key: %w", err)
	}
	return a, nil
}

// removeAnchorTemps removes the temporary files that writers of the
// anchor directory's files, killed before their rename, left in dir: each
// stayed for good, and a server in a crash loop filled the disk with them.
// Every writer of anchor.json holds anchor.lock, so when the lock is free
// now (it is tried once, never waited for) all of anchor.json's are
// removed under it; when it is held, only those atomicfile.StaleTempAge
// old. Writers of anchor.key (OpenAnchors, on first use) hold no lock:
// only its stale ones are removed. Best effort, bounded as atomicfile's
// removals are; ReadAnchors, which only looks, removes nothing.
func removeAnchorTemps(dir string) {
	isKey := func(name string) bool { return name == AnchorKeyFile }
	atomicfile.RemoveStaleTemps(dir, isKey, atomicfile.StaleTempAge)
	tried, cancel := context.WithCancel(context.Background())
	cancel()
	// A done context: flock.Lock tries the lock once and does not wait.
	if unlock, err := flock.Lock(tried, filepath.Join(dir, anchorLock)); err == nil {
		atomicfile.RemoveTemps(filepath.Join(dir, AnchorFile))
		unlock()
		return
	}
	atomicfile.RemoveStaleTemps(dir, func(name string) bool { return name == AnchorFile }, atomicfile.StaleTempAge)
}

// ReadAnchors opens the anchor directory dir for reading only, as `audit
// verify --state` needs it: it creates neither the directory nor its key.
// With no key file the directory holds no anchor that can be checked: Read
// reports no anchor when anchor.json is absent too, and an error when it
// is there. The result cannot write anchors (Advance, Extend and Reset
// refuse).
func ReadAnchors(dir string) (*Anchors, error) {
	if dir == "" {
		return nil, errors.New("audit anchor: directory not set")
	}
	a, err := loadAnchors(dir)
	if err != nil {
		return nil, err
	}
	a.priv = nil
	return a, nil
}

// loadAnchors reads the anchor directory dir's key: an Anchors without
// keys when the key file is missing.
func loadAnchors(dir string) (*Anchors, error) {
	path := filepath.Join(dir, AnchorKeyFile)
	b, fi, err := plainfile.ReadStat(path, maxKeyFileBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return &Anchors{dir: dir}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit anchor key: %w", err)
	}
	priv, err := parseAnchorKey(path, b, fi)
	if err != nil {
		return nil, err
	}
	return &Anchors{dir: dir, priv: priv, pub: priv.Public().(ed25519.PublicKey)}, nil
}

// parseAnchorKey checks the key file read from path, b its contents and fi
// what was read (0600, owned by this user or root: checkKeyFile; a hex
// Ed25519 seed).
func parseAnchorKey(path string, b []byte, fi os.FileInfo) (ed25519.PrivateKey, error) {
	if err := checkKeyFile("audit anchor key", path, fi); err != nil {
		return nil, err
	}
	seed, err := hex.DecodeString(string(trimSpace(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("audit anchor key %s: want %d hex-encoded bytes", path, ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// errReadOnlyAnchors is returned by the writes of ReadAnchors's result.
var errReadOnlyAnchors = errors.New("audit anchor: the anchor directory was opened read-only")

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// Dir is the anchor directory.
func (a *Anchors) Dir() string { return a.dir }

// Key is the hex Ed25519 public key that signs this directory's anchors.
func (a *Anchors) Key() string { return hex.EncodeToString(a.pub) }

// Made says whether a's key was made by this process: the key file created
// by OpenAnchors (not found there), or replaced by Rekey. A key found in
// the directory may have been put there by whoever can write it.
func (a *Anchors) Made() bool { return a.made }

// AsideSuffix starts the suffix of the files Rekey keeps aside:
// anchor.key.aside-TIME and anchor.json.aside-TIME.
const AsideSuffix = ".aside-"

// Rekey gives the directory a fresh key in place of the one it holds,
// which may be another's (one planted there, or another log's): a, and
// so whoever holds a, signs with the new key from then on. The old key
// file is kept aside (anchor.key.aside-TIME, copied), and so is the
// anchor it signed (anchor.json.aside-TIME, moved), which the new key
// could not check: the directory then holds no anchor until the next
// Reset or Advance. The anchor is moved aside before the new key is
// written: a crash between them leaves the old key with no anchor, which
// a log naming its key reads as anchor-missing and a start accepts again
// (giving the directory a fresh key then, as the old one is still not the
// log's). Written the other way round, a crash left the new key beside
// the old key's anchor, which no verification reads (its signature does
// not verify), so no start could accept it and the operator had to move
// the anchor by hand. A start accepting a broken log uses it before it
// records the key and resets the anchor, and so does anchoring a log that
// names no key with a key this process did not make (the CLI's commands
// and a server's start alike), before it records the key; other processes
// holding the old key fail their updates (the anchor does not verify with
// it) until they open the directory again.
func (a *Anchors) Rekey(ctx context.Context, now time.Time) error {
	unlock, err := a.writeLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	stamp := AsideSuffix + now.UTC().Format("20060102T150405.000000000Z")
	keyPath := filepath.Join(a.dir, AnchorKeyFile)
	old, err := plainfile.Read(keyPath, maxKeyFileBytes)
	switch {
	case err == nil:
		if created, err := atomicfile.CreateFile(keyPath+stamp, old, 0o600); err != nil {
			return fmt.Errorf("audit anchor key: keeping the old key aside: %w", err)
		} else if !created {
			return fmt.Errorf("audit anchor key: keeping the old key aside: %s exists", keyPath+stamp)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("audit anchor key: %w", err)
	}
	anchorPath := filepath.Join(a.dir, AnchorFile)
	if err := rekeyRename(anchorPath, anchorPath+stamp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("audit anchor: moving the old key's anchor aside: %w", err)
	}
	if err := atomicfile.SyncDir(a.dir); err != nil {
		return fmt.Errorf("audit anchor: %w", err)
	}
	if err := rekeyWrite(keyPath, []byte(hex.EncodeToString(priv.Seed())+"\n"), 0o600); err != nil {
		return fmt.Errorf("audit anchor key: %w", err)
	}
	a.priv, a.pub, a.made = priv, pub, true
	return nil
}

// Refresh reads the directory's key file again, under the directory's
// lock, and signs with the key it holds from then on. Another process may
// have given the directory a fresh key (Rekey) since a was opened: two
// opening a new directory together, one makes the key and the other finds
// it, and the finder, anchoring first, replaced it, leaving the maker
// signing with a key the directory no longer holds. Whoever can write the
// directory may have replaced the file too. A key read so is not one a
// made (Made is then false). A process calls it once it holds the state
// directory's audit lock, before deciding what key to record.
func (a *Anchors) Refresh(ctx context.Context) error {
	unlock, err := a.writeLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	now, err := loadAnchors(a.dir)
	if err != nil {
		return err
	}
	if now.priv == nil {
		return fmt.Errorf("audit anchor key: %w", fs.ErrNotExist)
	}
	if !now.pub.Equal(a.pub) {
		a.priv, a.pub, a.made = now.priv, now.pub, false
	}
	return nil
}

// rekeyRename and rekeyWrite are Rekey's steps that move the old anchor
// aside and write the new key; tests stop Rekey between them.
var (
	rekeyRename = os.Rename
	rekeyWrite  = atomicfile.WriteFile
)

// KeyRecord is the KindAnchored record naming this directory's key. Append
// it only once the anchor exists (Advance, Reset): an entry naming a key
// whose anchor is missing fails verification.
func (a *Anchors) KeyRecord() (Record, error) {
	if a.priv == nil {
		return Record{}, errReadOnlyAnchors
	}
	return NewRecord(KindAnchored, "", AnchoredPayload{Key: a.Key()})
}

// Read returns the anchor on disk, checking its signature; ok is false when
// no anchor has been written yet.
func (a *Anchors) Read() (Anchor, bool, error) {
	b, err := plainfile.Read(filepath.Join(a.dir, AnchorFile), maxAnchorFileBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return Anchor{}, false, nil
	}
	if err != nil {
		return Anchor{}, false, anchorReadError(filepath.Join(a.dir, AnchorFile), err)
	}
	if a.pub == nil {
		return Anchor{}, false, fmt.Errorf("audit anchor %s: the directory holds no %s to check it with (it was removed, or the anchor was copied without it)", filepath.Join(a.dir, AnchorFile), AnchorKeyFile)
	}
	var an Anchor
	if err := json.Unmarshal(b, &an); err != nil {
		// Not the type error as it is: it quotes a number it could not
		// store whole, every digit of it (an anchor.json of 60,000
		// digits gave an error of 60 KB).
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "" {
			return Anchor{}, false, fmt.Errorf("audit anchor %s: not a JSON object", filepath.Join(a.dir, AnchorFile))
		}
		if errors.As(err, &te) {
			return Anchor{}, false, fmt.Errorf("audit anchor %s: field %s is not %s", filepath.Join(a.dir, AnchorFile), te.Field, anchorFieldWant(te.Field))
		}
		return Anchor{}, false, fmt.Errorf("audit anchor %s: %w", filepath.Join(a.dir, AnchorFile), err)
	}
	sig, err := hex.DecodeString(an.Sig)
	if err != nil || an.Key != hex.EncodeToString(a.pub) || !ed25519.Verify(a.pub, an.message(), sig) {
		return Anchor{}, false, fmt.Errorf("audit anchor %s: signature does not verify with the anchor key", filepath.Join(a.dir, AnchorFile))
	}
	if why := anchorProblem(an); why != "" {
		return Anchor{}, false, fmt.Errorf("audit anchor %s: %s", filepath.Join(a.dir, AnchorFile), why)
	}
	return an, true, nil
}

// anchorReadError is err, from reading the anchor file at path, worded as
// Read's other errors are: "audit anchor PATH: why". plainfile's errors
// lead with the path ("PATH: file too large: …") or are the open's
// ("open PATH: …"), and were passed on as "audit anchor: PATH: …", so the
// file was named in one form for some of Read's refusals and in another
// for the rest. err stays wrapped.
func anchorReadError(path string, err error) error {
	why := err.Error()
	var pe *fs.PathError
	switch {
	case strings.HasPrefix(why, path+": "):
		why = strings.TrimPrefix(why, path+": ")
	case errors.As(err, &pe) && pe.Path == path && err == error(pe):
		why = pe.Op + ": " + pe.Err.Error()
	}
	return &anchorError{text: "audit anchor " + path + ": " + why, err: err}
}

// anchorError is an error with the text given, wrapping err.
type anchorError struct {
	text string
	err  error
}

func (e *anchorError) Error() string { return e.text }
func (e *anchorError) Unwrap() error { return e.err }

// anchorFieldWant says what an anchor's field named field holds.
func anchorFieldWant(field string) string {
	if field == "seq" {
		return "an integer of 64 bits"
	}
	return "a string"
}

// anchorProblem says which field of an (signed, so written with the
// directory's key) is not as Meridian writes it, or "". Whoever can write
// the anchor directory can put a key of their own there and sign what they
// like: the time went, as stored (escape sequences, tens of KiB), into
// every problem's detail and result, shown to the operator and to every
// tenant, and into the acceptance of that break, which then outgrew the
// size an acceptance may have and accepted nothing. What was stored is
// not quoted back.
func anchorProblem(an Anchor) string {
	switch {
	case an.Seq < 0:
		return "field seq is negative; want the number of entries anchored"
	case !isHash(an.Head):
		return "field head is not 64 lowercase hex digits"
	}
	// The one spelling Meridian writes: Go's parser also takes a comma
	// before the fraction, which would read as the same time written
	// otherwise.
	if t, err := time.Parse(TimeLayout, an.Time); err != nil || t.Format(TimeLayout) != an.Time {
		return "field time is not a UTC time in the form " + TimeLayout
	}
	return ""
}

// UnanchoredAcceptance is the Problem kind for an acceptance of a broken
// log (KindBrokenAccepted) past the anchor. The start that writes one
// anchors it before it serves (Reset), and nothing else writes one: an
// acceptance past the anchor was written by other means, or by a start
// that died before anchoring it. Moving the anchor over it would make it
// count (an acceptance counts once the anchor covers it), so no anchor
// update does (Advance, Extend), and a verification against the anchor
// fails at it.
const UnanchoredAcceptance = "unanchored-acceptance"

// MaxAcceptancePayload is the largest acceptance's payload that counts:
// one over it accepts nothing (see acceptIndex).
const MaxAcceptancePayload = maxAcceptancePayload

// HashAt returns the hash of the entry at seq, or ok=false when the log has
// no such entry. Stores provide it so an anchor update can check that the
// log still extends the anchored head.
type HashAt func(ctx context.Context, seq int64) (hash string, ok bool, err error)

// AcceptanceIn returns the seq of the first KindBrokenAccepted entry after
// seq after and at or before seq through; ok is false when there is none.
// It may leave out entries whose payload is over MaxAcceptancePayload
// bytes, which accept nothing. A store answers from its index on kind, so
// the answer costs the same however far the head moved.
type AcceptanceIn func(ctx context.Context, after, through int64) (seq int64, ok bool, err error)

// LogReader is what an anchor update reads of the log: both are needed.
type LogReader struct {
	HashAt     HashAt
	Acceptance AcceptanceIn
}

// Advance records that the chain now has seq entries ending in head. It
// refuses to move the anchor backwards or onto a history that does not hold
// the previously anchored head at its position: those are exactly the
// tamperings the anchor exists to catch. Advance to the anchored seq or
// below is a no-op. When there is no anchor yet it writes the first one,
// which is only right for a log just verified to record no anchor key
// (VerifyAnchored found no anchor and succeeded); everything else uses
// Extend.
//
// It never moves an anchor over an acceptance of a broken log
// (KindBrokenAccepted): it returns an UnanchoredAcceptance Problem
// instead. Only the start that writes an acceptance anchors it (Reset),
// before it serves; an acceptance appended later, while a server runs,
// was written by other means, by whoever holds the audit key and can
// write the database, and anchored by the server's next append it counted:
// it accepted the break left by any anchored entry they had rewritten and
// resealed.
func (a *Anchors) Advance(ctx context.Context, seq int64, head string, log LogReader, now time.Time) error {
	return a.advance(ctx, seq, head, log, now, true)
}

// Extend is Advance that never writes a first anchor: with anchor.json
// gone it returns ErrNoAnchor rather than anchoring whatever the log holds
// now (which would bless a tail cut while the anchor was missing).
func (a *Anchors) Extend(ctx context.Context, seq int64, head string, log LogReader, now time.Time) error {
	return a.advance(ctx, seq, head, log, now, false)
}

func (a *Anchors) advance(ctx context.Context, seq int64, head string, log LogReader, now time.Time, create bool) error {
	unlock, err := a.writeLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	old, ok, err := a.Read()
	if err != nil {
		return err
	}
	if !ok && !create {
		return ErrNoAnchor
	}
	if ok && seq <= old.Seq {
		return nil
	}
	// An anchor at seq 0 (an empty log's) holds the genesis head, which
	// every history extends.
	if ok && old.Seq > 0 {
		if log.HashAt == nil {
			return errors.New("audit anchor: no reader of the log's hashes to check it against the anchor")
		}
		h, found, err := log.HashAt(ctx, old.Seq)
		if err != nil {
			return fmt.Errorf("audit anchor: %w", err)
		}
		if !found {
			return &Problem{Seq: old.Seq, Kind: Truncated, Detail: fmt.Sprintf("the anchor of %s records %d entries; the log no longer holds entry %d", old.Time, old.Seq, old.Seq)}
		}
		if h != old.Head {
			return &Problem{Seq: old.Seq, Kind: Diverged, Detail: fmt.Sprintf("entry %d is not the one anchored at %s", old.Seq, old.Time)}
		}
	}
	if ok {
		if log.Acceptance == nil {
			return errors.New("audit anchor: no reader of the log's acceptances to check what the anchor would move over")
		}
		s, found, err := log.Acceptance(ctx, old.Seq, seq)
		if err != nil {
			return fmt.Errorf("audit anchor: %w", err)
		}
		if found {
			return &Problem{Seq: s, Kind: UnanchoredAcceptance, Detail: unanchoredWhy(s, old)}
		}
	}
	return a.write(seq, head, now)
}

// write signs and writes the anchor of seq entries ending in head. One
// Read would refuse (see anchorProblem) is not written: every later
// verification and update would fail on it.
func (a *Anchors) write(seq int64, head string, now time.Time) error {
	an := Anchor{Seq: seq, Head: head, Time: now.UTC().Format(TimeLayout), Key: hex.EncodeToString(a.pub)}
	if why := anchorProblem(an); why != "" {
		return fmt.Errorf("audit anchor: not written: %s", why)
	}
	an.Sig = hex.EncodeToString(ed25519.Sign(a.priv, an.message()))
	b, err := json.MarshalIndent(an, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(a.dir, AnchorFile), append(b, '\n'), 0o600)
}

// unanchoredWhy is the detail of an UnanchoredAcceptance at entry seq,
// past the anchor an.
func unanchoredWhy(seq int64, an Anchor) string {
	return fmt.Sprintf("entry %d accepts a break of the log and lies past the anchor of %s (entry %d): a start told to accept a broken log (serve --accept-broken-audit) anchors its acceptance before it serves, and nothing else writes one, so this one was written by other means, or by a start that died before anchoring it; the anchor is not moved over it, as that would make it count. Check the log; accepting it (--accept-broken-audit) makes it count", seq, an.Time, an.Seq)
}

// Reset anchors the chain at its current head without the consistency
// check. Only an operator's explicit acceptance of a broken log uses it, and
// that acceptance is itself written to the log first. It waits for the
// anchor's locks no longer than ctx allows (and anchorLockWait in any
// case): a start that is stopped meanwhile stops waiting.
func (a *Anchors) Reset(ctx context.Context, seq int64, head string, now time.Time) error {
	unlock, err := a.writeLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return a.write(seq, head, now)
}

// anchorLockWait bounds how long an anchor update waits for anchor.lock.
// An update holds it for a read of the anchor, one read of the log and a
// write of a few hundred bytes; a process that holds it past this bound is
// stuck (stopped, or on a hung file system), and waiting on it for ever
// stalled every anchor update and the server's start.
var anchorLockWait = time.Minute

// lockFile takes the anchor directory's lock at path, waiting at most
// anchorLockWait and no longer than ctx allows. Its error names the lock
// file and, where the system says (Linux's /proc/locks), the process that
// holds it.
func lockFile(ctx context.Context, path string) (func(), error) {
	ctx, cancel := context.WithTimeout(ctx, anchorLockWait)
	defer cancel()
	unlock, err := flock.Lock(ctx, path)
	if err == nil {
		return unlock, nil
	}
	if ctx.Err() != nil {
		holder := "another process (which one, the system does not say)"
		if pid, ok := lockHolder(path); ok {
			holder = "process " + strconv.Itoa(pid)
			if b, err := plainfile.Read("/proc/"+strconv.Itoa(pid)+"/comm", 256); err == nil && len(trimSpace(b)) > 0 {
				// The name a process gave itself, which it may choose:
				// quoted unless plain text, as the error reaches the
				// operator's terminal.
				name := string(trimSpace(b))
				if q := strconv.QuoteToASCII(name); q[1:len(q)-1] != name {
					name = q
				}
				holder += " (" + name + ")"
			}
		}
		return nil, fmt.Errorf("audit anchor lock %s: held by %s; gave up waiting: %w", path, holder, err)
	}
	return nil, fmt.Errorf("audit anchor lock %s: %w", path, err)
}

// maxProcLocksBytes bounds what is read of /proc/locks.
const maxProcLocksBytes = 4 << 20

// lockHolder returns the pid of the process holding a file lock on path,
// from /proc/locks (Linux; false elsewhere, or when the holder is not
// visible from this process's pid namespace).
func lockHolder(path string) (int, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	dev := uint64(st.Dev)
	major := (dev>>8)&0xfff | (dev>>32)&^uint64(0xfff)
	minor := dev&0xff | (dev>>12)&^uint64(0xff)
	id := fmt.Sprintf("%02x:%02x:%d", major, minor, st.Ino)
	f, err := os.Open("/proc/locks")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxProcLocksBytes))
	for sc.Scan() {
		// "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; a waiter's
		// line has "->" after the number.
		col := strings.Fields(sc.Text())
		if len(col) < 6 || col[1] == "->" || col[5] != id {
			continue
		}
		if pid, err := strconv.Atoi(col[4]); err == nil && pid > 0 {
			return pid, true
		}
	}
	return 0, false
}

// anchorTail is what checking a log against its anchor needs of it,
// gathered as the log is read: its length, its last seq and the hash of
// the entry at the anchored seq.
type anchorTail struct {
	n, last int64
	atHash  string
	atFound bool
}

func (t *anchorTail) see(e Entry, an Anchor) {
	t.n++
	t.last = e.Seq
	// By seq, not position: a log whose accepted break lost entries
	// numbers them with a gap.
	if e.Seq == an.Seq && !t.atFound {
		t.atHash, t.atFound = e.Hash, true
	}
}

func (t *anchorTail) check(an Anchor) *Problem {
	if an.Seq > t.last {
		return &Problem{Seq: t.last + 1, Kind: Truncated, Detail: fmt.Sprintf("the anchor of %s records %d entries ending in %s; the log holds %d", an.Time, an.Seq, short(an.Head), t.n)}
	}
	if an.Seq <= 0 {
		return nil
	}
	if !t.atFound {
		return &Problem{Seq: an.Seq, Kind: Diverged, Detail: fmt.Sprintf("the anchor of %s records entry %d, which the log does not hold", an.Time, an.Seq)}
	}
	if t.atHash != an.Head {
		return &Problem{Seq: an.Seq, Kind: Diverged, Detail: fmt.Sprintf("entry %d hashes to %s; the anchor of %s records %s", an.Seq, short(t.atHash), an.Time, short(an.Head))}
	}
	return nil
}

// anchorAtBreak checks the anchor an against a log whose chain broke
// before the check read it all (src, tail what it read up to the break):
// nil when the log still holds the anchored head at the anchored seq, a
// Truncated or Diverged Problem when not. Where the check read the
// anchored seq, tail tells; otherwise the log is asked for the entry with
// the anchored head (Source.SeqOf: the stores keep no index on hash, so
// this is one more read of the whole log, outside the maxLookups the
// chain's own check is bounded by) and, when it has none, for its length. Without a last seq read, a log that lost the
// anchored head is Truncated when it holds fewer entries than the anchor
// recorded, Diverged otherwise (an accepted gap makes a log hold fewer
// entries than its last seq, so the kind may name a rewrite a cut; either
// way the anchored head is gone).
//
// Past the break the log is asked by the hash it stores for each entry,
// not by one recomputed (the entries there are not read): a row at the
// anchored seq that carries the anchored hash passes, whatever it holds
// and whatever went between the break and it. What the check cannot tell
// here is the chain's own to find: once the break is accepted, the next
// verification goes past it and stops at the next one (entries missing,
// that row's contents), which needs an acceptance of its own; the first
// acceptance may so record less than was lost, never let the rest pass.
func anchorAtBreak(src Source, tail *anchorTail, an Anchor) (*Problem, error) {
	if an.Seq <= 0 {
		return nil, nil
	}
	if tail.atFound {
		if tail.atHash != an.Head {
			return &Problem{Seq: an.Seq, Kind: Diverged, Detail: fmt.Sprintf("entry %d hashes to %s; the anchor of %s records %s", an.Seq, short(tail.atHash), an.Time, short(an.Head))}, nil
		}
		return nil, nil
	}
	seq, found, err := src.SeqOf(an.Head)
	if err != nil {
		return nil, err
	}
	if found && seq == an.Seq {
		return nil, nil
	}
	if found {
		return &Problem{Seq: an.Seq, Kind: Diverged, Detail: fmt.Sprintf("the anchor of %s records entry %d hashed %s; the log holds that entry at %d", an.Time, an.Seq, short(an.Head), seq)}, nil
	}
	n, err := src.Count()
	if err != nil {
		return nil, err
	}
	if n < an.Seq {
		return &Problem{Seq: n + 1, Kind: Truncated, Detail: fmt.Sprintf("the anchor of %s records %d entries ending in %s; the log holds %d, none of them hashed so", an.Time, an.Seq, short(an.Head), n)}, nil
	}
	return &Problem{Seq: an.Seq, Kind: Diverged, Detail: fmt.Sprintf("the anchor of %s records entry %d hashed %s; the log holds no entry hashed so", an.Time, an.Seq, short(an.Head))}, nil
}

// lastKeyEntry returns the seq of the last KindAnchored entry of a log
// whose chain broke, and the key it names; 0 when there is none. The
// check did not reach the entries past the break, so only an entry sealed
// under the chain's key at its own seq counts (any, without the key, as
// no entry can be told then): one written into the database without the
// key names nothing.
func (c *Chain) lastKeyEntry(src Source) (int64, string, error) {
	var seq int64
	var key string
	err := src.Read(KindAnchored, func(page []Entry) error {
		for _, e := range page {
			if e.Kind != KindAnchored || e.Seq <= seq || !(c.Sealed(e) || c.unkeyed && formatProblem(e) == "") {
				continue
			}
			var p AnchoredPayload
			json.Unmarshal(e.Payload, &p)
			seq, key = e.Seq, p.Key
		}
		return nil
	})
	return seq, key, err
}

// short is the start of hash h, for an operator. What is not a hash (an
// acceptance's record of its break, a key entry's key: text of whoever
// wrote the database when the log is read without its key) is quoted,
// control characters escaped: it is printed to the operator's terminal.
func short(h string) string {
	if len(h) > 16 {
		h = h[:16]
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return strconv.QuoteToASCII(h)
		}
	}
	return h
}

// Snapshot passes fn a Source reading one state of the log (a database
// snapshot) and closes it when fn returns; each call reads the log anew.
type Snapshot func(fn func(Source) error) error

// VerifyAnchored is VerifySnapshot over the entries read returns, held in
// memory.
func (c *Chain) VerifyAnchored(read func() ([]Entry, error), anchors *Anchors) (Result, error) {
	return c.VerifySnapshot(func(fn func(Source) error) error {
		entries, err := read()
		if err != nil {
			return err
		}
		return fn(SliceSource(entries))
	}, anchors)
}

// VerifySnapshot reads the chain from a snapshot of the log, verifies it
// with c (VerifySource: a page at a time) and then against the anchor in
// anchors (when one has been written), so a cut tail or a rewritten
// history fails even when the remaining chain is internally consistent.
// The anchor is read first: other writers keep appending and advancing it,
// and an anchor read after the entries may cover entries committed since,
// which would read as a cut tail.
//
// A log whose last KindAnchored entry names a key must be guarded by that
// key's anchor: with no anchor in the directory it fails as AnchorMissing,
// with another key as AnchorReplaced. Without that entry a deleted
// anchor.json would make a cut log read as one never anchored.
//
// An acceptance of a broken log (KindBrokenAccepted) past the anchor,
// sealed under the key, fails as UnanchoredAcceptance: no anchor update
// moves over it, and once anchored it would count.
//
// A log that names no key verifies (a log from before anchoring, or one
// whose first anchoring is under way) but Result.Unproven says why its
// tail cannot be vouched for: cut back to before its first KindAnchored
// entry, with the anchor removed or replaced by one of the cutter's own,
// it would read exactly so.
//
// A chain without its key (NewUnkeyedChain) checks the same, except each
// entry's contents against its hash; Unproven says so on every result that
// verifies.
func (c *Chain) VerifySnapshot(snap Snapshot, anchors *Anchors) (Result, error) {
	r, err := c.verifyAnchored(snap, anchors, true)
	if err == nil && r.OK && c.unkeyed {
		why := "the audit key (" + KeyFile + ") is missing, so no entry's contents were checked against its hash: an entry modified, or the history rewritten, cannot be told from an intact one; only the order and links of the entries and the anchor were checked"
		if r.Unproven != "" {
			why += "; also " + r.Unproven
		}
		r.Unproven = why
	}
	return r, err
}

func (c *Chain) verifyAnchored(snap Snapshot, anchors *Anchors, retry bool) (Result, error) {
	var an Anchor
	ok := false
	if anchors != nil {
		var err error
		if an, ok, err = anchors.Read(); err != nil {
			return Result{}, err
		}
	}
	var r Result
	var pastAnchor bool
	var tail anchorTail
	// The last KindAnchored entry: its seq and payload (the key it names).
	var keyed bool
	var keyedSeq int64
	var keyedPayload []byte
	// The first acceptance past the anchor sealed under the key (any,
	// without the key): see UnanchoredAcceptance. One too large to count
	// is not, as anchor updates leave it out (AcceptanceIn).
	var unanchored int64
	// The anchor checked against a log that broke first (see
	// anchorAtBreak), and the last key entry of that log (lastKeyEntry).
	var cut *Problem
	var brokenKeySeq int64
	var brokenKey string
	err := snap(func(src Source) error {
		var err error
		anchored := int64(-1)
		if ok {
			anchored = an.Seq
		}
		unanchored = 0
		r, pastAnchor, err = c.verifySource(src, func(e Entry) {
			tail.see(e, an)
			if e.Kind == KindAnchored {
				keyed, keyedSeq, keyedPayload = true, e.Seq, append(keyedPayload[:0], e.Payload...)
			}
			if ok && unanchored == 0 && e.Kind == KindBrokenAccepted && e.Seq > an.Seq && len(e.Payload) <= maxAcceptancePayload && (c.unkeyed || c.Sealed(e)) {
				unanchored = e.Seq
			}
		}, anchored)
		if err != nil || r.OK || anchors == nil {
			return err
		}
		if ok {
			if cut, err = anchorAtBreak(src, &tail, an); err != nil {
				return err
			}
		}
		// The key the log names, past the break too: the anchor
		// removed or replaced beside a break is named as it is on a
		// log that verifies. Read whatever the anchor's check found:
		// an anchor of another key, its seq chosen by whoever signed
		// it, reads as a cut, and an acceptance must know the key is
		// not the log's (Result.LogKey).
		brokenKeySeq, brokenKey, err = c.lastKeyEntry(src)
		return err
	})
	if err != nil {
		return Result{}, err
	}
	if (!r.OK && pastAnchor || r.OK && unanchored > 0) && retry && anchors != nil {
		// A start accepting the break writes the acceptance, then moves
		// the anchor onto it: read between the two, the acceptance was
		// past the anchor read first. An anchor moved since is read
		// again, before the entries (a new snapshot).
		now, nowOK, err := anchors.Read()
		if err != nil {
			return Result{}, err
		}
		if nowOK && (!ok || now.Seq > an.Seq) {
			return c.verifyAnchored(snap, anchors, false)
		}
	}
	if !r.OK && anchors != nil {
		// Checked even though the chain broke: an acceptance of the
		// break resets the anchor onto the head, and with only the break
		// reported it reset it over a tail cut beside it (delete the tail,
		// change one old entry), the cut entries then named nowhere.
		r.LogKey = brokenKey
		switch {
		case ok:
			r.Anchored = &an
			r.AnchorProblem = cut
			// Before the cut: an anchor of another key than the log
			// names says nothing of the log, what it records included.
			if brokenKeySeq > 0 && brokenKey != an.Key {
				p := anchorReplaced(brokenKeySeq, brokenKey, an.Key)
				r.AnchorProblem = &p
			}
		case brokenKeySeq > 0:
			if again, done, err := c.rereadAppeared(snap, anchors, retry); done {
				return again, err
			}
			p := anchorMissing(brokenKeySeq, brokenKey)
			r.AnchorProblem = &p
		}
		r.AnchorCutSeq = r.CutSeq()
	}
	if !r.OK || anchors == nil {
		return r, nil
	}
	var key string
	if keyed {
		r.AnchorKeySeq = keyedSeq
		var p AnchoredPayload
		// An entry of the chain's own key's making; one that does not
		// parse names no key, which no anchor directory holds.
		json.Unmarshal(keyedPayload, &p)
		key = p.Key
		r.LogKey = key
	}
	if !ok {
		if !keyed {
			return unproven(r), nil
		}
		if again, done, err := c.rereadAppeared(snap, anchors, retry); done {
			return again, err
		}
		return failWith(r, anchorMissing(keyedSeq, key)), nil
	}
	r.Anchored = &an
	// The key first: an anchor of another key than the log names says
	// nothing of the log, and one whose seq its signer chose past the
	// head read as a tail cut, which an acceptance took for the log's
	// own anchor.
	if keyed && key != an.Key {
		return failWith(r, anchorReplaced(keyedSeq, key, an.Key)), nil
	}
	if p := tail.check(an); p != nil {
		return fail(r, p.Seq, p.Kind, p.Detail), nil
	}
	if unanchored > 0 {
		// An acceptance the anchor does not cover, which no anchor update
		// moves over: until the operator accepts it (or a start that
		// wrote it anchors it), the log is not one to serve.
		return fail(r, unanchored, UnanchoredAcceptance, unanchoredWhy(unanchored, an)), nil
	}
	if !keyed {
		return unproven(r), nil
	}
	return r, nil
}

// rereadAppeared reads the anchor again when the first read found none
// beside a log that names a key: a server starting beside this read writes
// the anchor before the entry naming its key, so an anchor that appeared
// since is read again, before the entries (a new snapshot). done says the
// result is again's (or err's): the verification redone, or an anchor that
// cannot be read (unreadable is not removed: say why, as the first read
// does).
func (c *Chain) rereadAppeared(snap Snapshot, anchors *Anchors, retry bool) (again Result, done bool, err error) {
	_, now, err := anchors.Read()
	if err != nil {
		return Result{}, true, err
	}
	if now && retry {
		again, err = c.verifyAnchored(snap, anchors, false)
		return again, true, err
	}
	return Result{}, false, nil
}

// anchorMissing is the problem of a log whose entry seq records that it
// is anchored with key, beside an anchor directory that holds no anchor.
func anchorMissing(seq int64, key string) Problem {
	return Problem{Seq: seq, Kind: AnchorMissing, Detail: fmt.Sprintf("entry %d records that this log is anchored with key %s; the anchor directory holds no %s (it was removed, and a tail cut since could not be told from an intact log)", seq, short(key), AnchorFile)}
}

// anchorReplaced is the problem of a log whose entry seq records that it
// is anchored with key, beside an anchor directory that holds another's
// (dirKey).
func anchorReplaced(seq int64, key, dirKey string) Problem {
	return Problem{Seq: seq, Kind: AnchorReplaced, Detail: fmt.Sprintf("entry %d records that this log is anchored with key %s; the anchor directory holds key %s (it was replaced)", seq, short(key), short(dirKey))}
}

// unproven marks a verified log that names no anchor key: its anchor, if
// any, is not bound to it, so nothing shows that its tail is all there.
func unproven(r Result) Result {
	r.Unproven = fmt.Sprintf("the log records no anchor key (no %s entry), so a log cut back to before it was first anchored, its anchor removed or replaced, reads the same: whether entries were cut from its end cannot be shown", KindAnchored)
	return r
}

// Follower keeps an anchor up to date with a log's head. Appends notify it;
// it writes the anchor in the background, coalescing bursts, so that an
// append never waits for the anchor's fsync. It only extends an anchor
// that exists (Extend): the first is written by a start that verified the
// log. An append whose anchor has not
// been written yet when the process dies is covered by the next start,
// which verifies the chain and anchors its head.
//
// A head it could not anchor for a passing reason (anchor.lock held by
// another process past its wait, a full disk, the log unreadable for a
// moment) stays pending and is tried again after a wait that doubles from
// retryMin up to retryMax, without waiting for another append; appends
// meanwhile only move the head the next try anchors. A log that no longer
// extends its anchor, or an anchor that is gone, is not tried again until
// the next append: trying cannot mend it. Nor is one with an acceptance of
// a broken log since the anchor (see Advance).
type Follower struct {
	a     *Anchors
	log   LogReader
	onErr func(error)
	now   func() time.Time

	retryMin, retryMax time.Duration

	mu      sync.Mutex
	seq     int64
	head    string
	pending bool
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// The waits between tries of a head the follower could not anchor.
const (
	followerRetryMin = time.Second
	followerRetryMax = time.Minute
)

// NewFollower returns a follower of a's chain; log reads the log. onErr is
// told when an anchor cannot be written (a log that no longer extends its
// anchor, an acceptance of a broken log appended since the anchor, a full
// disk), at every try.
func NewFollower(a *Anchors, log LogReader, onErr func(error)) *Follower {
	return &Follower{a: a, log: log, onErr: onErr, now: time.Now,
		retryMin: followerRetryMin, retryMax: followerRetryMax,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// Notify records a new head; it never blocks.
func (f *Follower) Notify(seq int64, head string) {
	f.mu.Lock()
	if seq > f.seq {
		f.seq, f.head, f.pending = seq, head, true
	}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Run writes anchors until Close.
func (f *Follower) Run() {
	defer close(f.done)
	var (
		wait  time.Duration
		timer *time.Timer
		retry <-chan time.Time
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-f.stop:
			f.flush()
			return
		case <-f.wake:
			if retry != nil {
				// A try is due after its wait: the new head is
				// the one it anchors.
				continue
			}
		case <-retry:
			retry = nil
		}
		if !f.flush() {
			wait = 0
			continue
		}
		wait = min(max(2*wait, f.retryMin), f.retryMax)
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		retry = timer.C
	}
}

// flush anchors the pending head, if any. It says whether the head is
// still pending after a failure worth trying again.
func (f *Follower) flush() bool {
	f.mu.Lock()
	seq, head, pending := f.seq, f.head, f.pending
	f.mu.Unlock()
	if !pending {
		return false
	}
	err := f.a.Extend(context.Background(), seq, head, f.log, f.now())
	if err != nil && f.onErr != nil {
		f.onErr(err)
	}
	again := err != nil && retryable(err)
	f.mu.Lock()
	// A head that came meanwhile stays pending (its Notify woke Run).
	if f.seq == seq && !again {
		f.pending = false
	}
	f.mu.Unlock()
	return again
}

// retryable says whether an anchor that could not be extended (err) may
// be extended by trying again later: not when the log no longer extends
// it, when it is gone, or when it was opened read-only.
func retryable(err error) bool {
	var p *Problem
	return !errors.As(err, &p) && !errors.Is(err, ErrNoAnchor) && !errors.Is(err, errReadOnlyAnchors)
}

// Close writes the last head and stops Run (if it was started).
func (f *Follower) Close() {
	f.once.Do(func() {
		close(f.stop)
		select {
		case <-f.done:
		case <-time.After(10 * time.Second):
		}
	})
}
