package geo

import (
	"errors"
	"fmt"
	"math"
)

// ErrPolygon is wrapped by every error [Polygon.Validate] and
// [MultiPolygon.Validate] return.
var ErrPolygon = errors.New("invalid polygon")

// BoundaryTolerance is how close to a polygon's boundary, in metres, a point
// counts as on it. [Polygon.Contains] includes its boundary; one millimetre
// absorbs the rounding of a point computed to lie on an edge and is far
// below what any GNSS receiver resolves.
const BoundaryTolerance = 0.001

// Polygon is a GeoJSON polygon (RFC 7946 §3.1.6).
type Polygon struct {
	// Rings holds the exterior ring and then the holes, each a list of
	// [longitude, latitude] positions in degrees, as in GeoJSON. A ring may
	// repeat its first position at its end (GeoJSON's closed form, RFC 7946
	// §3.1.6) or not; either way its last position joins its first. The
	// winding order does not matter.
	Rings [][][2]float64
}

// MultiPolygon is a GeoJSON multipolygon (RFC 7946 §3.1.7): an area made of
// polygons that do not overlap.
type MultiPolygon []Polygon

// Validate checks that p is a polygon the other methods handle: at least one
// ring; every position finite, longitude in [−180, 180] and latitude in
// [−90, 90]; every ring with at least three distinct positions and a
// non-zero area; no ring spanning 180° of longitude or more (see the
// antimeridian limit in the package doc). It does not look for
// self-intersections or check that holes lie inside the exterior.
func (p Polygon) Validate() error {
	if len(p.Rings) == 0 {
		return fmt.Errorf("%w: no rings", ErrPolygon)
	}
	for i, r := range p.Rings {
		if err := checkRing(r); err != nil {
			name := "exterior ring"
			if i > 0 {
				name = fmt.Sprintf("hole %d", i)
			}
			return fmt.Errorf("%w: %s: %s", ErrPolygon, name, err)
		}
	}
	return nil
}

func checkRing(r [][2]float64) error {
	if len(r) > 1 && r[0] == r[len(r)-1] {
		r = r[:len(r)-1] // GeoJSON's closing position
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	distinct := 0
	for i, v := range r {
		if !(Point{Lat: v[1], Lon: v[0]}).Valid() {
			return fmt.Errorf("position %d [%v, %v] is not a longitude, latitude pair", i, v[0], v[1])
		}
		lo, hi = math.Min(lo, v[0]), math.Max(hi, v[0])
		if i == 0 || v != r[i-1] {
			distinct++
		}
	}
	if distinct < 3 {
		return fmt.Errorf("%d distinct positions, want at least 3", distinct)
	}
	if hi-lo >= 180 {
		return fmt.Errorf("longitudes span %v° (crossing the antimeridian is not supported; split the area at ±180°)", hi-lo)
	}
	// Twice the area by the shoelace formula, in square degrees, against
	// the square of the ring's extent: a ratio near the rounding error of
	// the sum means every position lies on one line.
	var a, dlat float64
	for i, v := range r {
		w := r[(i+1)%len(r)]
		a += (v[0]-r[0][0])*(w[1]-r[0][1]) - (w[0]-r[0][0])*(v[1]-r[0][1])
		dlat = math.Max(dlat, math.Abs(v[1]-r[0][1]))
	}
	if ext := math.Max(hi-lo, 2*dlat); math.Abs(a) <= 1e-9*ext*ext {
		return errors.New("no area (all positions on one line)")
	}
	return nil
}

// Contains reports whether pt lies in p or on its boundary (within
// [BoundaryTolerance]). A point is in p when a ray from it crosses p's rings
// an odd number of times (the even-odd rule), so a point in a hole is
// outside and a point on a hole's edge is inside.
func (p Polygon) Contains(pt Point) bool {
	in, d2 := p.scan(pt)
	return in || d2 <= BoundaryTolerance*BoundaryTolerance
}

// SignedDistance returns the distance in metres from pt to the nearest
// point of p's boundary (any ring, holes included): negative when pt is
// inside p, positive outside, about zero on the boundary. It is +Inf for a
// polygon without rings. The distance is measured in the local projection
// described in the package doc.
func (p Polygon) SignedDistance(pt Point) float64 {
	in, d2 := p.scan(pt)
	d := math.Sqrt(d2)
	if in {
		return -d
	}
	return d
}

// scan projects every edge of p around pt (x east, y north, in metres, pt at
// the origin) and returns whether a ray from the origin along +x crosses an
// odd number of edges, and the squared distance to the nearest edge.
func (p Polygon) scan(pt Point) (in bool, d2 float64) {
	kx := EarthRadius * rad * math.Cos(pt.Lat*rad)
	const ky = EarthRadius * rad
	d2 = math.Inf(1)
	for _, r := range p.Rings {
		if len(r) == 0 {
			continue
		}
		last := r[len(r)-1]
		ax, ay := (last[0]-pt.Lon)*kx, (last[1]-pt.Lat)*ky
		for _, v := range r {
			bx, by := (v[0]-pt.Lon)*kx, (v[1]-pt.Lat)*ky
			// The edge crosses the x axis (half-open in y, so a vertex on
			// the axis counts once) to the right of the origin.
			if (ay > 0) != (by > 0) && ax-ay*(bx-ax)/(by-ay) > 0 {
				in = !in
			}
			d2 = min(d2, segmentDist2(ax, ay, bx, by))
			ax, ay = bx, by
		}
	}
	return in, d2
}

// segmentDist2 returns the squared distance from the origin to the segment
// from (ax, ay) to (bx, by).
func segmentDist2(ax, ay, bx, by float64) float64 {
	dx, dy := bx-ax, by-ay
	var t float64
	if l2 := dx*dx + dy*dy; l2 > 0 {
		t = min(max(-(ax*dx+ay*dy)/l2, 0), 1)
	}
	x, y := ax+t*dx, ay+t*dy
	return x*x + y*y
}

// Validate checks that m has at least one polygon and that each is valid
// (see [Polygon.Validate]). It does not check that the polygons are
// disjoint.
func (m MultiPolygon) Validate() error {
	if len(m) == 0 {
		return fmt.Errorf("%w: no polygons", ErrPolygon)
	}
	for i, p := range m {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("polygon %d: %w", i, err)
		}
	}
	return nil
}

// Contains reports whether any polygon of m contains pt.
func (m MultiPolygon) Contains(pt Point) bool {
	for _, p := range m {
		if p.Contains(pt) {
			return true
		}
	}
	return false
}

// SignedDistance returns the smallest signed distance from pt to m's
// polygons: for polygons that do not overlap this is the signed distance to
// the boundary of their union (a point inside one polygon is nearer to that
// polygon's boundary than to any other's). It is +Inf for an empty m.
func (m MultiPolygon) SignedDistance(pt Point) float64 {
	d := math.Inf(1)
	for _, p := range m {
		d = min(d, p.SignedDistance(pt))
	}
	return d
}
