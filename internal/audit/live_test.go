package audit_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/testutil"
)

// Verify on a live system: entries appended and chained while it walks the
// chain are not reported as tampering.
func TestVerifyWhileAppending(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		e := newEnv(t, b, 0)
		e.fill(t, 0, 50)
		var done atomic.Bool
		errc := make(chan error, 1)
		runCtx, stop := context.WithCancel(t.Context())
		defer stop()
		go e.log.Run(runCtx)
		go func() {
			defer done.Store(true)
			for i := range 300 {
				ev := resguardo.AuditEvent{ActorKind: resguardo.ActorSystem, Action: "test.live", Outcome: resguardo.OutcomeSuccess, TargetID: string(rune('a' + i%26))}
				if err := e.log.Record(t.Context(), ev); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		runs := 0
		for !done.Load() || runs == 0 {
			rep, err := e.log.Verify(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() {
				t.Fatalf("false alarm while appending (run %d): %+v", runs, rep.Problems)
			}
			runs++
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		t.Logf("%d verifications during 300 appends", runs)
	})
}
