//go:build !race

package chaos

// raceEnabled is true when the tests run under the race detector.
const raceEnabled = false
