// Package metrics holds the server's Prometheus series and the handler of
// the metrics listener.
//
// Every label value here comes from a short closed set fixed by the code: a
// route pattern from the route table, an HTTP status, a role, a limit name,
// a key purpose. None is ever taken from a request or a record, so no e-mail,
// phone, name, token or path can reach a scrape (a test checks the scrape).
//
// The series are package variables because each process runs one server;
// they live in a registry of their own (not the client's global one), so
// that nothing imported can add series carrying other data.
package metrics

import (
	"context"
	"database/sql"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "resguardo"

var registry = prometheus.NewRegistry()

// Unmatched is the route label of requests no route matched: the raw path
// is never a label (it would let any client add series, and could carry
// what the client typed).
const Unmatched = "unmatched"

var (
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "http", Name: "requests_total",
		Help: "Requests answered, by listener, route pattern and status.",
	}, []string{"surface", "route", "status"})
	requestSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "http", Name: "request_duration_seconds",
		Help:    "Time to answer a request, by listener, route pattern and status.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"surface", "route", "status"})

	hashQueue = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "password_hash", Name: "queue_depth",
		Help: "Password hashes waiting for a hashing slot now.",
	})
	hashWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "password_hash", Name: "wait_seconds",
		Help:    "Time a password hash waited for a slot (refused waits included).",
		Buckets: []float64{.001, .005, .025, .1, .25, .5, 1, 2, 5},
	})
	hashBusy = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "password_hash", Name: "busy_total",
		Help: "Password hashes refused because no slot freed in time (answered 503).",
	})

	statementSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "db", Name: "statement_duration_seconds",
		Help:    "Time of one SQL statement, by kind (exec or query) and outcome.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	}, []string{"kind", "outcome"})

	auditAppends = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "audit", Name: "appends_total",
		Help: "Audit entries appended, by actor kind (an entry whose transaction later rolls back is counted too).",
	}, []string{"actor"})

	keyReloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "keys", Name: "reloads_total",
		Help: "Reads of the key set kept in the database, by result: changed, unchanged or error.",
	}, []string{"result"})
	rotationActive = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "keys", Name: "rotation_active",
		Help: "1 while a key rotation of this purpose is unfinished (started by keys rotate, on any host).",
	}, []string{"purpose"})
	rotationDone = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "keys", Name: "rotation_customers_done",
		Help: "Customers the unfinished rotation of this purpose has moved to its new key so far (0 when none runs).",
	}, []string{"purpose"})

	throttleRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "throttle", Name: "refusals_total",
		Help: "Requests refused by a limit (429), by the limit's name.",
	}, []string{"limit"})

	reveals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "staff", Name: "reveals_total",
		Help: "Personal values revealed to staff, by the staff member's role.",
	}, []string{"role"})
)

func init() {
	registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		requests, requestSeconds, hashQueue, hashWait, hashBusy, statementSeconds,
		auditAppends, keyReloads, rotationActive, rotationDone, throttleRefusals, reveals,
		poolCollector{}, backlogCollector{},
	)
	// Series of closed label sets start at zero, so that a scrape shows
	// them (and alerts can use them) before the first event.
	for _, r := range []string{"changed", "unchanged", "error"} {
		keyReloads.WithLabelValues(r)
	}
	hashWait.Observe(0) // the histogram's series exist from the start
}

// Handler serves the registry in the Prometheus text format. It belongs on
// the metrics listener only.
func Handler() http.Handler {
	return promhttp.HandlerFor(registry, promhttp.HandlerOpts{Registry: registry})
}

// Request counts one answered request. route is the route table's pattern
// ("" when none matched).
func Request(surface, route string, status int, d time.Duration) {
	if route == "" {
		route = Unmatched
	}
	s := strconv.Itoa(status)
	requests.WithLabelValues(surface, route, s).Inc()
	requestSeconds.WithLabelValues(surface, route, s).Observe(d.Seconds())
}

// HashQueued marks a password hash as waiting for a slot; the returned
// function ends the wait, recording how long it took and whether it was
// refused.
func HashQueued() (done func(refused bool)) {
	start := time.Now()
	hashQueue.Inc()
	return func(refused bool) {
		hashQueue.Dec()
		hashWait.Observe(time.Since(start).Seconds())
		if refused {
			hashBusy.Inc()
		}
	}
}

// HashNoWait records a hash that found a slot free at once.
func HashNoWait() { hashWait.Observe(0) }

// Statement records one SQL statement's time.
func Statement(kind string, d time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	statementSeconds.WithLabelValues(kind, outcome).Observe(d.Seconds())
}

// AuditAppend counts one audit entry by its actor kind.
func AuditAppend(actorKind string) { auditAppends.WithLabelValues(actorKind).Inc() }

