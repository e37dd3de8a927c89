package config

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/waybill-eu/waybill/agent/rules"
)

// Zone types, as the rules know them.
const (
	ZoneLowEmission = rules.ZoneLowEmission // a low-emission zone
	ZoneLoadingBay  = rules.ZoneLoadingBay  // a loading bay
	ZoneDepot       = rules.ZoneDepot       // a depot
	ZoneDelivery    = rules.ZoneDelivery    // a delivery address
)

// Zone is a named area on the WGS84 ellipsoid.
type Zone struct {
	Name string // unique among zones; [a-z0-9][a-z0-9_-]*
	Type string // one of the Zone constants
	// Polygons are the zone's parts: polygon → rings → positions
	// [longitude, latitude] in degrees (RFC 7946 §3.1.1 order). The first
	// ring of a polygon is its outer boundary, the others are holes. Every
	// ring is closed (its last position equals its first) and has at least
	// three distinct positions.
	Polygons [][][][2]float64
}

var zoneKeys = []string{"name", "type", "geojson", "polygon"}

func (p *parser) zones(items []*yaml.Node, path string) []Zone {
	names := map[string]*yaml.Node{}
	out := make([]Zone, 0, len(items))
	for i, n := range items {
		zpath := index(path, i)
		var z Zone
		f := p.mapping(n, zpath, zoneKeys, nil)
		if name, ok := f.str("name", true); ok {
			z.Name = name
			v, npath := f.get("name", false)
			if !nameRE.MatchString(name) {
				p.errorf(v, npath, "%q is not a valid name (%s)", name, nameRule)
			}
			if prev, dup := names[name]; dup {
				p.errorf(v, npath, "zone name %q is already used (line %d)", name, prev.Line)
			} else {
				names[name] = v
			}
		}
		z.Type, _ = f.oneOf("type", true, "", ZoneLowEmission, ZoneLoadingBay, ZoneDepot, ZoneDelivery)
		switch {
		case f.has("geojson") && f.has("polygon"):
			p.errorf(f.keys["polygon"], join(zpath, "polygon"), "a zone has a geojson file or a polygon, not both")
		case f.has("geojson"):
			if file, ok := f.str("geojson", true); ok {
				v, gpath := f.get("geojson", false)
				z.Polygons = p.geoJSONFile(v, gpath, file)
			}
		case f.has("polygon"):
			v, ppath := f.get("polygon", true)
			if v != nil {
				z.Polygons = p.inlinePolygon(v, ppath)
			}
		case f.n != nil:
			p.errorf(f.n, zpath, "a zone needs a geojson file or a polygon")
		}
		out = append(out, z)
	}
	return out
}

// inlinePolygon reads a list of [lon, lat] pairs as one closed ring.
func (p *parser) inlinePolygon(n *yaml.Node, path string) [][][][2]float64 {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "want a list of [lon, lat] pairs, got %s", describe(n))
		return nil
	}
	ring := make([][2]float64, 0, len(n.Content)+1)
	ok := true
	for i, pn := range n.Content {
		ppath := index(path, i)
		if pn.Kind == badNode {
			ok = false
			continue
		}
		if pn.Kind != yaml.SequenceNode || len(pn.Content) != 2 {
			p.errorf(pn, ppath, "want a [lon, lat] pair, got %s", describeLen(pn))
			ok = false
			continue
		}
		var pos [2]float64
		for j, c := range pn.Content {
			if c.Kind == badNode {
				ok = false
				continue
			}
			v, vok := p.floatNode(c, index(ppath, j))
			pos[j], ok = v, ok && vok
		}
		if msg := checkLonLat(pos[0], pos[1]); msg != "" {
			p.errorf(pn, ppath, "%s", msg)
			ok = false
		}
		ring = append(ring, pos)
	}
	if !ok {
		return nil
	}
	if len(ring) > 0 && ring[0] != ring[len(ring)-1] {
		ring = append(ring, ring[0])
	}
	if msg := ringProblem(ring); msg != "" {
		p.errorf(n, path, "%s", msg)
		return nil
	}
	return [][][][2]float64{{ring}}
}

// describeLen is describe, with the length of a list.
func describeLen(n *yaml.Node) string {
	if n.Kind == yaml.SequenceNode {
		return "a list of " + strconv.Itoa(len(n.Content))
	}
	return describe(n)
}

