// Package fleet simulates delivery vehicles on real routes: the GNSS
// receiver, environment sensor, cold-chain probes, cargo door, accelerometer
// and tag reader of each vehicle are simulated chips (the drivers' *test
// packages) whose physical state follows the route on a simulated clock.
// The agent's own drivers read them exactly as they read hardware, through
// a recorder, which produces the recordings `waybill run --replay` plays
// back (testbench/recordings).
package fleet
