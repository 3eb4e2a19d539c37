// Package seal holds Meridian's data cryptography and nothing else: no files,
// no network. A dataset has one random 256-bit key; from it seal derives, with
// HKDF-SHA-256, a chunk-naming key, an encryption key and a manifest MAC key.
//
// Chunks are named by keyed BLAKE3(name key, plaintext), so a host that holds
// the ciphertext cannot confirm a guess about the plaintext by hashing it.
// Chunks are encrypted with AES-256-GCM under a fresh random 96-bit nonce, with
// the chunk id as associated data, so a chunk cannot be swapped for another.
// Manifests are authenticated with HMAC-SHA-256 under the MAC key.
package seal
