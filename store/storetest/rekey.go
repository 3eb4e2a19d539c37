package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// rekeyer is a store that re-keys its resources (both do).
type rekeyer interface {
	RekeyResources(ctx context.Context, kind, format string, key store.RekeyKey) (store.RekeyReport, error)
}

// testRekey is a key function for rekey's documents: the "key" given, or
// the store lower-cased and the name.
func testRekey(doc []byte) (string, error) {
	var d struct{ Name, Store, Key string }
	if err := json.Unmarshal(doc, &d); err != nil {
		return "", err
	}
	if d.Key != "" {
		return d.Key, nil
	}
	return strings.ToLower(d.Store) + "|" + d.Name, nil
}

// rekey: rows registered under a key format of before (a store spelt with
// capitals) move to the key their documents give today, so that another
// tenant's registration of the same data under today's key is refused
// again; rows that would share a key (two tenants, one store, two
// spellings) keep theirs and are reported, as is a row whose document
// gives no key; a row may move to a key another row leaves; other kinds
// are left alone; a second run changes nothing.
func rekey(t *testing.T, s store.Store) {
	ctx := context.Background()
	rk, ok := s.(rekeyer)
	if !ok {
		t.Fatalf("%T does not re-key its resources", s)
	}
	n := int64(0)
	put := func(tenant, kind, name, doc, key string) {
		t.Helper()
		n++
		r := res(tenant, kind, name, doc, key)
		if _, err := s.PutResource(ctx, &r, 0, rec(t, "register", "", n)); err != nil {
			t.Fatalf("register %s/%s: %v", tenant, name, err)
		}
	}
	put("a", "Dataset", "chat", `{"name":"chat","store":"S3://Bucket-A"}`, "S3://Bucket-A|chat") // moves
	put("a", "Dataset", "plain", `{"name":"plain","store":"s3://p"}`, "s3://p|plain")            // stays
	put("b", "Dataset", "x", `{"name":"x","store":"s3://c"}`, "s3://c|x")                        // holds c's new key
	put("c", "Dataset", "x", `{"name":"x","store":"S3://C"}`, "S3://C|x")                        // clash with b
	put("d", "Dataset", "y", `{"name":"y","store":"S3://D"}`, "S3://D|y")                        // clash with e
	put("e", "Dataset", "y", `{"name":"y","store":"s3://D"}`, "s3://D|y")                        // clash with d
	put("f", "Dataset", "z", `{"key":"s3://k1"}`, "s3://k2")                                     // to the key g leaves
	put("g", "Dataset", "z", `{"key":"s3://k3"}`, "s3://k1")                                     // moves away
	put("h", "Dataset", "bad", `{`, "s3://bad|bad")                                              // unread
	put("i", "Organization", "org", `{"name":"org","store":"S3://O"}`, "S3://O|org")             // another kind
	want := map[string]string{
		"a/chat": "s3://bucket-a|chat", "a/plain": "s3://p|plain", "b/x": "s3://c|x", "c/x": "S3://C|x",
		"d/y": "S3://D|y", "e/y": "s3://D|y", "f/z": "s3://k1", "g/z": "s3://k3", "h/bad": "s3://bad|bad",
	}
	check := func(run string, rep store.RekeyReport, changed int) {
		t.Helper()
		for tn, k := range want {
			tenant, name, _ := strings.Cut(tn, "/")
			got, err := s.GetResource(ctx, tenant, "Dataset", name)
			if err != nil || got.StoreKey != k || got.Version != 1 {
				t.Errorf("%s: %s: %+v %v, want key %q at version 1", run, tn, got, err, k)
			}
		}
		if got, err := s.GetResource(ctx, "i", "Organization", "org"); err != nil || got.StoreKey != "S3://O|org" {
			t.Errorf("%s: another kind's row: %+v %v", run, got, err)
		}
		if rep.Rows != 9 || rep.Changed != changed || rep.ClashCount != 2 || rep.UnreadCount != 1 || len(rep.Unread) != 1 {
			t.Fatalf("%s: report %+v, want 9 rows, %d changed, 2 clashes and 1 unread", run, rep, changed)
		}
		if u := rep.Unread[0]; u.Tenant != "h" || u.Name != "bad" || u.Key != "s3://bad|bad" || u.Err == "" {
			t.Errorf("%s: unread %+v", run, u)
		}
		var clashes []string
		for _, c := range rep.Clashes {
			var rows []string
			for _, r := range c.Rows {
				rows = append(rows, r.Tenant+"/"+r.Name+"="+r.Key)
			}
			slices.Sort(rows)
			clashes = append(clashes, c.Key+": "+strings.Join(rows, " "))
		}
		slices.Sort(clashes)
		wantClashes := []string{"s3://c|x: b/x=s3://c|x c/x=S3://C|x", "s3://d|y: d/y=S3://D|y e/y=s3://D|y"}
		if !slices.Equal(clashes, wantClashes) {
			t.Errorf("%s: clashes %q, want %q", run, clashes, wantClashes)
		}
	}
	rep, err := rk.RekeyResources(ctx, "Dataset", "f1", testRekey)
	if err != nil {
		t.Fatal(err)
	}
	check("first run", rep, 3)
	rep, err = rk.RekeyResources(ctx, "Dataset", "f2", testRekey)
	if err != nil {
		t.Fatal(err)
	}
	check("second run", rep, 0)
	// A re-key that left a clash or an unread row records no format: the
	// next start re-keys and reports them again.
	if rep, err = rk.RekeyResources(ctx, "Dataset", "f2", testRekey); err != nil || rep.Skipped {
		t.Fatalf("a re-key after one that left clashes: %+v %v, want the rows read again", rep, err)
	}
	check("third run", rep, 0)
	// A start whose key format is the one recorded reads no row: not at
	// each start a read of every row, and a key that reads the server's
	// surroundings (a relative file URL's working directory, which
	// another start may not share) moves no row to where another
	// tenant's registration may then claim the key it left.
	put("k", "Volume", "v", `{"name":"v","store":"S3://V"}`, "S3://V|v")
	if rep, err = rk.RekeyResources(ctx, "Volume", "f2", testRekey); err != nil || rep.Skipped || rep.Rows != 1 || rep.Changed != 1 {
		t.Fatalf("the first re-key of another kind: %+v %v, want its row moved", rep, err)
	}
	called := false
	elsewhere := func(doc []byte) (string, error) {
		called = true
		return "s3://elsewhere|v", nil
	}
	if rep, err = rk.RekeyResources(ctx, "Volume", "f2", elsewhere); err != nil || !rep.Skipped || rep.Rows != 0 || called {
		t.Fatalf("a re-key under the recorded format: %+v %v (key read: %v), want skipped, no row read", rep, err, called)
	}
	if got, err := s.GetResource(ctx, "k", "Volume", "v"); err != nil || got.StoreKey != "s3://v|v" {
		t.Errorf("after a skipped re-key: %+v %v, want key s3://v|v", got, err)
	}
	if rep, err = rk.RekeyResources(ctx, "Volume", "f3", elsewhere); err != nil || rep.Skipped || rep.Changed != 1 {
		t.Fatalf("a re-key under a new format: %+v %v, want the row moved", rep, err)
	}

	// Another tenant naming a's data as today's key does is refused; a's
	// own update, which writes today's key, is not.
	var rc *store.ResourceConflict
	stolen := res("j", "Dataset", "chat", `{"name":"chat","store":"s3://bucket-a"}`, "s3://bucket-a|chat")
	if _, err := s.PutResource(ctx, &stolen, 0, rec(t, "register", "", 100)); !errors.As(err, &rc) {
		t.Fatalf("another tenant registering re-keyed data: %v, want a conflict", err)
	}
	// The key of a clash that no row holds is nobody's to take: not a
	// third tenant's (it registered d's and e's data), nor d's or e's
	// own by an update under today's key (the update picked the owner).
	for i, r := range []store.Resource{
		res("j", "Dataset", "y", `{"name":"y","store":"s3://d"}`, "s3://d|y"),
		res("d", "Dataset", "y", `{"name":"y","store":"s3://d","v":2}`, "s3://d|y"),
	} {
		r := r
		ifv := int64(0)
		if r.Tenant == "d" {
			ifv = 1
		}
		if _, err := s.PutResource(ctx, &r, ifv, rec(t, "register", "", int64(110+i))); !errors.As(err, &rc) || !strings.Contains(err.Error(), "an operator decides") {
			t.Errorf("%s registering a clash's store under today's key: %v, want a conflict naming the clash", r.Tenant, err)
		}
	}
	// A row that holds a clash's key keeps it: b updates its dataset.
	bupd := res("b", "Dataset", "x", `{"name":"x","store":"s3://c","v":2}`, "s3://c|x")
	if _, err := s.PutResource(ctx, &bupd, 1, rec(t, "update", "", 112)); err != nil {
		t.Errorf("the holder of a clash's key updating: %v", err)
	}
	// Once e's data is elsewhere, a re-key moves d and the clash is gone.
	eupd := res("e", "Dataset", "y", `{"name":"y","store":"s3://e2"}`, "s3://e2|y")
	if _, err := s.PutResource(ctx, &eupd, 1, rec(t, "update", "", 113)); err != nil {
		t.Fatalf("e moving its data: %v", err)
	}
	if rep, err = rk.RekeyResources(ctx, "Dataset", "f2", testRekey); err != nil || rep.ClashCount != 1 {
		t.Fatalf("a re-key once e's data moved: %+v %v, want one clash left", rep, err)
	}
	if got, err := s.GetResource(ctx, "d", "Dataset", "y"); err != nil || got.StoreKey != "s3://d|y" {
		t.Errorf("d after the clash is settled: %+v %v, want today's key", got, err)
	}
	upd := res("a", "Dataset", "chat", `{"name":"chat","store":"s3://bucket-a","v":2}`, "s3://bucket-a|chat")
	if _, err := s.PutResource(ctx, &upd, 1, rec(t, "update", "", 101)); err != nil {
		t.Fatalf("the owner's update under today's key: %v", err)
	}
}