// KeyReload counts one read of the key set.
func KeyReload(changed bool, err error) {
	switch {
	case err != nil:
		keyReloads.WithLabelValues("error").Inc()
	case changed:
		keyReloads.WithLabelValues("changed").Inc()
	default:
		keyReloads.WithLabelValues("unchanged").Inc()
	}
}

// Rotation sets the state of purpose's rotation, as stored by keys rotate
// (which may run on another host).
func Rotation(purpose string, active bool, done int) {
	v := 0.0
	if active {
		v = 1
	}
	rotationActive.WithLabelValues(purpose).Set(v)
	rotationDone.WithLabelValues(purpose).Set(float64(done))
}

// ThrottleRefusal counts one refusal by the named limit.
func ThrottleRefusal(limit string) { throttleRefusals.WithLabelValues(limit).Inc() }

// Reveal counts one personal value revealed to a staff member of role.
func Reveal(role string) { reveals.WithLabelValues(role).Inc() }

// pool is the database whose pool statistics the scrape reports: the one
// the server opened (set by WatchPool, read at each scrape).
var pool struct {
	sync.Mutex
	stats func() sql.DBStats
}

// WatchPool makes the scrape report stats (the server's database pool);
// nil stops it.
func WatchPool(stats func() sql.DBStats) {
	pool.Lock()
	defer pool.Unlock()
	pool.stats = stats
}

var (
	poolOpen    = prometheus.NewDesc(namespace+"_db_pool_open_connections", "Connections open, in use or idle.", nil, nil)
	poolInUse   = prometheus.NewDesc(namespace+"_db_pool_in_use_connections", "Connections in use.", nil, nil)
	poolIdle    = prometheus.NewDesc(namespace+"_db_pool_idle_connections", "Connections idle.", nil, nil)
	poolMax     = prometheus.NewDesc(namespace+"_db_pool_max_open_connections", "Most connections the pool may open.", nil, nil)
	poolWaits   = prometheus.NewDesc(namespace+"_db_pool_waits_total", "Times a statement waited for a free connection.", nil, nil)
	poolWaitSec = prometheus.NewDesc(namespace+"_db_pool_wait_seconds_total", "Total time statements waited for a free connection.", nil, nil)
)

// poolCollector reads sql.DBStats at scrape time.
type poolCollector struct{}

func (poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolOpen, poolInUse, poolIdle, poolMax, poolWaits, poolWaitSec} {
		ch <- d
	}
}

func (poolCollector) Collect(ch chan<- prometheus.Metric) {
	pool.Lock()
	stats := pool.stats
	pool.Unlock()
	if stats == nil {
		return
	}
	s := stats()
	ch <- prometheus.MustNewConstMetric(poolOpen, prometheus.GaugeValue, float64(s.OpenConnections))
	ch <- prometheus.MustNewConstMetric(poolInUse, prometheus.GaugeValue, float64(s.InUse))
	ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(s.Idle))
	ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(s.MaxOpenConnections))
	ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(s.WaitCount))
	ch <- prometheus.MustNewConstMetric(poolWaitSec, prometheus.CounterValue, s.WaitDuration.Seconds())
}

// backlog reads the audit trail's pending entries at scrape time.
var backlog struct {
	sync.Mutex
	read func(ctx context.Context) (pending int64, oldest time.Time, err error)
}

// WatchAuditBacklog makes the scrape report the audit entries committed but
// not yet chained by the sequencer, and the age of the oldest: the whole
// deployment's, read from the database at each scrape (a count on an
// index), so every server reports the same figures. nil stops it.
func WatchAuditBacklog(read func(ctx context.Context) (pending int64, oldest time.Time, err error)) {
	backlog.Lock()
	defer backlog.Unlock()
	backlog.read = read
}

var (
	auditPending   = prometheus.NewDesc(namespace+"_audit_pending_entries", "Audit entries committed but not yet chained by the sequencer (the whole deployment).", nil, nil)
	auditOldestAge = prometheus.NewDesc(namespace+"_audit_oldest_pending_seconds", "Age of the oldest audit entry not yet chained; 0 when none is pending.", nil, nil)
)

// backlogCollector reads the backlog at scrape time. A read that fails
// (database down) reports nothing rather than a zero that would look
// healthy.
type backlogCollector struct{}

func (backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- auditPending
	ch <- auditOldestAge
}

func (backlogCollector) Collect(ch chan<- prometheus.Metric) {
	backlog.Lock()
	read := backlog.read
	backlog.Unlock()
	if read == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pending, oldest, err := read(ctx)
	if err != nil {
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(time.Since(oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(auditPending, prometheus.GaugeValue, float64(pending))
	ch <- prometheus.MustNewConstMetric(auditOldestAge, prometheus.GaugeValue, age)
}
