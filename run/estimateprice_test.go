package run

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestEstimatePriceBounded: an estimate's pricePerHour was refused only
// when negative, NaN or infinite: 1e300 gave costs near 1e304, and 1e308
// an overflow blamed on the job's parameters and tokens. It is bounded
// as a site's price is (0 to 1000 USD per accelerator-hour), the error
// naming pricePerHour.
func TestEstimatePriceBounded(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range []float64{1e300, 1e308, 1000.5} {
		price := p
		_, err := e.c.Estimate(context.Background(), "t1", EstimateRequest{Documents: []Document{jobDoc(1000, 100)}, Accelerator: "nvidia-h100-sxm", Count: 8, PricePerHour: &price})
		var ie *InputError
		if !errors.As(err, &ie) || ie.Field != "pricePerHour" || !strings.Contains(err.Error(), "from 0 to 1000") {
			t.Errorf("pricePerHour %v: %v; want it refused, naming pricePerHour and the bound", p, err)
		}
	}
	price := 1000.0
	if _, err := e.c.Estimate(context.Background(), "t1", EstimateRequest{Documents: []Document{jobDoc(1000, 100)}, Accelerator: "nvidia-h100-sxm", Count: 8, PricePerHour: &price}); err != nil {
		t.Errorf("pricePerHour 1000, the bound: %v", err)
	}
}
