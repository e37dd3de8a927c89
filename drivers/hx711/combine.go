package hx711

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

const (
	// outlierFloor is the smallest outlier bound, in counts. At gain 128 and
	// AVDD 5 V a count is 2.3 nV (full scale ±0.5·AVDD/GAIN over 2^23
	// counts), so 512 counts is 1.2 µV, about 13 times the datasheet's
	// input noise (90 nV rms at 80 samples/s). Without a floor, samples
	// that agree to a few counts would make the bound a few counts too.
	outlierFloor = 512
	// outlierCeiling is the largest outlier bound: samples spread wider
	// than 2^16 counts (0.8 % of full scale) are not one measurement.
	outlierCeiling = 1 << 16
)

// errUnstable is the cause combine fails with.
var errUnstable = errors.New("samples disagree")

// combine turns one Sense's samples into one count: it drops the samples
// farther from the median than three times the median absolute deviation
// (the bound clamped to outlierFloor..outlierCeiling) and returns the mean
// of the rest, rounded to the nearest count. It fails with errUnstable when
// more than half the samples are dropped, or when there are none.
func combine(samples []int32) (int32, error) {
	n := len(samples)
	if n == 0 {
		return 0, fmt.Errorf("%w: no samples", errUnstable)
	}
	// Counts are 24-bit, so float64 holds them, their differences and the
	// halves a median of an even count produces exactly.
	v := make([]float64, n)
	for i, s := range samples {
		v[i] = float64(s)
	}
	med := median(v)
	dev := make([]float64, n)
	for i, x := range v {
		dev[i] = math.Abs(x - med)
	}
	mad := median(slices.Clone(dev))
	bound := min(max(3*mad, outlierFloor), outlierCeiling)

	var sum float64
	kept := 0
	for i, x := range v {
		if dev[i] <= bound {
			sum += x
			kept++
		}
	}
	if 2*(n-kept) > n {
		return 0, fmt.Errorf("%w: %d of %d samples lie more than %.0f counts from their median %.1f", errUnstable, n-kept, n, bound, med)
	}
	// The mean of kept counts lies between their extremes: a 24-bit count.
	return int32(math.Round(sum / float64(kept))), nil
}

// median returns the median of v, reordering v.
func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
