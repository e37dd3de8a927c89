// Package geo is the stateless WGS84 geometry Waybill's rules need at city
// scale: great-circle distance and initial bearing between two points, point
// in polygon, and the signed distance from a point to a polygon's boundary.
//
// # Model
//
// Distances and bearings use a sphere of the IUGG mean Earth radius R₁ =
// (2a + b)/3 = 6 371 008.77 m of the ellipsoid, rounded to 6 371 008.8 m
// (H. Moritz, "Geodetic Reference System 1980", Bulletin Géodésique 54,
// 1980; WGS84 gives the same value to the millimetre). Against the
// ellipsoidal geodesic the sphere is off by at most 0.5% anywhere, and in
// Brussels (latitude 50.85°) by 0.05% north–south and 0.31% east–west:
// testdata/geodsolve.txt holds GeographicLib's WGS84 values for pairs of
// Brussels landmarks and the tests hold the sphere to them.
//
// Polygons follow GeoJSON (RFC 7946 §3.1.6): rings of [longitude, latitude]
// positions, the first ring the exterior and any further rings holes. An
// edge is the straight line between two positions in longitude/latitude
// (RFC 7946 §3.1.1), not a great-circle arc; at city scale the difference is
// below a millimetre.
//
// [Polygon.SignedDistance] works in a local equirectangular projection
// centred on the point: x = R·Δλ·cos φ₀, y = R·Δφ, in metres. The projection
// is exact at its centre; away from it the east–west scale drifts by about
// tan φ₀ · Δφ (meridians converge), so the error grows with the distance and
// is largest diagonally: against [Distance], 0.001% at 5 km and 0.005% at
// 41 km in Brussels, 0.02% at 5 km and 0.24% at 50 km north-east of Oslo
// (60° N), as the tests measure. It is well under 1% for anything at city
// scale: geofences a vehicle drives through, not countries.
//
// # Limits
//
//   - Polygons must not cross the antimeridian (longitude ±180°): longitudes
//     are compared as plain numbers, so a ring from 179.9° to −179.9° would
//     be read as a band around the world. [Polygon.Validate] refuses rings
//     whose longitudes span 180° or more. Split such an area in two at the
//     antimeridian, as RFC 7946 §3.1.9 recommends.
//   - Near the poles (|latitude| above about 85°) the projection degenerates;
//     no Waybill device works there.
//   - Rings are not checked for self-intersection; the even-odd rule gives a
//     self-intersecting ring a definite, if surprising, inside.
package geo

import "math"

// EarthRadius is the IUGG mean radius of the Earth, R₁ = (2a + b)/3 of the
// WGS84 ellipsoid rounded to 0.1 m, in metres (Moritz, Geodetic Reference
// System 1980).
const EarthRadius = 6371008.8

const rad = math.Pi / 180

// Point is a WGS84 position in degrees.
type Point struct {
	Lat, Lon float64
}

// Valid reports whether p is a finite position with latitude in [−90, 90]
// and longitude in [−180, 180].
func (p Point) Valid() bool {
	return p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180
}

// Distance returns the great-circle distance in metres between a and b on
// the sphere of radius [EarthRadius], by the haversine formula (R. W.
// Sinnott, "Virtues of the Haversine", Sky and Telescope 68(2), 1984), which
// stays accurate for the short distances a vehicle covers between fixes. It
// loses precision only near antipodal points (about 0.2 m at 20 000 km).
func Distance(a, b Point) float64 {
	φ1, φ2 := a.Lat*rad, b.Lat*rad
	sΔφ := math.Sin((φ2 - φ1) / 2)
	sΔλ := math.Sin((b.Lon - a.Lon) * rad / 2)
	h := sΔφ*sΔφ + math.Cos(φ1)*math.Cos(φ2)*sΔλ*sΔλ
	h = math.Min(math.Max(h, 0), 1) // rounding may step just outside [0, 1]
	return 2 * EarthRadius * math.Asin(math.Sqrt(h))
}

// Bearing returns the initial bearing (forward azimuth) of the great circle
// from a to b, in degrees clockwise from true north, in [0, 360). It is 0
// when a and b are the same point.
func Bearing(a, b Point) float64 {
	φ1, φ2 := a.Lat*rad, b.Lat*rad
	Δλ := (b.Lon - a.Lon) * rad
	y := math.Sin(Δλ) * math.Cos(φ2)
	x := math.Cos(φ1)*math.Sin(φ2) - math.Sin(φ1)*math.Cos(φ2)*math.Cos(Δλ)
	return normDeg(math.Atan2(y, x) / rad)
}

// Destination returns the point reached from p by travelling distance
// metres along the great circle that leaves p at bearing degrees from true
// north. The longitude is normalised to [−180, 180).
func Destination(p Point, distance, bearing float64) Point {
	δ := distance / EarthRadius
	θ := bearing * rad
	φ1, λ1 := p.Lat*rad, p.Lon*rad
	sφ2 := math.Sin(φ1)*math.Cos(δ) + math.Cos(φ1)*math.Sin(δ)*math.Cos(θ)
	sφ2 = math.Min(math.Max(sφ2, -1), 1)
	φ2 := math.Asin(sφ2)
	λ2 := λ1 + math.Atan2(math.Sin(θ)*math.Sin(δ)*math.Cos(φ1), math.Cos(δ)-math.Sin(φ1)*sφ2)
	lon := math.Mod(λ2/rad+540, 360) - 180
	return Point{Lat: φ2 / rad, Lon: lon}
}

// AngleBetween returns the smaller angle between two bearings in degrees, in
// [0, 180].
func AngleBetween(a, b float64) float64 {
	d := math.Abs(normDeg(a) - normDeg(b))
	if d > 180 {
		d = 360 - d
	}
	return d
}

// normDeg maps degrees to [0, 360).
func normDeg(d float64) float64 {
	d = math.Mod(d, 360)
	if d < 0 {
		d += 360
	}
	if d >= 360 { // −tiny + 360 rounds to 360
		d = 0
	}
	return d
}
