package fleet

import (
	"math"
	"time"

	"github.com/waybill-eu/waybill/agent/geo"
)

// Stop is a delivery stop on a round.
type Stop struct {
	Name     string
	Lat, Lon float64
	Dwell    time.Duration // time parked
	DoorOpen time.Duration // door opens this long after arrival ...
	DoorShut time.Duration // ... and closes this long after arrival (0: no door)
	Parcels  []string      // tag UIDs (hex) scanned at the drop, evenly spaced while the door is open
}

// Leg is the drive from one stop to the next along street waypoints.
type Leg struct {
	Via      [][2]float64 // lat, lon waypoints after the previous stop, ending at the next
	SpeedMPS float64      // cruising speed
}

// Round is a delivery round: stops joined by legs.
type Round struct {
	Start time.Time
	Stops []Stop // Stops[0] is the departure, the last one the return
	Legs  []Leg  // Legs[i] joins Stops[i] to Stops[i+1]
}

// Brussels is a van's morning round from a depot by the canal in
// Anderlecht into the Pentagon (the inner-ring district, a low-emission
// zone in the van's configuration), four drops in loading bays, and back.
// The waypoints follow real streets: Quai de Biestebroeck, Boulevard
// Poincaré, Porte d'Anderlecht, Rue d'Anderlecht, Rue Antoine Dansaert,
// Place de la Bourse, Rue au Beurre, Place de la Monnaie, Rue Neuve,
// Boulevard de Berlaimont, Mont des Arts, Rue de la Régence, Rue Haute,
// Porte de Hal, Boulevard du Midi.
var Brussels = Round{
	Start: time.Date(2026, 11, 27, 6, 30, 0, 0, time.UTC),
	Stops: []Stop{
		{Name: "depot-anderlecht", Lat: 50.82630, Lon: 4.31890, Dwell: 60 * time.Second},
		{Name: "bay-dansaert", Lat: 50.85120, Lon: 4.34620, Dwell: 5 * time.Minute, DoorOpen: 30 * time.Second, DoorShut: 4 * time.Minute,
			Parcels: []string{"04A13C2F5B6E80", "04A13C30116F80", "04A13C31A2B780"}},
		{Name: "bay-marche-aux-herbes", Lat: 50.84760, Lon: 4.35370, Dwell: 6 * time.Minute, DoorOpen: 25 * time.Second, DoorShut: 5 * time.Minute,
			Parcels: []string{"04A13C3277C180", "04A13C33091A80", "5D3E91A2", "04A13C34C3D480"}},
		{Name: "bay-rue-neuve", Lat: 50.85300, Lon: 4.35720, Dwell: 14 * time.Minute, DoorOpen: 20 * time.Second, DoorShut: 11 * time.Minute,
			Parcels: []string{"04A13C35E1F280", "04A13C36520A80", "04A13C3788B380", "9A04C7E1", "04A13C38D4E580"}},
		{Name: "bay-sablon", Lat: 50.84050, Lon: 4.35530, Dwell: 4 * time.Minute, DoorOpen: 20 * time.Second, DoorShut: 3 * time.Minute,
			Parcels: []string{"04A13C39B7C680", "04A13C3A0FE980"}},
		{Name: "depot-anderlecht", Lat: 50.82630, Lon: 4.31890, Dwell: 60 * time.Second},
	},
	Legs: []Leg{
		{SpeedMPS: 8, Via: [][2]float64{{50.8290, 4.3215}, {50.8322, 4.3262}, {50.8350, 4.3300}, {50.8395, 4.3358},
			{50.8420, 4.3385}, {50.8448, 4.3428}, {50.8470, 4.3455}, {50.8497, 4.3467}, {50.85120, 4.34620}}},
		{SpeedMPS: 4.5, Via: [][2]float64{{50.8497, 4.3480}, {50.8484, 4.3499}, {50.8480, 4.3520}, {50.84760, 4.35370}}},
		{SpeedMPS: 4, Via: [][2]float64{{50.8490, 4.3548}, {50.8500, 4.3545}, {50.8515, 4.3560}, {50.85300, 4.35720}}},
		{SpeedMPS: 5.5, Via: [][2]float64{{50.8527, 4.3600}, {50.8505, 4.3615}, {50.8465, 4.3595}, {50.8440, 4.3572},
			{50.8418, 4.3566}, {50.84050, 4.35530}}},
		{SpeedMPS: 8, Via: [][2]float64{{50.8385, 4.3520}, {50.8350, 4.3470}, {50.8334, 4.3440}, {50.8330, 4.3390},
			{50.8310, 4.3340}, {50.8290, 4.3270}, {50.82630, 4.31890}}},
	},
}

