// Package faultid names a server fault whose error is kept out of an
// answer: the answer gives the id, and the server's log line gives the id
// with the error, so that whoever was answered can point the operator at
// the line.
package faultid

import (
	"crypto/rand"
	"encoding/hex"
)

// New is a fresh fault id: 12 hex digits, random.
func New() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
