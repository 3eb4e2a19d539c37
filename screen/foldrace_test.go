package screen

import (
	"sync"
	"testing"
)

// TestNormalizeConcurrently: names were folded by one transformer chain
// shared by every screening, and a chain keeps state between calls: two
// organisations screened at once (a server screens each plan's outside
// the screener's lock) had their names' letters mixed, and a listed
// party's name could be compared as another's. Each screening's folding
// is its own now; the names fold alike at once as one at a time.
func TestNormalizeConcurrently(t *testing.T) {
	names := []string{
		"Société Générale de Recherche Avancée",
		"Ëxâmplé Àdvänced Cömpütïng Çö., Ltd.",
		"Zqx Northwind Research Institute",
		"Ｆｕｌｌｗｉｄｔｈ Ｌａｂ",
		"Naïve Café Œuvre Straße",
		"Łódź Ñandú Ørsted Ågård",
	}
	want := make([]string, len(names))
	for i, n := range names {
		want[i] = Normalize(n)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wrong := 0
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				k := (g + i) % len(names)
				if got := Normalize(names[k]); got != want[k] {
					mu.Lock()
					if wrong == 0 {
						t.Errorf("%q folded as %q at once with others, %q alone", names[k], got, want[k])
					}
					wrong++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if wrong > 0 {
		t.Errorf("%d of 16000 names folded otherwise at once with others", wrong)
	}
}
