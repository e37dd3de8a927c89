package geo

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// pentagon is Brussels' inner ring (the Pentagon) through nine of its real
// corners, [lon, lat] as in GeoJSON, clockwise and not closed: Porte de
// Namur, Porte de Hal, Porte d'Anderlecht, Porte de Ninove, Place
// Sainctelette, Place Rogier, Botanique, Place Madou, Trône.
var pentagon = [][2]float64{
	{4.3625, 50.8385}, {4.3440, 50.8334}, {4.3385, 50.8420}, {4.3403, 50.8507},
	{4.3475, 50.8600}, {4.3585, 50.8550}, {4.3660, 50.8545}, {4.3700, 50.8500},
	{4.3675, 50.8410},
}

// grandPlaceHole is a square of about 140 m × 140 m around the Grand-Place.
var grandPlaceHole = [][2]float64{
	{4.3515, 50.8461}, {4.3535, 50.8461}, {4.3535, 50.8473}, {4.3515, 50.8473}, {4.3515, 50.8461},
}

func TestPolygon_ContainsBrussels(t *testing.T) {
	p := Polygon{Rings: [][][2]float64{pentagon}}
	holed := Polygon{Rings: [][][2]float64{pentagon, grandPlaceHole}}
	for _, tc := range []struct {
		name        string
		pt          Point
		in, inHoled bool
	}{
		{"Grand-Place", grandPlace, true, false},
		{"Manneken Pis", mannekenPis, true, true},
		{"Palais Royal", palaisRoyal, true, true},
		{"Gare Centrale", gareCentrale, true, true},
		{"Gare du Midi", gareDuMidi, false, false},
		{"Gare du Nord", gareDuNord, false, false},
		{"Tour & Taxis", tourEtTaxis, false, false},
		{"Atomium", atomium, false, false},
		{"hole corner", Point{50.8461, 4.3515}, true, true},
		{"hole edge", Point{50.8467, 4.3535}, true, true},
	} {
		if got := p.Contains(tc.pt); got != tc.in {
			t.Errorf("pentagon.Contains(%s) = %v, want %v", tc.name, got, tc.in)
		}
		if got := holed.Contains(tc.pt); got != tc.inHoled {
			t.Errorf("holed pentagon.Contains(%s) = %v, want %v", tc.name, got, tc.inHoled)
		}
		d := p.SignedDistance(tc.pt)
		if tc.in != (d <= BoundaryTolerance) {
			t.Errorf("pentagon.SignedDistance(%s) = %v, want the sign of Contains = %v", tc.name, d, tc.in)
		}
	}
	// The hole's boundary is the boundary: 0 m on it, and the Grand-Place,
	// 60 m or more from the hole's edges, is outside by that much.
	if d := holed.SignedDistance(grandPlace); d < 60 || d > 80 {
		t.Errorf("holed.SignedDistance(Grand-Place) = %v, want 60..80 m", d)
	}
	if d := holed.SignedDistance(Point{50.8467, 4.3535}); math.Abs(d) > BoundaryTolerance {
		t.Errorf("holed.SignedDistance(hole edge) = %v, want 0", d)
	}
}

// edgeFrame returns the midpoint of the edge from a to b ([lon, lat]) and
// the bearing pointing to the right of the edge's direction.
func edgeFrame(a, b [2]float64) (mid Point, right float64) {
	mid = Point{Lat: (a[1] + b[1]) / 2, Lon: (a[0] + b[0]) / 2}
	// The edge's direction in local metres (see the package doc).
	dx := (b[0] - a[0]) * math.Cos(mid.Lat*rad)
	dy := b[1] - a[1]
	return mid, normDeg(math.Atan2(dx, dy)/rad + 90)
}