// Phase says what the vehicle is doing at an instant.
type Phase struct {
	Stop       int // index of the stop the vehicle is at, or -1 while driving
	Leg        int // index of the leg being driven, or -1 while parked
	Lat, Lon   float64
	SpeedMPS   float64
	CourseDeg  float64
	SinceStart time.Duration // since the start of the current stop or leg
	LegLength  float64       // metres, while driving
	Travelled  float64       // metres along the leg, while driving
}

// accel is the rate at which the van speeds up and slows down, m/s².
const accel = 1.2

// At returns the phase at t. Before Start the van is at the first stop;
// after the end, at the last.
func (r *Round) At(t time.Time) Phase {
	d := t.Sub(r.Start)
	if d < 0 {
		d = 0
	}
	for i, s := range r.Stops {
		if d < s.Dwell || i == len(r.Stops)-1 {
			return Phase{Stop: i, Leg: -1, Lat: s.Lat, Lon: s.Lon, SinceStart: d}
		}
		d -= s.Dwell
		leg := r.Legs[i]
		pts := append([][2]float64{{s.Lat, s.Lon}}, leg.Via...)
		length := pathLength(pts)
		dur := legDuration(length, leg.SpeedMPS)
		if d < dur {
			x, v := trapezoid(d.Seconds(), length, leg.SpeedMPS)
			lat, lon, course := along(pts, x)
			return Phase{Stop: -1, Leg: i, Lat: lat, Lon: lon, SpeedMPS: v, CourseDeg: course, SinceStart: d, LegLength: length, Travelled: x}
		}
		d -= dur
	}
	panic("unreachable")
}

// End returns when the round ends (the last stop's dwell over).
func (r *Round) End() time.Time {
	t := r.Start
	for i, s := range r.Stops {
		t = t.Add(s.Dwell)
		if i < len(r.Legs) {
			leg := r.Legs[i]
			t = t.Add(legDuration(pathLength(append([][2]float64{{s.Lat, s.Lon}}, leg.Via...)), leg.SpeedMPS))
		}
	}
	return t
}

func pathLength(pts [][2]float64) float64 {
	var m float64
	for i := 1; i < len(pts); i++ {
		m += geo.Distance(geo.Point{Lat: pts[i-1][0], Lon: pts[i-1][1]}, geo.Point{Lat: pts[i][0], Lon: pts[i][1]})
	}
	return m
}

// legDuration is the time to drive length metres accelerating to v,
// cruising, and braking to a stop.
func legDuration(length, v float64) time.Duration {
	ramp := v * v / accel // distance spent accelerating and braking
	var s float64
	if length <= ramp {
		s = 2 * math.Sqrt(length/accel)
	} else {
		s = 2*v/accel + (length-ramp)/v
	}
	return time.Duration(math.Ceil(s)) * time.Second
}

// trapezoid returns the distance covered and the speed t seconds into a
// leg of the given length with cruising speed v.
func trapezoid(t, length, v float64) (x, speed float64) {
	ramp := v * v / accel
	if length <= ramp {
		v = math.Sqrt(length * accel / 2)
	}
	ta := v / accel
	cruise := max(0, (length-v*v/accel)/v)
	switch {
	case t < ta:
		return accel * t * t / 2, accel * t
	case t < ta+cruise:
		return v*ta/2 + v*(t-ta), v
	default:
		tb := t - ta - cruise
		x = v*ta/2 + v*cruise + v*tb - accel*tb*tb/2
		return min(x, length), max(0, v-accel*tb)
	}
}

// along returns the point x metres along the path and the course there.
func along(pts [][2]float64, x float64) (lat, lon, course float64) {
	for i := 1; i < len(pts); i++ {
		a := geo.Point{Lat: pts[i-1][0], Lon: pts[i-1][1]}
		b := geo.Point{Lat: pts[i][0], Lon: pts[i][1]}
		seg := geo.Distance(a, b)
		if x <= seg || i == len(pts)-1 {
			f := 0.0
			if seg > 0 {
				f = min(x/seg, 1)
			}
			return a.Lat + (b.Lat-a.Lat)*f, a.Lon + (b.Lon-a.Lon)*f, geo.Bearing(a, b)
		}
		x -= seg
	}
	p := pts[len(pts)-1]
	return p[0], p[1], 0
}