// checkLonLat checks a position's range (RFC 7946 §3.1.1 and §4: WGS84
// longitude and latitude in decimal degrees).
func checkLonLat(lon, lat float64) string {
	switch {
	case lon < -180 || lon > 180:
		return fmt.Sprintf("longitude %s is outside -180..180 (positions are [lon, lat])", fmtFloat(lon))
	case lat < -90 || lat > 90:
		return fmt.Sprintf("latitude %s is outside -90..90 (positions are [lon, lat])", fmtFloat(lat))
	}
	return ""
}

// geoJSONFile reads the GeoJSON file a zone names (n is the geojson field)
// and returns its polygons, reporting problems inside the file at their
// line and column in it.
func (p *parser) geoJSONFile(n *yaml.Node, path, file string) [][][][2]float64 {
	// full is the file to read; name, the file as the operator knows it
	// (joined to the configuration file's name as given).
	full, name := file, file
	if !filepath.IsAbs(file) {
		full, name = filepath.Join(p.dir, file), filepath.Join(filepath.Dir(p.file), file)
	}
	data, err := p.readFile(full)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.errorf(n, path, "%s does not exist (paths are relative to the configuration file)", name)
		return nil
	case errors.Is(err, errTooLarge) || (err == nil && len(data) > MaxGeoJSONSize):
		p.errorf(n, path, "%s is larger than %d bytes", name, MaxGeoJSONSize)
		return nil
	case err != nil:
		p.errorf(n, path, "%s: %v", name, err)
		return nil
	}
	g := &geoReader{p: p, file: name, pos: newPosition(data)}
	before := len(p.errs)
	root, dups, err := parseJSON(data)
	if err != nil {
		var je *jsonError
		if errors.As(err, &je) {
			g.errorf(je.off, "", "invalid JSON: %s", je.msg)
		} else {
			g.errorf(0, "", "invalid JSON: %v", err)
		}
		return nil
	}
	for _, d := range dups {
		g.errorf(d.off, "", "%s", d.msg)
	}
	polys := g.object(root, "")
	if len(p.errs) > before {
		return nil
	}
	return polys
}

// geoReader reads one GeoJSON file (RFC 7946).
type geoReader struct {
	p      *parser
	file   string
	pos    *position
	errors int
}

// maxGeoErrors bounds the problems reported per GeoJSON file: a file
// written in the wrong format altogether would otherwise bury the rest.
const maxGeoErrors = 50