func TestPolygon_EdgesAndVertices(t *testing.T) {
	for _, tc := range []struct {
		name string
		ring [][2]float64
	}{
		{"open clockwise", pentagon},
		{"closed clockwise", append(slices.Clone(pentagon), pentagon[0])},
		{"open counterclockwise", reversed(pentagon)},
		{"closed counterclockwise", append(reversed(pentagon), pentagon[len(pentagon)-1])},
	} {
		p := Polygon{Rings: [][][2]float64{tc.ring}}
		if err := p.Validate(); err != nil {
			t.Fatalf("%s: Validate: %v", tc.name, err)
		}
		for i, v := range pentagon {
			vp := Point{Lat: v[1], Lon: v[0]}
			if !p.Contains(vp) {
				t.Errorf("%s: vertex %d not contained", tc.name, i)
			}
			if d := p.SignedDistance(vp); math.Abs(d) > 1e-6 {
				t.Errorf("%s: SignedDistance(vertex %d) = %v, want 0", tc.name, i, d)
			}
			w := pentagon[(i+1)%len(pentagon)]
			mid, right := edgeFrame(v, w)
			if !p.Contains(mid) {
				t.Errorf("%s: midpoint of edge %d not contained", tc.name, i)
			}
			if d := p.SignedDistance(mid); math.Abs(d) > BoundaryTolerance {
				t.Errorf("%s: SignedDistance(midpoint %d) = %v, want 0", tc.name, i, d)
			}
			// pentagon runs clockwise: its inside is to the right of each edge.
			for _, m := range []float64{0.01, 1, 5, 10, 50} {
				in := Destination(mid, m, right)
				out := Destination(mid, m, right+180)
				if !p.Contains(in) || p.Contains(out) {
					t.Errorf("%s: edge %d, %v m: Contains(inside) = %v, Contains(outside) = %v",
						tc.name, i, m, p.Contains(in), p.Contains(out))
				}
				// Destination's great circle against the local plane: equal
				// to 0.1% plus a millimetre.
				if d := p.SignedDistance(in); math.Abs(d+m) > 0.001*m+0.001 {
					t.Errorf("%s: edge %d: SignedDistance(%v m inside) = %v", tc.name, i, m, d)
				}
				if d := p.SignedDistance(out); math.Abs(d-m) > 0.001*m+0.001 {
					t.Errorf("%s: edge %d: SignedDistance(%v m outside) = %v", tc.name, i, m, d)
				}
			}
		}
	}
}

func reversed(r [][2]float64) [][2]float64 {
	r = slices.Clone(r)
	slices.Reverse(r)
	return r
}

// TestPolygon_ProjectionError measures the local projection against
// Distance: the nearest boundary point of a small triangle is its vertex at
// the target, so SignedDistance from far away is the distance to it.
func TestPolygon_ProjectionError(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to Point
		maxRel   float64
	}{
		{"Grand-Place to Manneken Pis", grandPlace, mannekenPis, 0.0001},
		{"Grand-Place to Atomium", grandPlace, atomium, 0.001},
		{"Gare du Midi to Gare du Nord", gareDuMidi, gareDuNord, 0.001},
		{"Grand-Place to Antwerpen-Centraal", grandPlace, antwerpen, 0.01},
		{"Oslo, 5 km north-east", Point{59.9, 10.75}, Destination(Point{59.9, 10.75}, 5000, 45), 0.001},
		{"Oslo, 50 km north-east", Point{59.9, 10.75}, Destination(Point{59.9, 10.75}, 50000, 45), 0.01},
	} {
		// A triangle pointing at from, its far side beyond to.
		b := Bearing(tc.to, tc.from)
		tri := Polygon{Rings: [][][2]float64{{
			lonLat(tc.to),
			lonLat(Destination(tc.to, 20, b+180-20)),
			lonLat(Destination(tc.to, 20, b+180+20)),
		}}}
		want := Distance(tc.from, tc.to)
		got := tri.SignedDistance(tc.from)
		rel := math.Abs(got-want) / want
		t.Logf("%s: %.1f m, projection %.1f m, %.4f%%", tc.name, want, got, 100*rel)
		if rel > tc.maxRel {
			t.Errorf("%s: SignedDistance = %.3f m, Distance %.3f m: %.4f%% off, limit %.4f%%",
				tc.name, got, want, 100*rel, 100*tc.maxRel)
		}
	}
}

func lonLat(p Point) [2]float64 { return [2]float64{p.Lon, p.Lat} }

