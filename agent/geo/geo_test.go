package geo

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Brussels landmarks used across the tests.
var (
	grandPlace   = Point{Lat: 50.8467, Lon: 4.3525}
	atomium      = Point{Lat: 50.8949, Lon: 4.3415}
	mannekenPis  = Point{Lat: 50.8450, Lon: 4.3500}
	palaisRoyal  = Point{Lat: 50.8418, Lon: 4.3622}
	gareDuMidi   = Point{Lat: 50.8357, Lon: 4.3365}
	gareDuNord   = Point{Lat: 50.8605, Lon: 4.3620}
	gareCentrale = Point{Lat: 50.8454, Lon: 4.3570}
	tourEtTaxis  = Point{Lat: 50.8660, Lon: 4.3480}
	antwerpen    = Point{Lat: 51.2172, Lon: 4.4211}
)

type geodesic struct {
	a, b   Point
	azi1   float64 // degrees
	s12    float64 // metres
	name   string
	lineNo int
}

// readGeodSolve reads testdata/geodsolve.txt (GeographicLib's WGS84
// geodesics; see the file's header).
func readGeodSolve(t testing.TB) []geodesic {
	t.Helper()
	f, err := os.Open("testdata/geodsolve.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []geodesic
	s := bufio.NewScanner(f)
	for n := 1; s.Scan(); n++ {
		line := s.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		data, name, _ := strings.Cut(line, "#")
		fs := strings.Fields(data)
		if len(fs) != 7 {
			t.Fatalf("geodsolve.txt:%d: %d fields, want 7", n, len(fs))
		}
		var v [7]float64
		for i, f := range fs {
			if v[i], err = strconv.ParseFloat(f, 64); err != nil {
				t.Fatalf("geodsolve.txt:%d: %v", n, err)
			}
		}
		out = append(out, geodesic{
			a: Point{v[0], v[1]}, b: Point{v[2], v[3]},
			azi1: v[4], s12: v[6], name: strings.TrimSpace(name), lineNo: n,
		})
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 5 {
		t.Fatalf("geodsolve.txt: %d geodesics", len(out))
	}
	return out
}

// chordDistance is an independent oracle for Distance: the central angle
// from the chord between the two points' unit vectors, 2·asin(c/2).
func chordDistance(a, b Point) float64 {
	vec := func(p Point) (x, y, z float64) {
		φ, λ := p.Lat*math.Pi/180, p.Lon*math.Pi/180
		return math.Cos(φ) * math.Cos(λ), math.Cos(φ) * math.Sin(λ), math.Sin(φ)
	}
	ax, ay, az := vec(a)
	bx, by, bz := vec(b)
	c := math.Sqrt((ax-bx)*(ax-bx) + (ay-by)*(ay-by) + (az-bz)*(az-bz))
	return 2 * EarthRadius * math.Asin(c/2)
}

func TestDistance_GeodSolve(t *testing.T) {
	for _, g := range readGeodSolve(t) {
		d := Distance(g.a, g.b)
		// The sphere against the ellipsoid: at most 0.5% (0.31% east–west
		// in Brussels), see the package doc.
		if rel := math.Abs(d-g.s12) / g.s12; rel > 0.005 {
			t.Errorf("%s: Distance = %.3f m, GeographicLib %.3f m (%.3f%% off)", g.name, d, g.s12, 100*rel)
		}
		if o := chordDistance(g.a, g.b); math.Abs(d-o) > 1e-6*o+1e-6 {
			t.Errorf("%s: Distance = %.6f m, chord oracle %.6f m", g.name, d, o)
		}
		if b := Bearing(g.a, g.b); AngleBetween(b, g.azi1) > 0.2 {
			t.Errorf("%s: Bearing = %.4f°, GeographicLib %.4f°", g.name, b, normDeg(g.azi1))
		}
	}
}

func TestDistance_Landmarks(t *testing.T) {
	// Spherical distances, checked against chordDistance above and against
	// GeographicLib's ellipsoidal values in testdata/geodsolve.txt
	// (5417.668 m and 258.394 m: the sphere is 0.05% and 0.17% short).
	for _, tc := range []struct {
		name string
		a, b Point
		want float64
		tol  float64
	}{
		{"Grand-Place to Atomium", grandPlace, atomium, 5414.902, 0.001},
		{"Grand-Place to Manneken Pis", grandPlace, mannekenPis, 257.957, 0.001},
		{"same point", palaisRoyal, palaisRoyal, 0, 0},
		// The haversine's one weak spot (see Distance).
		{"antipodes", Point{50.8467, 4.3525}, Point{-50.8467, -175.6475}, math.Pi * EarthRadius, 0.5},
	} {
		if got := Distance(tc.a, tc.b); math.Abs(got-tc.want) > tc.tol {
			t.Errorf("Distance(%s) = %.4f, want %.3f", tc.name, got, tc.want)
		}
		if got, back := Distance(tc.a, tc.b), Distance(tc.b, tc.a); got != back {
			t.Errorf("Distance(%s) = %v one way, %v the other", tc.name, got, back)
		}
	}
}

func TestBearing_Cardinal(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    Point
		want float64
	}{
		{"north", Point{50.8567, 4.3525}, 0},
		{"south", Point{50.8367, 4.3525}, 180},
		{"east", Point{50.8467, 4.3625}, 89.996}, // a great circle leaves eastward slightly north of east
		{"west", Point{50.8467, 4.3425}, 270.004},
		{"same point", grandPlace, 0},
	} {
		if got := Bearing(grandPlace, tc.b); AngleBetween(got, tc.want) > 0.001 {
			t.Errorf("Bearing(%s) = %.4f, want %.3f", tc.name, got, tc.want)
		}
	}
}

func TestDestination_RoundTrip(t *testing.T) {
	for _, d := range []float64{0.5, 5, 10, 250, 5000} {
		for b := 0.0; b < 360; b += 22.5 {
			q := Destination(grandPlace, d, b)
			if got := Distance(grandPlace, q); math.Abs(got-d) > 1e-6*d+1e-9 {
				t.Errorf("Distance(Destination(%v m, %v°)) = %v", d, b, got)
			}
			if got := Bearing(grandPlace, q); AngleBetween(got, b) > 1e-6 {
				t.Errorf("Bearing(Destination(%v m, %v°)) = %v", d, b, got)
			}
		}
	}
	// Across the antimeridian the longitude wraps.
	if q := Destination(Point{-16.8, 179.999}, 1000, 90); q.Lon > -179 || q.Lon < -180 {
		t.Errorf("Destination across 180° = %v, want a longitude just above −180", q)
	}
}

func TestAngleBetween_Table(t *testing.T) {
	for _, tc := range []struct{ a, b, want float64 }{
		{0, 0, 0}, {10, 350, 20}, {350, 10, 20}, {90, 270, 180}, {-90, 270, 0}, {720.5, 0, 0.5}, {0, 181, 179},
	} {
		if got := AngleBetween(tc.a, tc.b); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("AngleBetween(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestPoint_Valid(t *testing.T) {
	for _, tc := range []struct {
		p    Point
		want bool
	}{
		{grandPlace, true},
		{Point{90, 180}, true},
		{Point{-90, -180}, true},
		{Point{90.0001, 0}, false},
		{Point{0, -180.0001}, false},
		{Point{math.NaN(), 4}, false},
		{Point{50, math.Inf(1)}, false},
	} {
		if got := tc.p.Valid(); got != tc.want {
			t.Errorf("%v.Valid() = %v, want %v", tc.p, got, tc.want)
		}
	}
}

func BenchmarkDistance(b *testing.B) {
	var sink float64
	for b.Loop() {
		sink += Distance(grandPlace, atomium)
	}
	_ = sink
}

func BenchmarkBearing(b *testing.B) {
	var sink float64
	for b.Loop() {
		sink += Bearing(grandPlace, atomium)
	}
	_ = sink
}
