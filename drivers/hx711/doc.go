// Package hx711 reads a load cell through an Avia Semiconductor HX711 24-bit
// ADC on two GPIO lines, bit-banged, and reports [sensor.Weight] values.
//
// References are to the HX711 datasheet, "24-Bit Analog-to-Digital
// Converter (ADC) for Weigh Scales" (Avia Semiconductor): its sections
// "Serial Interface", "Output Data Rate and Format", "Reset and Power-Down",
// Table 2 (output data coding), Table 3 (input channel and gain selection),
// Fig. 2 (data output, input and gain selection timing), Fig. 3 (power-down
// control) and the key electrical characteristics (output settling time).
//
// # The serial interface
//
// The chip has no registers: two pins carry everything. PD_SCK is an input
// of the chip that the host drives; DOUT is its output. While a conversion
// is not ready DOUT is high and PD_SCK must be low; DOUT going low means one
// is ready. Each positive PD_SCK pulse then shifts out one bit, most
// significant first, valid at most 0.1 µs after the rising edge (T2) and
// held until the next one; 24 pulses give the conversion as a 24-bit two's
// complement number ("Output Data Rate and Format", Table 2). The 25th
// pulse pulls DOUT back high. The number of pulses in all, 25 to 27,
// selects the input and gain of the next conversion (Table 3):
//
//	25 pulses: channel A, gain 128
//	26 pulses: channel B, gain 32
//	27 pulses: channel A, gain 64
//
// (Fig. 2 labels its 27-pulse row "CH.B, Gain:64"; Table 3 and "Analog
// Inputs", where channel B has a fixed gain of 32, say channel A.)
//
// A conversion read with a new pulse count was made with the previous
// setting, so the driver discards the first conversion after every reset.
// After power-up, reset, or a change of input or gain the output also needs
// time to settle: 400 ms at 10 samples/s (RATE pin low), 50 ms at 80
// samples/s. The driver cannot see the RATE pin, so it discards every
// conversion that arrives within 400 ms of a reset (at most 40 of them).
//
// PD_SCK held high for more than 60 µs powers the chip down (Fig. 3), and
// bringing it low again resets it to channel A, gain 128. The driver uses
// that: [New] and the first [Dev.Sense] after [Dev.Halt] hold PD_SCK high for
// 100 µs and release it, which also ends any transfer a previous process left
// half done. The same rule means a pulse must never last 60 µs (T3 allows
// 50 µs at most): the 24-bit loop makes no Clock call and does not sleep; it
// samples DOUT after each falling edge, so PD_SCK is high for one pin write
// only. A pin write through the GPIO character device is a system call of a
// few microseconds, longer than the 0.2 µs minimum high and low times (T3,
// T4); a memory-mapped pin driver would need checking against them. The
// kernel can still preempt the daemon mid-pulse for longer than 60 µs; the
// chip then resets, the read comes back wrong or fails its checks, and the
// outlier rejection below or the next reset deals with it.
//
// # Reading, failures and outliers
//
// Waiting for DOUT low is a poll every 1 ms on the [sensor.Clock], bounded by
// 500 ms (the chip completes 10 or 80 conversions a second). When the bound
// passes the driver tells two cases apart by switching DOUT's internal pull
// from up to down for 1 ms: a line that follows the pull is driven by nothing
// (HX711 unplugged or unpowered: [sensor.ErrNoDevice]); a line that stays
// high is driven by a chip that finishes no conversion ([sensor.ErrTimeout]).
// DOUT still low after the 25th pulse means the line is stuck low
// ([sensor.ErrBus]). The two extreme codes 7FFFFFh and 800000h are what the
// chip outputs when the input is beyond full scale ("Output Data Rate and
// Format"); they are [sensor.ErrNotReading]. After any failure other than a
// non-reading the next Sense starts with a reset.
//
// Each Sense takes Options.Samples conversions (about half a second for the
// default 5 at 10 samples/s), drops those farther from the median than three
// times the median absolute deviation (never closer than 512 counts, about 13
// times the datasheet's input noise at gain 128, and never farther than 2^16
// counts, 0.8 % of full scale) and averages the rest. When more than half are
// dropped the samples are no single measurement and Sense returns
// [sensor.ErrNotReading]. The weight is (raw − Tare) / Scale grams.
//
// # Simulation
//
// Package hx711test simulates the chip on a pair of pins for tests,
// recordings and simulated fleets.
package hx711
