// Package daemon wires the agent: the configured sensors are opened on their
// buses, read by the sampler, turned into events by the rules, stamped by the
// agent clock and appended to the signed log, in that order; checkpoints are
// signed as the configuration asks. Only the waybill command imports it.
//
// The same wiring runs live on a device (HostBuses, the system clock, one
// goroutine per sensor) and in a replay (ReplayBuses, a simulated clock, one
// goroutine in schedule order), so a recorded run replays through the very
// code that produced it.
package daemon
