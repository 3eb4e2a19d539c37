// Package charlm is Meridian's example training program: a character-level
// bigram language model trained by stochastic gradient descent over the text
// shards in a data directory. It is small enough to run in seconds on one
// CPU, yet behaves like a real training job: it checkpoints every K steps
// atomically (write, fsync, rename, fsync the directory), resumes from the
// newest valid checkpoint (ignoring partial or corrupted files), stops with a
// checkpoint on SIGTERM, and prints progress lines that
// meridian.dev/meridian/backend.ParseProgress reads:
//
//	step=120 steps=1000 loss=2.3412 tokens_per_s=51234
//
// Training is deterministic: the batch of step s depends only on the seed and
// s, so a run that is killed and resumed ends with the same weights as one
// that never stopped.
package charlm