func (g *geoReader) errorf(off int, field, format string, args ...any) {
	g.errors++
	if g.errors > maxGeoErrors+1 {
		return
	}
	line, col := g.pos.at(off)
	if g.errors == maxGeoErrors+1 {
		field, format, args = "", "more than %d problems in this file: those from here on are not reported", []any{maxGeoErrors}
	}
	g.p.errs = append(g.p.errs, &FieldError{File: g.file, Line: line, Column: col, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// typeOf returns an object's "type" member (RFC 7946 §3: every GeoJSON
// object has one).
func (g *geoReader) typeOf(n *jnode, path string) (string, bool) {
	if n.kind != jObject {
		g.errorf(n.off, path, "want a GeoJSON object, got %s", n.kind)
		return "", false
	}
	t := n.member("type")
	if t == nil {
		g.errorf(n.off, path, "a GeoJSON object needs a \"type\" member")
		return "", false
	}
	if t.kind != jString {
		g.errorf(t.off, join(path, "type"), "want a string, got %s", t.kind)
		return "", false
	}
	return t.str, true
}

// object reads a Polygon, MultiPolygon, Feature or FeatureCollection.
func (g *geoReader) object(n *jnode, path string) [][][][2]float64 {
	t, ok := g.typeOf(n, path)
	if !ok {
		return nil
	}
	switch t {
	case "Polygon", "MultiPolygon":
		return g.geometry(n, path)
	case "Feature":
		return g.feature(n, path)
	case "FeatureCollection":
		fs := n.member("features")
		if fs == nil || fs.kind != jArray {
			g.errorf(n.off, join(path, "features"), "a FeatureCollection needs a \"features\" array (RFC 7946 §3.3)")
			return nil
		}
		if len(fs.elems) == 0 {
			g.errorf(fs.off, join(path, "features"), "the FeatureCollection has no features")
			return nil
		}
		var polys [][][][2]float64
		for i, f := range fs.elems {
			fpath := index(join(path, "features"), i)
			if ft, ok := g.typeOf(f, fpath); ok {
				if ft != "Feature" {
					g.errorf(f.member("type").off, join(fpath, "type"), "%q is not a Feature (RFC 7946 §3.3: a FeatureCollection holds Features)", ft)
					continue
				}
				polys = append(polys, g.feature(f, fpath)...)
			}
		}
		return polys
	}
	g.errorf(n.member("type").off, join(path, "type"), "%q cannot be a zone: want Polygon, MultiPolygon, Feature or FeatureCollection", t)
	return nil
}

// feature reads a Feature's geometry (RFC 7946 §3.2).
func (g *geoReader) feature(n *jnode, path string) [][][][2]float64 {
	geom := n.member("geometry")
	gpath := join(path, "geometry")
	if geom == nil || geom.kind == jNull {
		g.errorf(n.off, gpath, "the Feature has no geometry")
		return nil
	}
	return g.geometry(geom, gpath)
}

// geometry reads a Polygon or MultiPolygon (RFC 7946 §3.1.6, §3.1.7).
func (g *geoReader) geometry(n *jnode, path string) [][][][2]float64 {
	t, ok := g.typeOf(n, path)
	if !ok {
		return nil
	}
	if t != "Polygon" && t != "MultiPolygon" {
		g.errorf(n.member("type").off, join(path, "type"), "%q cannot be a zone: want Polygon or MultiPolygon", t)
		return nil
	}
	cpath := join(path, "coordinates")
	c := n.member("coordinates")
	if c == nil {
		g.errorf(n.off, cpath, "a %s needs \"coordinates\"", t)
		return nil
	}
	if t == "Polygon" {
		if poly := g.polygon(c, cpath); poly != nil {
			return [][][][2]float64{poly}
		}
		return nil
	}
	if !g.array(c, cpath, "an array of polygons", 1) {
		return nil
	}
	var polys [][][][2]float64
	for i, e := range c.elems {
		if poly := g.polygon(e, index(cpath, i)); poly != nil {
			polys = append(polys, poly)
		}
	}
	return polys
}

// array checks that n is an array of at least min elements.
func (g *geoReader) array(n *jnode, path, what string, min int) bool {
	if n.kind != jArray {
		g.errorf(n.off, path, "want %s, got %s", what, n.kind)
		return false
	}
	if len(n.elems) < min {
		g.errorf(n.off, path, "want %s, got an empty array", what)
		return false
	}
	return true
}

// polygon reads a Polygon's coordinates: rings of positions, the first
// the exterior (RFC 7946 §3.1.6).
func (g *geoReader) polygon(n *jnode, path string) [][][2]float64 {
	if !g.array(n, path, "an array of linear rings", 1) {
		return nil
	}
	var rings [][][2]float64
	ok := true
	for i, r := range n.elems {
		ring := g.ring(r, index(path, i))
		ok = ok && ring != nil
		rings = append(rings, ring)
	}
	if !ok {
		return nil
	}
	return rings
}

// ring reads a linear ring: a closed array of at least four positions
// (RFC 7946 §3.1.6).
func (g *geoReader) ring(n *jnode, path string) [][2]float64 {
	if !g.array(n, path, "a linear ring (an array of [lon, lat] positions)", 0) {
		return nil
	}
	ring := make([][2]float64, 0, len(n.elems))
	ok := true
	for i, e := range n.elems {
		epath := index(path, i)
		if e.kind != jArray || len(e.elems) < 2 || len(e.elems) > 3 {
			got := e.kind.String()
			if e.kind == jArray {
				got = "an array of " + strconv.Itoa(len(e.elems))
			}
			g.errorf(e.off, epath, "want a position [lon, lat] or [lon, lat, altitude], got %s", got)
			ok = false
			continue
		}
		numbers := true
		for j, c := range e.elems {
			if c.kind != jNumber {
				g.errorf(c.off, index(epath, j), "want a number, got %s", c.kind)
				numbers = false
			}
		}
		pos := [2]float64{e.elems[0].num, e.elems[1].num}
		if !numbers {
			ok = false
		} else if msg := checkLonLat(pos[0], pos[1]); msg != "" {
			g.errorf(e.off, epath, "%s", msg)
			ok = false
		}
		ring = append(ring, pos)
	}
	if !ok {
		return nil
	}
	if len(ring) < 4 {
		g.errorf(n.off, path, "a linear ring has at least 4 positions (RFC 7946 §3.1.6), this one %d", len(ring))
		return nil
	}
	first, last := n.elems[0], n.elems[len(n.elems)-1]
	if !samePosition(first, last) {
		g.errorf(last.off, index(path, len(n.elems)-1), "the ring is not closed: its last position must equal its first (RFC 7946 §3.1.6)")
		return nil
	}
	if msg := ringProblem(ring); msg != "" {
		g.errorf(n.off, path, "%s", msg)
		return nil
	}
	return ring
}

// samePosition compares two positions, altitude included.
func samePosition(a, b *jnode) bool {
	if len(a.elems) != len(b.elems) {
		return false
	}
	for i := range a.elems {
		if a.elems[i].num != b.elems[i].num {
			return false
		}
	}
	return true
}

// maxCrossingCheck bounds the rings checked for self-intersection, a test
// of every pair of edges.
const maxCrossingCheck = 1024

// ringProblem checks a closed ring's shape: at least three distinct
// positions, a non-zero area, no edge doubling back and no two edges
// crossing or touching (rings of up to maxCrossingCheck positions). It
// returns "" for a good ring. Positions are counted from 0.
func ringProblem(ring [][2]float64) string {
	// Drop repeated consecutive positions, remembering where each
	// remaining one was.
	var pts [][2]float64
	var at []int
	for i, q := range ring {
		if len(pts) == 0 || pts[len(pts)-1] != q {
			pts, at = append(pts, q), append(at, i)
		}
	}
	if len(pts) > 1 && pts[0] == pts[len(pts)-1] {
		pts, at = pts[:len(pts)-1], at[:len(at)-1]
	}
	n := len(pts)
	if n < 3 {
		return fmt.Sprintf("the ring has %d distinct positions; a zone needs at least 3", n)
	}
	line := true
	for _, q := range pts[2:] {
		line = line && orient(pts[0], pts[1], q) == 0
	}
	if line {
		return "the ring encloses no area (its positions lie on a line)"
	}
	if n <= maxCrossingCheck {
		if msg := crossing(pts, at); msg != "" {
			return msg
		}
	}
	// A ring whose parts cancel out (crossing itself, when too long to
	// check above) has no area either.
	var area float64
	for i := range n {
		a, b := pts[i], pts[(i+1)%n]
		area += a[0]*b[1] - b[0]*a[1]
	}
	if area == 0 {
		return "the ring encloses no area"
	}
	return ""
}

// crossing returns a message when two edges of a ring meet anywhere but at
// the position they share, or "". pts is the ring without its closing
// position and without repeats; at gives each one's index in the ring as
// written.
func crossing(pts [][2]float64, at []int) string {
	n := len(pts)
	edge := func(i int) string {
		return fmt.Sprintf("the edge from position %d to %d", at[i], at[(i+1)%n])
	}
	for i := range n {
		// Adjacent edges meet at b; they must not run back along each other.
		a, b, c := pts[i], pts[(i+1)%n], pts[(i+2)%n]
		if orient(a, b, c) == 0 && (b[0]-a[0])*(c[0]-b[0])+(b[1]-a[1])*(c[1]-b[1]) < 0 {
			return fmt.Sprintf("the ring doubles back on itself at position %d", at[(i+1)%n])
		}
	}
	for i := range n {
		a, b := pts[i], pts[(i+1)%n]
		for j := i + 2; j < n; j++ {
			if i == 0 && j == n-1 {
				continue // adjacent through the closing position
			}
			if segmentsMeet(a, b, pts[j], pts[(j+1)%n]) {
				return fmt.Sprintf("the ring crosses itself: %s meets %s", edge(i), edge(j))
			}
		}
	}
	return ""
}

// orient returns the sign of the cross product (b−a)×(c−a): positive when
// a, b, c turn counterclockwise, 0 when they are collinear.
func orient(a, b, c [2]float64) int {
	v := (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// onSegment reports whether c, collinear with a and b, lies between them.
func onSegment(a, b, c [2]float64) bool {
	return min(a[0], b[0]) <= c[0] && c[0] <= max(a[0], b[0]) &&
		min(a[1], b[1]) <= c[1] && c[1] <= max(a[1], b[1])
}

// segmentsMeet reports whether segments ab and cd share a point.
func segmentsMeet(a, b, c, d [2]float64) bool {
	o1, o2, o3, o4 := orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)
	if o1 != o2 && o3 != o4 && o1 != 0 && o2 != 0 && o3 != 0 && o4 != 0 {
		return true
	}
	return (o1 == 0 && onSegment(a, b, c)) || (o2 == 0 && onSegment(a, b, d)) ||
		(o3 == 0 && onSegment(c, d, a)) || (o4 == 0 && onSegment(c, d, b))
}
