package config

import (
	"os"
	"runtime/debug"
)

// GCPercent is the garbage collector's target that serve runs with unless
// the operator sets GOGC. A server's live heap is small (tens of MiB), so
// at Go's default of 100 a collection starts after every few MiB of
// allocation, and its assists and background marking land on requests
// sharing the same cores. 400 trades a few times that small heap for a
// quarter of the collections: on the staff search benchmark it cut p50 and
// p99 by about a fifth (docs/performance.md).
const GCPercent = 400

// SetGC applies GCPercent unless GOGC is set.
func SetGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
}
