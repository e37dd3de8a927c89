// Package replay records the transactions between Waybill's drivers and
// their buses, and plays them back on a simulated clock, so that a recorded
// drive replays through unchanged drivers, rules and log and gives the same
// events, byte for byte.
//
// # Format
//
// A recording is JSON Lines (firmware-docs/RECORDING.md). The first line is
// the header; every later line is one operation on one named bus, in the
// order the operations happened:
//
//	{"waybill_recording":1,"start":"2026-11-27T06:30:00Z","note":"van round"}
//	{"t":0,"bus":"I2C1","op":"tx","addr":118,"w":"d0","r":"60"}
//	{"t":12,"bus":"/dev/serial0","op":"read","data":"$GPRMC,...\r\n"}
//	{"t":12,"bus":"/dev/serial0","op":"nodata"}
//	{"t":40,"bus":"w1","op":"search","devices":["28ff4a6b711603c2"]}
//	{"t":90,"bus":"GPIO17","op":"read","level":"high"}
//
// t is milliseconds since start on the recording's clock; it documents
// when the operation happened and is not used to schedule it. Playback is
// strict, as periph's i2ctest.Playback is: each call must be the next
// recorded operation of its bus, with the same written bytes, else it fails
// with a [*MismatchError] naming the bus and the line. Because the agent
// samples its sensors in a fixed order on a simulated clock during a replay,
// the drivers make the same calls in the same order, and every call finds
// its recorded answer.
//
// [Buses] plays a recording back as a bus.Set, and [RecordBuses] records
// every operation on the buses of another Set (drivers/bus), so the agent
// opens its sensors the same way live, recording and replaying.
//
// A file that is not a recording (its first non-blank line does not start
// with '{') is taken as raw NMEA 0183, as gpsd's test logs and a serial
// capture are: it becomes one serial stream, delivered one epoch (the
// sentences sharing a UTC time) per read.
package replay