// racingRekeyClash: a re-key on one server (a) that leaves a clash
// reserves the clash's key, while another server (b) registers that very
// key for other tenants. Whatever the order, the two are one after the
// other: a registration the re-key did not read (its report counts the
// rows of the kind it read) came after the reservation and is refused;
// one that took the key came before, and the re-key read its row. On
// PostgreSQL a registration that checked the reservations while the
// re-key's transaction was open, and wrote once it committed, took the
// reserved key unread by the re-key.
func racingRekeyClash(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	rk, ok := a.(rekeyer)
	if !ok {
		t.Fatalf("%T does not re-key its resources", a)
	}
	for round := range 10 {
		// A kind of its own each round, so that the re-key reads only
		// this round's rows; store keys are one space for all kinds.
		kind, st := fmt.Sprintf("Set%d", round), fmt.Sprintf("s3://d%d", round)
		doc := func(st string) string { return fmt.Sprintf(`{"name":"y","store":%q}`, st) }
		for i, sp := range []string{fmt.Sprintf("S3://D%d", round), fmt.Sprintf("s3://D%d", round)} {
			r := res(string(rune('d'+i)), kind, "y", doc(sp), sp+"|y") // tenants d and e
			if _, err := a.PutResource(ctx, &r, 0, rec(t, "register", "", int64(i))); err != nil {
				t.Fatal(err)
			}
		}
		const takers = 6
		recs := make([]audit.Record, takers)
		for i := range recs {
			recs[i] = rec(t, "register", "", int64(10+i))
		}
		errs := make([]error, takers)
		var rep store.RekeyReport
		var rerr error
		var wg sync.WaitGroup
		for i := range takers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := res(fmt.Sprintf("j%d", i), kind, "y", doc(st), st+"|y")
				_, errs[i] = b.PutResource(ctx, &r, 0, recs[i])
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, rerr = rk.RekeyResources(ctx, kind, "f1", testRekey)
		}()
		wg.Wait()
		if rerr != nil || rep.ClashCount != 1 {
			t.Fatalf("round %d: re-key: %+v %v, want one clash", round, rep, rerr)
		}
		took := 0
		for i, err := range errs {
			var rc *store.ResourceConflict
			switch {
			case err == nil:
				took++
			case !errors.As(err, &rc):
				t.Errorf("round %d: taker %d: %v, want a ResourceConflict", round, i, err)
			}
		}
		if took > 1 || rep.Rows != 2+took {
			t.Errorf("round %d: %d tenants took the clash's key, the re-key read %d rows: a registration the re-key did not read took the key it reserved", round, took, rep.Rows)
		}
		// Reserved now: a registration after both is refused.
		late := res("late", kind, "y", doc(st), st+"|y")
		if _, err := b.PutResource(ctx, &late, 0, rec(t, "register", "", 99)); err == nil {
			t.Errorf("round %d: a registration after the re-key took the clash's key", round)
		}
	}
}
