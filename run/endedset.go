package run

import "math/bits"

// endedSet holds (run, attempt) keys of attempts found ended for good, in
// fixed memory, past what Controller.endedAgents remembers by run: a
// tenant cycling the ended credentials of more than maxEnded runs cost a
// read of a run for each request, for ever; now one for each credential,
// until endedSetBytes of keys are held.
//
// A key is the run's id and the attempt's number themselves, not a hash
// of them: the ids this server makes (newID) are "run-" and 12 lowercase
// hex digits, 48 bits, and an attempt numbered below 2^16 takes the other
// 16 of a uint64. Two attempts never share a key, so a key found is a
// definite answer, and a live attempt's credential is never refused for
// another's; a run or an attempt outside that form is not held, and its
// credential is read as before. Past the memory's bound a key is
// forgotten (its credential is read once more), never mistaken.
//
// The table is set-associative: a key's bucket is endedWays slots (one
// cache line of keys) chosen by a mix of its bits; a full bucket gives up
// a slot in turn. 0 is an empty slot: no key is 0 (attempts count from 1).
type endedSet struct {
	keys   []uint64
	states []uint8 // per slot: the run's state then, endedStates index + 1
	next   []uint8 // per bucket: the slot a full bucket gives up next
}

const (
	// endedSetBytes bounds what the set takes, allocated when its first
	// key is added: 9 bytes a key and one a bucket, 919,296 keys.
	endedSetBytes = 8 << 20
	endedWays     = 8
)

// endedStates are the states a run with an attempt ended for good is
// recorded in.
var endedStates = [...]State{Planned, Staging, Queued, Running, Checkpointed, Migrating, Held, Succeeded, Failed, Cancelled}

// endedKey is run id's attempt n as a key, ok false when they are not in
// the form a key holds.
func endedKey(id string, n int) (uint64, bool) {
	const prefix = "run-"
	if len(id) != len(prefix)+12 || id[:len(prefix)] != prefix || n < 1 || n >= 1<<16 {
		return 0, false
	}
	var k uint64
	for i := len(prefix); i < len(id); i++ {
		ch := id[i]
		switch {
		case '0' <= ch && ch <= '9':
			k = k<<4 | uint64(ch-'0')
		case 'a' <= ch && ch <= 'f':
			k = k<<4 | uint64(ch-'a'+10)
		default:
			return 0, false
		}
	}
	return k<<16 | uint64(n), true
}

// bucket is the first slot of k's bucket.
func (s *endedSet) bucket(k uint64) int {
	// k's bits mixed (splitmix64's finaliser: keys that differ in few bits,
	// a run's attempts say, spread over the buckets), scaled to their number.
	k ^= k >> 30
	k *= 0xbf58476d1ce4e5b9
	k ^= k >> 27
	k *= 0x94d049bb133111eb
	k ^= k >> 31
	hi, _ := bits.Mul64(k, uint64(len(s.next)))
	return int(hi) * endedWays
}

// add holds attempt n of run id as ended for good, the run then in state.
func (s *endedSet) add(id string, n int, state State) {
	k, ok := endedKey(id, n)
	if !ok {
		return
	}
	if s.keys == nil {
		buckets := endedSetBytes / (endedWays*9 + 1)
		s.keys = make([]uint64, buckets*endedWays)
		s.states = make([]uint8, buckets*endedWays)
		s.next = make([]uint8, buckets)
	}
	st := uint8(0)
	for i, x := range endedStates {
		if x == state {
			st = uint8(i + 1)
		}
	}
	b := s.bucket(k)
	slot := -1
	for i := b; i < b+endedWays; i++ {
		if s.keys[i] == k {
			s.states[i] = st
			return
		}
		if s.keys[i] == 0 && slot < 0 {
			slot = i
		}
	}
	if slot < 0 {
		nb := b / endedWays
		slot = b + int(s.next[nb])
		s.next[nb] = (s.next[nb] + 1) % endedWays
	}
	s.keys[slot], s.states[slot] = k, st
}

// has says whether attempt n of run id is held as ended for good, and the
// run's state then ("" when it was not one of endedStates).
func (s *endedSet) has(id string, n int) (string, bool) {
	if s.keys == nil {
		return "", false
	}
	k, ok := endedKey(id, n)
	if !ok {
		return "", false
	}
	b := s.bucket(k)
	for i := b; i < b+endedWays; i++ {
		if s.keys[i] == k {
			if st := s.states[i]; st > 0 {
				return string(endedStates[st-1]), true
			}
			return "", true
		}
	}
	return "", false
}
