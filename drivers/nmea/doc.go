// Package nmea decodes NMEA 0183 sentences from GNSS receivers and assembles
// them into per-epoch position fixes.
//
// # What receivers send
//
// A receiver emits a burst of ASCII sentences once per navigation epoch
// (typically 1 Hz). Each sentence has the form
//
//	$TTSSS,f1,f2,...,fn*HH<CR><LF>
//
// where TT is the talker (GP GPS, GL GLONASS, GA Galileo, GB/BD BeiDou,
// GQ QZSS, GN combined, P proprietary), SSS the sentence type, and HH the
// XOR of every byte between '$' and '*' as two hex digits. NMEA 0183 caps a
// sentence at 82 bytes including the terminator. Real streams deviate:
//
//   - line endings are "\r\n", "\r\r\n" or a bare "\n";
//   - a sentence may be cut short and the next '$' follows mid-line;
//   - binary protocols (u-blox UBX, SiRF, ...) and boot banners are
//     interleaved on the same port;
//   - multi-constellation receivers send one GGA/RMC/GSA per talker;
//   - NMEA 4.1 appends a system ID to GSA/GSV and a navigational-status
//     field to RMC and GNS (usually 'V', meaning "no navigational status
//     reported", not "invalid").
//
// # How the decoder copes
//
// [Scanner] starts a sentence at every '$' (noise before it is skipped and
// counted; a second '$' restarts the sentence), ends it at '\r' or '\n'
// (empty lines are ignored, so "\r\r\n" is harmless), abandons lines longer
// than [MaxLineLength] (twice the NMEA maximum) or containing non-printable
// bytes, and yields only sentences whose "*HH" checksum (hex digits in either
// case) matches. Sentences without a checksum are rejected. Every rejection
// is counted in the Scanner's exported counters.
//
// [Parse] splits a sentence into talker and type and decodes GGA, RMC, GNS,
// GLL, VTG, GSA, GSV and ZDA into typed structs whatever the talker; other
// types come back as [Unknown]. Numbers are decoded strictly (plain decimal
// only, no exponents, NaN or hex). Empty fields are reported as absent (nil
// pointers, or Valid=false for [Time] and [Date]), never as zero. Times of
// day keep their fractional seconds to the nanosecond; latitude/longitude
// (ddmm.mmmm / dddmm.mmmm plus hemisphere) become signed float64 degrees.
// Errors are [*FieldError]s that name the sentence type, field index and
// field name, e.g.
//
//	nmea: RMC field 3 (latitude): "51x2.1" is not a number
//
// [Assembler] groups the sentences that share one UTC time of day into an
// epoch and emits a [Fix] when the time changes (or on [Assembler.Flush]).
// The date comes from RMC (two-digit year: 20yy for yy < 80, else 19yy) or
// ZDA (four-digit year, preferred) and is carried forward to later epochs,
// rolling over at midnight; [Fix.DateSource] records where it came from.
// A fix is Valid when it has a position that is not exactly 0,0, at least
// one validity indication is present, and every one present says valid:
// RMC status 'A', GLL status 'A', RMC/GLL mode indicator not 'N', GNS mode
// not all 'N', GGA quality > 0.
//
// # Reading a receiver
//
// [Receiver] is the driver: a [sensor.Sensor] over a serial
// [sensor.Stream] (drivers/uart on a device, a replay in tests). Each Sense
// reads what arrived without blocking, feeds it to the same Scanner, Parse
// and Assembler, keeping a sentence cut between two reads, and returns one
// [sensor.Fix] per completed epoch. Garbage without a valid sentence (a
// wrong baud rate) and silence (wiring) are reported as errors; see
// [Receiver] for the limits.
//
// # Decoding recordings
//
// [Decode] turns a recording (a receiver capture, or one of gpsd's .log
// files) into JSON Lines, one fix per line, for testers and for comparison
// with gpsd's gpsdecode. [Parse] splits a sentence's fields on the stack and
// keeps the numbers it decodes in at most two small slabs, one of floats
// and one of integers, that the sentence's pointer fields share: with its
// struct, three allocations whatever the number of fields (GSA and GSV add
// their lists). See BenchmarkParse and BenchmarkDecode_VsGpsdecode.
//
// # Dates and week rollover
//
// Receivers derive the calendar date from the GPS week number, which some
// firmware resolves modulo 1024 weeks; after a rollover such receivers
// report a date 19.6 years in the past. The decoder reports dates exactly as
// sent. Whether to trust them is for the agent to decide against its own
// clock (agent/clock).
package nmea