func TestPolygon_NearAntimeridian(t *testing.T) {
	// Taveuni, Fiji: a square just west of 180°, valid and usable.
	west := Polygon{Rings: [][][2]float64{{{179.90, -16.90}, {179.99, -16.90}, {179.99, -16.80}, {179.90, -16.80}}}}
	if err := west.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if !west.Contains(Point{-16.85, 179.95}) || west.Contains(Point{-16.85, -179.95}) {
		t.Error("Contains near the antimeridian is wrong")
	}
	if d := west.SignedDistance(Point{-16.85, 179.95}); math.Abs(d+Distance(Point{-16.85, 179.95}, Point{-16.85, 179.99})) > 1 {
		t.Errorf("SignedDistance = %v", d)
	}
	// The same square extended across 180° is refused: read as plain
	// numbers it would span 359.8° of longitude.
	across := Polygon{Rings: [][][2]float64{{{179.90, -16.90}, {-179.90, -16.90}, {-179.90, -16.80}, {179.90, -16.80}}}}
	err := across.Validate()
	if !errors.Is(err, ErrPolygon) || !strings.Contains(err.Error(), "antimeridian") {
		t.Errorf("Validate(across 180°) = %v, want ErrPolygon naming the antimeridian", err)
	}
}

func TestPolygon_ValidateGood(t *testing.T) {
	sq := func(c Point, m float64) [][2]float64 {
		return [][2]float64{
			lonLat(Destination(c, m, 225)), lonLat(Destination(c, m, 135)),
			lonLat(Destination(c, m, 45)), lonLat(Destination(c, m, 315)),
		}
	}
	for _, tc := range []struct {
		name  string
		rings [][][2]float64
	}{
		{"pentagon", [][][2]float64{pentagon}},
		{"pentagon with a hole", [][][2]float64{pentagon, grandPlaceHole}},
		{"one metre square", [][][2]float64{sq(grandPlace, 0.7)}},
		{"sliver 100 m × 0.5 m", [][][2]float64{{{4.3525, 50.8467}, {4.3539, 50.8467}, {4.3539, 50.846704}, {4.3525, 50.846704}}}},
		{"repeated positions", [][][2]float64{{{4.35, 50.84}, {4.35, 50.84}, {4.36, 50.85}, {4.37, 50.84}, {4.37, 50.84}}}},
	} {
		if err := (Polygon{Rings: tc.rings}).Validate(); err != nil {
			t.Errorf("Validate(%s) = %v", tc.name, err)
		}
	}
}

func TestPolygon_ValidateBad(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rings [][][2]float64
		want  string
	}{
		{"no rings", nil, "no rings"},
		{"empty ring", [][][2]float64{{}}, "0 distinct"},
		{"two positions", [][][2]float64{{{4.35, 50.84}, {4.36, 50.85}}}, "2 distinct"},
		{"closed triangle of two", [][][2]float64{{{4.35, 50.84}, {4.36, 50.85}, {4.35, 50.84}}}, "2 distinct"},
		{"collinear", [][][2]float64{{{4.35, 50.84}, {4.36, 50.85}, {4.37, 50.86}}}, "no area"},
		{"back and forth", [][][2]float64{{{4.35, 50.84}, {4.36, 50.85}, {4.35, 50.84}, {4.36, 50.85}}}, "no area"},
		{"latitude 91", [][][2]float64{{{4.35, 91}, {4.36, 50.85}, {4.37, 50.84}}}, "position 0"},
		{"longitude 181", [][][2]float64{{{4.35, 50.84}, {181, 50.85}, {4.37, 50.84}}}, "position 1"},
		{"NaN", [][][2]float64{{{4.35, 50.84}, {4.36, 50.85}, {math.NaN(), 50.84}}}, "position 2"},
		{"lat, lon swapped", [][][2]float64{{{50.8385, 4.3625}, {50.8334, 184.3440}, {50.8420, 4.3385}}}, "position 1"},
		{"bad hole", [][][2]float64{pentagon, {{4.35, 50.84}}}, "hole 1"},
	} {
		err := Polygon{Rings: tc.rings}.Validate()
		if !errors.Is(err, ErrPolygon) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%s) = %v, want ErrPolygon containing %q", tc.name, err, tc.want)
		}
	}
	if err := (MultiPolygon{}).Validate(); !errors.Is(err, ErrPolygon) {
		t.Errorf("MultiPolygon{}.Validate() = %v, want ErrPolygon", err)
	}
	bad := MultiPolygon{{Rings: [][][2]float64{pentagon}}, {}}
	if err := bad.Validate(); !errors.Is(err, ErrPolygon) || !strings.Contains(err.Error(), "polygon 1") {
		t.Errorf("Validate(second polygon empty) = %v", err)
	}
}

