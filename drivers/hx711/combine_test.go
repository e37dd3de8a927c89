package hx711

import (
	"errors"
	"slices"
	"testing"
)

var combineTests = []struct {
	name    string
	samples []int32
	want    int32
	ok      bool
}{
	{"one sample", []int32{100}, 100, true},
	{"all equal", []int32{5, 5, 5, 5, 5}, 5, true},
	{"one spike", []int32{1000, 1001, 999, 1000, 900000}, 1000, true},
	{"deviation within the floor is kept", []int32{1000, 1000, 1000, 1000, 1400}, 1080, true},
	{"deviation beyond the floor is dropped", []int32{1000, 1000, 1000, 1000, 1600}, 1000, true},
	{"negative counts", []int32{-5000, -5002, -4998, -5001, -4999}, -5000, true},
	{"rounds half away from zero", []int32{1, 2}, 2, true},
	{"rounds negative half away from zero", []int32{-1, -2}, -2, true},
	{"two minority spikes", []int32{0, 0, 0, 900000, -900000}, 0, true},
	{"wide noise inside the ceiling", []int32{0, 30000, 60000, 10000, 50000}, 30000, true},
	{"even count, a third dropped", []int32{10, 10, 10, 10, 500000, 500000}, 10, true},
	{"two clusters", []int32{0, 0, 200000, 200000}, 0, false},
	{"two clusters inside the ceiling", []int32{0, 0, 100000, 100000}, 50000, true},
	{"ramp", []int32{0, 100000, 200000, 300000, 400000}, 0, false},
	{"opposite extremes", []int32{8388606, -8388607}, 0, false},
	{"majority spikes", []int32{0, 0, 500000, 700000, 900000}, 0, false},
	{"no samples", nil, 0, false},
}

func TestCombine(t *testing.T) {
	for _, tt := range combineTests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.samples)
			got, err := combine(in)
			if !slices.Equal(in, tt.samples) {
				t.Errorf("combine modified its input: %v", in)
			}
			if !tt.ok {
				if !errors.Is(err, errUnstable) {
					t.Fatalf("combine(%v) = %d, %v; want errUnstable", tt.samples, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("combine(%v) = %d, %v; want %d", tt.samples, got, err, tt.want)
			}
		})
	}
}

// samplesFromBytes reads up to MaxSamples 24-bit two's complement samples,
// three bytes each, most significant first (the order the HX711 sends).
func samplesFromBytes(b []byte) []int32 {
	var s []int32
	for len(b) >= 3 && len(s) < MaxSamples {
		s = append(s, decode(uint32(b[0])<<16|uint32(b[1])<<8|uint32(b[2])))
		b = b[3:]
	}
	return s
}

func samplesToBytes(s []int32) []byte {
	var b []byte
	for _, v := range s {
		u := uint32(v) & 0xFFFFFF
		b = append(b, byte(u>>16), byte(u>>8), byte(u))
	}
	return b
}

func FuzzCombine(f *testing.F) {
	for _, tt := range combineTests {
		f.Add(samplesToBytes(tt.samples))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := samplesFromBytes(b)
		got, err := combine(s)
		if err != nil {
			if !errors.Is(err, errUnstable) {
				t.Fatalf("combine(%v): error %v does not wrap errUnstable", s, err)
			}
			if len(s) == 1 {
				t.Fatalf("combine(%v) of one sample failed: %v", s, err)
			}
			return
		}
		if lo, hi := slices.Min(s), slices.Max(s); got < lo || got > hi {
			t.Fatalf("combine(%v) = %d, outside [%d, %d]", s, got, lo, hi)
		}
		r := slices.Clone(s)
		slices.Reverse(r)
		if got2, err2 := combine(r); got2 != got || err2 != nil {
			t.Fatalf("combine depends on order: %v -> %d, reversed -> %d, %v", s, got, got2, err2)
		}
	})
}

func TestDecode(t *testing.T) {
	// "Output Data Rate and Format", Table 2: 24-bit two's complement,
	// 800000h (min) to 7FFFFFh (max).
	for _, tt := range []struct {
		code uint32
		want int32
	}{
		{0x000000, 0},
		{0x000001, 1},
		{0x7FFFFE, 8388606},
		{0x7FFFFF, 8388607},
		{0x800000, -8388608},
		{0x800001, -8388607},
		{0xFFFF38, -200},
		{0xFFFFFF, -1},
	} {
		if got := decode(tt.code); got != tt.want {
			t.Errorf("decode(%06Xh) = %d, want %d", tt.code, got, tt.want)
		}
	}
}
