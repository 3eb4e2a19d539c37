package main

import (
	"strings"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/transfer"
)

// crashLedger is the dataset's objects (three chunks and the manifest) and
// what the ledger records at one site when the server is killed while the
// first staging's chunk writes are between their temporary files and
// their names: the next staging's reconcile finds the temporary files,
// whole, and confirms them as parts (and removes them); a staging then
// sends the chunks whole, and the manifest. It is what a crash test run
// recorded.
func crashLedger() (map[string]int64, []transfer.Entry) {
	a, b, c := dataset.ChunkPrefix("demo-text")+"0b/0b", dataset.ChunkPrefix("demo-text")+"3c/3c", dataset.ChunkPrefix("demo-text")+"ec/ec"
	m := dataset.ManifestKey("demo-text")
	objects := map[string]int64{a: 1508, b: 1498, c: 1580, m: 567}
	site := "sg-jurong-1"
	return objects, []transfer.Entry{
		{Kind: transfer.KindDataset, Site: site, Intent: "i1", Reconciled: true, BytesSent: 4586,
			Partial: []transfer.Partial{{Key: a, Bytes: 1508}, {Key: b, Bytes: 1498}, {Key: c, Bytes: 1580}}},
		{Kind: transfer.KindDataset, Site: site, Intent: "i2", ChunksSent: 3, BytesSent: 4586},
		{Kind: transfer.KindDataset, Site: site, Intent: "i3", BytesSent: 567, Complete: true},
		{Kind: transfer.KindDataset, Site: site, Complete: true},
		{Kind: transfer.KindDataset, Site: "my-johor-2", Intent: "i4", ChunksSent: 3, BytesSent: 4586},
		{Kind: transfer.KindDataset, Site: "my-johor-2", Intent: "i5", BytesSent: 567, Complete: true},
	}
}

// The crash test failed with "9739 bytes sent to sg-jurong-1, more than
// the dataset's 5153 sealed bytes and manifest: a chunk was sent twice"
// when a kill cut the chunks' writes: the parts a cut write left crossed
// and are confirmed, and the chunks then crossed whole, legitimately. What
// must hold is that nothing was delivered whole twice, and that the parts
// are parts of the dataset's objects, cut no more often than the server
// was killed.
func TestCrashStagingSentCountsCutWrites(t *testing.T) {
	objects, entries := crashLedger()
	if bad := crashStagingSent(entries, objects, 12); len(bad) != 0 {
		t.Errorf("a staging whose chunk writes a kill cut, then sent whole: %q", bad)
	}

	for _, c := range []struct {
		name  string
		edit  func(objects map[string]int64, es []transfer.Entry) []transfer.Entry
		kills int
		want  string
	}{
		{"a chunk confirmed whole twice", func(_ map[string]int64, es []transfer.Entry) []transfer.Entry {
			return append(es, transfer.Entry{Kind: transfer.KindDataset, Site: "my-johor-2", Intent: "i6", Reconciled: true, ChunksSent: 1, BytesSent: 1508})
		}, 12, "6661 bytes delivered whole to my-johor-2, more than the dataset's 5153"},
		{"a part counted as delivered whole", func(_ map[string]int64, es []transfer.Entry) []transfer.Entry {
			es[0].Partial = es[0].Partial[1:]
			return es
		}, 12, "delivered whole to sg-jurong-1"},
		{"a part of no object of the dataset", func(_ map[string]int64, es []transfer.Entry) []transfer.Entry {
			es[0].Partial[0].Key = dataset.ChunkPrefix("demo-text") + "ff/ff"
			return es
		}, 12, "which is not one of the dataset's objects"},
		{"a part larger than its object", func(_ map[string]int64, es []transfer.Entry) []transfer.Entry {
			es[0].Partial[0].Bytes++
			es[0].BytesSent++
			return es
		}, 12, "a part of 1509 bytes"},
		{"an empty part", func(_ map[string]int64, es []transfer.Entry) []transfer.Entry {
			es[0].Partial[0].Bytes = 0
			es[0].BytesSent -= 1508
			return es
		}, 12, "a part of 0 bytes"},
		{"cut more often than killed", func(_ map[string]int64, es []transfer.Entry) []transfer.Entry {
			return es
		}, 0, "cut mid-write 1 times at sg-jurong-1, by 0 kills"},
	} {
		t.Run(c.name, func(t *testing.T) {
			objects, es := crashLedger()
			es = c.edit(objects, es)
			bad := crashStagingSent(es, objects, c.kills)
			if !strings.Contains(strings.Join(bad, "\n"), c.want) {
				t.Errorf("got %q, want one saying %q", bad, c.want)
			}
		})
	}
}
