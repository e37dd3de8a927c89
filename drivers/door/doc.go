// Package door reads a cargo-door contact (a reed switch) on a GPIO input and
// reports debounced door changes as [sensor.Door] values.
//
// # The contact
//
// A reed switch is closed while the door magnet is beside it, that is while
// the door is shut. Wired between the GPIO line and ground with the line's
// internal pull-up (the default, OpenLevel gpio.High), the line reads low
// while the door is shut and high when it opens. Wired to 3.3 V instead,
// OpenLevel is gpio.Low and [New] selects the pull-down. A contact bounces for
// a few milliseconds when it opens or closes; a cable running the length of a
// van picks up more. The driver accepts a new state only once the level has
// held for the Debounce time since the last edge.
//
// # How Sense sees the line
//
// [New] configures the pin for both edges with the pull that matches
// OpenLevel, and reads the level once. Each [Dev.Sense] then drains the edges
// the kernel queued since the previous call (a bounded loop, never a blocking
// wait), reads the level, and runs the debounce on the [sensor.Clock]: the
// time of an edge is the clock at the Sense that saw it, so the sampler's
// interval is the resolution of At. The first Sense also reports the state
// that New read (At is the time of New), so that rules know whether the door
// is open from the start; every later value is a change.
//
// Each drain call waits at most 1 ms for an edge. periph's gpio.PinIn
// contract gives WaitForEdge(0) as "do not wait", but periph host v3.8.5's
// character-device pins (gpioioctl) treat 0 as "wait forever", and
// gpiotest.Pin lets a zero timeout race a queued edge. A 1 ms timeout returns
// a queued edge at once on every implementation and costs at most 1 ms per
// Sense when none is queued.
//
// # The character device, not sysfs
//
// On Raspberry Pi OS Bookworm (kernel 6.6 and later) edge detection through
// the sysfs GPIO interface (/sys/class/gpio) is broken: a wait returns at
// once as if an edge had occurred, with no change of level. The kernel also
// renumbered sysfs GPIOs (GPIO17 is 529 on a Raspberry Pi 4 under 6.6), so a
// number that worked on one board or kernel selects another pin on the next.
// The daemon therefore opens door pins through the GPIO character device
// (periph.io/x/host/v3/gpioioctl) and resolves them by line name,
// gpioreg.ByName("GPIO17"), never by chip and offset number; the
// configuration's pin key holds that line name.
//
// If a pin is opened through sysfs anyway, or edge detection misbehaves for
// another reason, Sense sees edges that change nothing. More than 64 of them
// in one Sense (a bouncing contact queues at most a few dozen) is reported as
// an [*sensor.Error] at step "wait for edge" wrapping [sensor.ErrBus], never
// as a door change.
//
// # Tests and simulation
//
// The simulated chip of a door is a level on a pin, and periph's
// periph.io/x/conn/v3/gpio/gpiotest.Pin already simulates that completely:
// set its level L and push edges into its EdgesChan. So this package has no
// doortest companion; its tests, the recordings and the simulated fleets use
// gpiotest.Pin directly.
package door
