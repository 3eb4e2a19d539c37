package charlm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Vocab is the model's vocabulary: one symbol per byte value.
const Vocab = 256

// Model is a bigram model: W[a*Vocab+b] is the logit of byte b following a.
type Model struct {
	W []float64
}

// NewModel returns a model with all logits zero (uniform predictions).
func NewModel() *Model { return &Model{W: make([]float64, Vocab*Vocab)} }

// LoadData reads the *.txt shards of dir in name order and joins them.
func LoadData(dir string) ([]byte, int, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, 0, err
	}
	sort.Strings(paths)
	var data []byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, 0, fmt.Errorf("read shard: %w", err)
		}
		data = append(data, b...)
		data = append(data, '\n')
	}
	if len(paths) == 0 {
		return nil, 0, fmt.Errorf("data directory %s: no *.txt shards", dir)
	}
	if len(data) < 2 {
		return nil, 0, errors.New("data: the shards hold less than two bytes")
	}
	return data, len(paths), nil
}

// batchRand is the random source of one step: it depends only on the seed
// and the step, which makes resumed training identical to uninterrupted.
func batchRand(seed, step uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, step))
}

// Step runs one SGD step on batch random bigrams of data and returns the
// batch's mean cross-entropy loss (nats) before the update.
func (m *Model) Step(data []byte, seed, step uint64, batch int, lr float64) float64 {
	r := batchRand(seed, step)
	grad := map[int][]float64{}
	probs := make([]float64, Vocab)
	loss := 0.0
	for range batch {
		i := r.IntN(len(data) - 1)
		a, b := int(data[i]), int(data[i+1])
		row := m.W[a*Vocab : (a+1)*Vocab]
		softmax(row, probs)
		loss -= math.Log(probs[b])
		g, ok := grad[a]
		if !ok {
			g = make([]float64, Vocab)
			grad[a] = g
		}
		for j, p := range probs {
			g[j] += p
		}
		g[b]--
	}
	// Apply in row order so that floating point results do not depend on
	// map iteration order.
	rows := make([]int, 0, len(grad))
	for a := range grad {
		rows = append(rows, a)
	}
	sort.Ints(rows)
	scale := lr / float64(batch)
	for _, a := range rows {
		row := m.W[a*Vocab : (a+1)*Vocab]
		for j, g := range grad[a] {
			row[j] -= scale * g
		}
	}
	return loss / float64(batch)
}

// softmax writes softmax(row) into out; subtracting the maximum keeps it
// stable for large logits.
func softmax(row, out []float64) {
	mx := row[0]
	for _, x := range row {
		mx = math.Max(mx, x)
	}
	sum := 0.0
	for j, x := range row {
		e := math.Exp(x - mx)
		out[j] = e
		sum += e
	}
	for j := range out {
		out[j] /= sum
	}
}

// Loss is the mean cross-entropy of the model over all bigrams of data.
func (m *Model) Loss(data []byte) float64 {
	probs := make([]float64, Vocab)
	total := 0.0
	for i := 0; i+1 < len(data); i++ {
		a, b := int(data[i]), int(data[i+1])
		softmax(m.W[a*Vocab:(a+1)*Vocab], probs)
		total -= math.Log(probs[b])
	}
	return total / float64(len(data)-1)
}

// Sample generates n bytes starting after prefix, greedily: handy to see that
// the model learned something.
func (m *Model) Sample(prefix byte, n int) string {
	var b strings.Builder
	probs := make([]float64, Vocab)
	cur := int(prefix)
	for range n {
		softmax(m.W[cur*Vocab:(cur+1)*Vocab], probs)
		best := 0
		for j, p := range probs {
			if p > probs[best] {
				best = j
			}
		}
		b.WriteByte(byte(best))
		cur = best
	}
	return b.String()
}
