package config

import (
	"runtime/debug"
	"testing"
)

func TestSetGCLeavesTheOperatorsGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	SetGC()
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Errorf("GC percent without GOGC = %d, want %d", got, GCPercent)
	}
	t.Setenv("GOGC", "100")
	SetGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent with GOGC=100 = %d, want 100 (the operator's)", got)
	}
}