func TestMultiPolygon_TwoBays(t *testing.T) {
	// Two loading bays in the Rue Neuve, about 140 m apart.
	m := MultiPolygon{
		{Rings: [][][2]float64{{{4.35690, 50.85280}, {4.35750, 50.85280}, {4.35750, 50.85320}, {4.35690, 50.85320}}}},
		{Rings: [][][2]float64{{{4.35690, 50.85400}, {4.35750, 50.85400}, {4.35750, 50.85440}, {4.35690, 50.85440}}}},
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		pt       Point
		in       bool
		min, max float64
	}{
		{"first bay's centre", Point{50.85300, 4.35720}, true, -22, -20},
		{"second bay's centre", Point{50.85420, 4.35720}, true, -22, -20},
		{"between them", Point{50.85360, 4.35720}, false, 44, 45},
		{"Gare Centrale", gareCentrale, false, 800, 850},
	} {
		if got := m.Contains(tc.pt); got != tc.in {
			t.Errorf("Contains(%s) = %v, want %v", tc.name, got, tc.in)
		}
		if d := m.SignedDistance(tc.pt); d < tc.min || d > tc.max {
			t.Errorf("SignedDistance(%s) = %v, want %v..%v", tc.name, d, tc.min, tc.max)
		}
	}
	if d := (MultiPolygon{}).SignedDistance(grandPlace); !math.IsInf(d, 1) {
		t.Errorf("empty SignedDistance = %v, want +Inf", d)
	}
	if (MultiPolygon{}).Contains(grandPlace) {
		t.Error("empty MultiPolygon contains the Grand-Place")
	}
}

func FuzzPolygon(f *testing.F) {
	f.Add(4.3525, 50.8467, 4.35, 50.84, 4.36, 50.85, 4.37, 50.84)
	f.Add(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
	f.Add(math.NaN(), 50.0, 179.9, -16.9, -179.9, -16.9, 179.9, -16.8)
	f.Add(4.3525, 90.0, 4.35, 50.84, 4.35, 50.84, 4.37, 50.84)
	f.Fuzz(func(t *testing.T, px, py, ax, ay, bx, by, cx, cy float64) {
		p := Polygon{Rings: [][][2]float64{{{ax, ay}, {bx, by}, {cx, cy}}}}
		pt := Point{Lat: py, Lon: px}
		valid := p.Validate() == nil
		in := p.Contains(pt)
		d := p.SignedDistance(pt)
		if valid && pt.Valid() && math.Abs(pt.Lat) < 85 && !math.IsNaN(d) && in != (d <= BoundaryTolerance) {
			t.Errorf("Contains = %v but SignedDistance = %v", in, d)
		}
		_ = Distance(pt, Point{ay, ax})
		_ = Bearing(pt, Point{ay, ax})
	})
}

// circle returns a ring of n vertices at radius m metres around c.
func circle(c Point, m float64, n int) [][2]float64 {
	r := make([][2]float64, n)
	for i := range r {
		r[i] = lonLat(Destination(c, m, 360*float64(i)/float64(n)))
	}
	return r
}

func BenchmarkPolygon_Contains(b *testing.B) {
	for _, bc := range []struct {
		name string
		p    Polygon
	}{
		{"pentagon9", Polygon{Rings: [][][2]float64{pentagon}}},
		{"circle1000", Polygon{Rings: [][][2]float64{circle(grandPlace, 1500, 1000)}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				if bc.p.Contains(gareCentrale) {
					n++
				}
			}
			_ = n
		})
	}
}

func BenchmarkPolygon_SignedDistance(b *testing.B) {
	p := Polygon{Rings: [][][2]float64{pentagon, grandPlaceHole}}
	var sink float64
	for b.Loop() {
		sink += p.SignedDistance(gareCentrale)
	}
	_ = sink
}
