// Package rules turns sensor readings into unsigned events: position
// reports, geofence crossings with hysteresis, temperature excursions, cargo
// door changes, shocks and deliveries.
//
// An [Engine] takes one [sensor.Reading] at a time ([Engine.Apply]) and
// returns the events it causes, each with only its Kind and Payload set (the
// canonical JSON of firmware-docs/PROTOCOL.md §3, made by jcs.Marshal); the
// pipeline stamps Time, Source and Seq and signs them. Time inside the engine
// is the reading's Time (the sampler's clock), never the wall clock, so a
// replay gives the same events as the drive, byte for byte. The engine is
// deterministic: the same Options and the same readings in the same order
// give the same events (zones and rules are visited in Options order; no map
// is iterated). It is not safe for concurrent use. It never panics, and an
// event whose payload would not pass event.Event.Validate (a sensor name
// longer than the protocol's 1024 bytes, a reading no real chip can give) is
// dropped rather than returned.
//
// # Position (kind position)
//
// A position event is sent on the first valid fix, then on a valid fix when
// Position.Interval has passed since the last one was sent, or the device is
// more than Position.MinDistanceM from the last reported position, or, while
// moving (speed above Door.MovingMPS), its course differs by more than
// Position.HeadingChangeDeg from the course of the last report (when that
// report was itself made while moving). A zero field disables its trigger;
// the zero Position disables position events. Numbers are rounded: lat and
// lon to 7 decimals (1.1 cm), speed_mps to 0.01 m/s, course_deg to 0.1°
// (360 becomes 0), alt_m to 0.1 m, hdop to 0.01; fields the receiver did not
// report, or reported outside the protocol's ranges, are left out.
//
// A fix with Valid false never produces an event and never changes any
// state: a GNSS dropout (a tunnel, an underground car park) holds every zone
// state, pending dwell timers included, and the last valid fix stays the one
// door, shock and delivery events refer to, subject to its age (below).
//
// # Geofences (kinds zone_entered, zone_left)
//
// Each valid fix is placed against every zone by its signed distance to the
// zone's boundary (package geo): inside when at least Geofence.HysteresisM
// inside, outside when at least HysteresisM outside, undetermined in the
// band between. A zone's state changes once the fixes have said the same
// thing, without interruption, for Geofence.MinDwell of reading time: an
// undetermined fix or a contrary one restarts the wait, so a device jittering
// within ±HysteresisM of a border never flaps. Every zone starts "unknown";
// the first settled "inside" emits zone_entered, the first settled "outside"
// emits nothing, and afterwards each settled change emits zone_entered or
// zone_left. The payload is the zone's name and the fix that settled it.
// Within one fix, the position event comes first, then zone events in the
// order of Options.Zones.
//
// # Temperature (kind temperature_excursion)
//
// A [TemperatureRule] watches the sensor.Temperature readings of one sensor
// (one probe, or every probe). An excursion starts when readings of a probe
// have been outside [MinC, MaxC] continuously for After, measured from the
// first reading outside to the current one (state start, with the reading's
// celsius and duration_s so far), and ends at the first reading back inside
// (state end, with the total duration since the first reading outside). A
// probe that stops reporting (a fault: the sampler never delivers a
// non-reading) starts or ends nothing. If a probe not yet in excursion
// reports nothing for longer than max(3×After, [MinTemperatureGap]), its
// "outside since" time is forgotten: the probe's path in between is unknown,
// so the count restarts at the next reading. (The one-minute floor lets an
// After shorter than the sampling interval work.) An excursion in progress
// is held across such a gap and ends only on a reading back inside. celsius,
// min_c and max_c are rounded to 0.0001 °C (a DS18B20's 1/16 °C steps stay
// exact), duration_s to the millisecond. The probe is named by the rule's
// Name, else by Options.ProbeNames, else by its ROM code.
//
// # Doors (kinds door_opened, door_closed)
//
// Every sensor.Door reading that changes the door's state gives
// door_opened or door_closed with door set to the sensor's name. The first
// reading of a door that says closed only records the state (a closed door
// at start-up is not news); a first reading that says open is reported. The
// payload carries moving (the speed of the latest valid fix above
// Door.MovingMPS, if that fix is at most [MovingFreshness] old and reported
// a speed), outside_zone (true unless the device is settled inside a zone of
// type loading_bay, delivery or depot; left out when no zones are configured
// or no valid fix has been seen), lat and lon of the latest valid fix if it
// is at most [PositionFreshness] old, and on closing open_ms, the time
// between the two door changes (sensor.Door.At, or the reading time when At
// is zero).
//
// # Shocks (kind shock)
//
// sensor.Motion readings from Shock.Sensor give at most one shock event per
// episode: readings in a row, each at most [ShockEpisodeGap] after the
// previous one, that show the same type of shock are one event (the first
// reading's). With p the vector of the three signed per-axis peaks in g (gravity
// included; a reading of zero samples is ignored):
//
//   - impact, when |p| differs from 1 g by more than Shock.ImpactG above; drop
//     (free fall: every sample of the window light) when below, which is
//     possible only with an ImpactG under 1. g is ||p| − 1|, the quantity
//     compared; axis is the axis whose peak departs most from what gravity
//     alone would put on it.
//   - harsh_braking or harsh_acceleration, when the peak on the forward axis
//     (Shock.ForwardAxis, sign included: "-x" means the vehicle moves toward
//     −x) is below −HarshBrakingG or above +HarshBrakingG; g is its magnitude
//     and axis the forward axis. The forward axis is taken as horizontal: on
//     a slope, gravity adds g·sin(grade) to it.
//
// Impact is checked first. Gravity's direction is learned from readings at
// rest: a reading whose |p| is within 0.1 g of 1 g and whose largest peak is
// at least 0.9 g says that axis, with that sign, is vertical (the forward
// axis is never taken for it). Until the first such reading, +z is taken as
// vertical (a board lying flat), or +y when the forward axis is z. g is
// rounded to 0.01; lat and lon are added when the latest valid fix is fresh.
// A zero ImpactG or HarshBrakingG disables that classification.
//
// # Deliveries (kind delivery)
//
// sensor.Tag readings from Delivery.Sensor give a delivery event: parcel is
// the UID as uppercase hex, proof "scan", zone the first zone (in Options
// order) of type loading_bay, delivery or depot the device is settled inside,
// door the state of the latest door reading of any door sensor ("open" or
// "closed", left out when no door has reported), lat and lon when fresh.
//
// sensor.Env and sensor.Weight readings, and readings of any other type,
// give no events: the environment and the load surface through the agent's
// health and status instead.
package rules
