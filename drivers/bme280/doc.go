// Package bme280 drives a Bosch Sensortec BME280 humidity, pressure and
// temperature sensor on I2C, and its predecessor the BMP280 (pressure and
// temperature only), written from datasheet BST-BME280-DS002 (revision
// 1.6); section numbers below and in the code are that document's.
//
// [New] checks the chip id (register 0xD0, section 5.4.1: 0x60 is a
// BME280; 0x58, and 0x56 or 0x57 on pre-production parts, a BMP280, which
// is then driven without humidity), soft-resets the chip (0xB6 to 0xE0,
// section 5.4.2), waits for status.im_update to clear (the trimming
// parameters being copied from NVM, section 5.4.4) and reads the trimming
// parameters: 0x88..0xA1 and, on a BME280, 0xE1..0xE7, where dig_H4 and
// dig_H5 are 12-bit values sharing register 0xE5 (section 4.2.2, Table 16).
//
// A [Dev] implements sensor.Sensor. Each Sense runs one forced-mode
// measurement (section 3.3.3) and returns one sensor.Env in periph's units;
// the chip sleeps in between (0.1 µA typical), and [Dev.Halt] puts it back to
// sleep. Raw values are compensated with the datasheet's integer formulas
// (section 4.2.3): temperature in int32 with 0.01 °C resolution, also
// yielding t_fine; pressure in int64 as Q24.8 Pa (1/256 Pa); humidity in
// int32 as Q22.10 %RH (1/1024 %RH).
//
// # Measurement timing
//
// A forced measurement is started with one I2C write of register/data pairs
// (section 6.2.1): ctrl_hum (0xF2; it takes effect only with the next write
// to ctrl_meas, section 5.4.3), config (0xF5, IIR filter; written while the
// chip sleeps, as section 5.4.6 requires) and ctrl_meas (0xF4, oversampling
// and mode 01). The driver then sleeps on its sensor.Clock for the maximum
// measurement time of appendix 9.1,
//
//	t_measure,max = 1.25 + 2.3·osrs_t + (2.3·osrs_p + 0.575) + (2.3·osrs_h + 0.575) ms
//
// (the humidity term only on a BME280), which is 9.3 ms with the default ×1
// oversampling and 112.8 ms at ×16 (see [MeasurementTime]). It then reads
// status (0xF3) until measuring (bit 3) is clear, at most 10 times 1 ms
// apart, and fails with sensor.ErrTimeout after that. Finally it reads
// 0xF7..0xFE (0xF7..0xFC on a BMP280) in one burst, so that all values come
// from the same measurement (section 4.1). After reset, the driver waits
// the 2 ms start-up time (section 1) before polling im_update the same way.
//
// # Values that are not measurements
//
// The data registers hold 0x80000 (temperature, pressure) and 0x8000
// (humidity) after reset and when a measurement is skipped (sections 5.3,
// 5.4.3, 5.4.5). The driver never skips a measurement, so these values mean
// the measurement did not happen; Sense reports them as
// sensor.ErrNotReading, as it does a pressure formula that would divide by
// zero (dig_P1 = 0, where the datasheet's code returns 0). A genuine
// measurement can fall on 0x80000 too: one step of the ADC, about 0.005 °C
// of temperature or 2.6 Pa of pressure at ×1 oversampling. Such samples are
// dropped as well; the sampler treats sensor.ErrNotReading as transient.
//
// # Errors
//
// Every failure is a *sensor.Error with Device "bme280" or "bmp280", the
// Bus label from [Options] and the step: "configure", "read chip id",
// "reset", "read calibration", "start measurement", "wait for measurement",
// "read data" or "sleep". Bus failures wrap sensor.ErrBus; a failure of the
// very first transaction (the chip id read, which a missing device does not
// acknowledge) wraps sensor.ErrNoDevice as well.
//
// Package bme280test simulates the chip on an i2c.Bus for tests and
// simulated fleets.
package bme280
