package account

import (
	"context"
	"sync"
	"time"
)

// Activity ("last seen") is written off the request path: a request that
// finds its session's last-seen time more than touchEvery old records the
// new time here, in memory, and the server's periodic work (FlushActivity,
// every ActivityFlushEvery) writes what has piled up. Revocation does not
// depend on it: every request still reads its session or token from the
// database. The idle timeout of web sessions reads the pending time too, so
// on this server a pending write never makes a session look idle; another
// server sees it at most ActivityFlushEvery late.
type activity struct {
	mu      sync.Mutex
	web     map[string]int64 // web session id → last seen (unix seconds)
	app     map[string]int64 // token family id → last seen
	flushMu sync.Mutex       // one flush at a time
}

// ActivityFlushEvery is how often pending activity is written.
const ActivityFlushEvery = 2 * time.Second

// maxPendingActivity bounds what waits in memory; past it the request that
// adds one more flushes in the background.
const maxPendingActivity = 10_000

func newActivity() *activity {
	return &activity{web: map[string]int64{}, app: map[string]int64{}}
}

// note records that id was seen at t; it reports whether the pending set
// has grown past its bound.
func (a *activity) note(m map[string]int64, id string, t int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t > m[id] {
		m[id] = t
	}
	return len(a.web)+len(a.app) > maxPendingActivity
}

// pendingWeb is the last-seen time of a web session waiting to be written,
// or 0.
func (a *activity) pendingWeb(id string) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.web[id]
}

// pendingApp is pendingWeb for a token family.
func (a *activity) pendingApp(id string) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.app[id]
}

// take empties the pending sets and returns them.
func (a *activity) take() (web, app map[string]int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	web, app = a.web, a.app
	a.web, a.app = map[string]int64{}, map[string]int64{}
	return web, app
}

// noteWebActivity and noteAppActivity record a request's activity for the
// next flush.
func (s *Service) noteWebActivity(ctx context.Context, id string, t int64) {
	if s.activity.note(s.activity.web, id, t) {
		s.background(ctx, "flush activity", s.FlushActivity)
	}
}

func (s *Service) noteAppActivity(ctx context.Context, id string, t int64) {
	if s.activity.note(s.activity.app, id, t) {
		s.background(ctx, "flush activity", s.FlushActivity)
	}
}

// FlushActivity writes the pending last-seen times. A session deleted
// meanwhile simply matches no row. Writes that fail are put back for the
// next flush.
func (s *Service) FlushActivity(ctx context.Context) error {
	s.activity.flushMu.Lock()
	defer s.activity.flushMu.Unlock()
	web, app := s.activity.take()
	var firstErr error
	for id, t := range web {
		if err := s.db.Conn().TouchWebSession(ctx, id, t); err != nil {
			s.activity.note(s.activity.web, id, t)
			firstErr = cmpErr(firstErr, err)
		}
	}
	for id, t := range app {
		if err := s.db.Conn().TouchTokenFamily(ctx, id, t); err != nil {
			s.activity.note(s.activity.app, id, t)
			firstErr = cmpErr(firstErr, err)
		}
	}
	return firstErr
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
