// Command drill puts a steady load of sign-ins and profile edits on one or
// more resguardo servers, runs a fault command part-way (kill a database
// node, restart the database, kill a server), and then checks the promises
// a fault must keep: every answer is 2xx, or 503 with Retry-After; every
// write the server acknowledged is read back afterwards; service comes back
// within a stated time. It prints its figures and exits 1 when a promise is
// broken. Loopback servers only: it is a drill, not a load generator for
// other people's machines.
//
//	go run ./tools/drill -site http://127.0.0.1:18080,http://127.0.0.1:18090 \
//	    -duration 30s -fault-at 10s -fault 'tools/galera/cluster.sh kill 2'
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type options struct {
	sites      []string
	customers  int
	workers    int
	duration   time.Duration
	faultAt    time.Duration
	fault      string
	recoverAt  time.Duration
	recoverCmd string
	prefix     string
	maxRecover time.Duration
	state      string
	check      string
	strict     bool
	staff      string
	staffLink  string
	staffEmail string
	// spread: each customer comes from an address of its own (sent as
	// X-Forwarded-For, so the servers must trust the drill's loopback
	// address as a proxy): the load of many customers on many networks,
	// past the sign-up limit of one network.
	spread bool
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "drill:", err)
		os.Exit(1)
	}
}

func run() error {
	var o options
	var sites string
	flag.StringVar(&sites, "site", "http://127.0.0.1:18080", "comma-separated customer-site base URLs (loopback only)")
	flag.IntVar(&o.customers, "customers", 16, "customers to create and use (1-500; sign-ups from one address are limited to 20 an hour)")
	flag.IntVar(&o.workers, "workers", 6, "concurrent clients (1-64)")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "length of the load (1s-10m)")
	flag.DurationVar(&o.faultAt, "fault-at", 10*time.Second, "when to run the fault command")
	flag.StringVar(&o.fault, "fault", "", "shell command that causes the fault (empty: none)")
	flag.DurationVar(&o.recoverAt, "recover-at", 0, "when to run the recovery command (0: never)")
	flag.StringVar(&o.recoverCmd, "recover", "", "shell command that ends the fault (a restart)")
	flag.StringVar(&o.prefix, "prefix", fmt.Sprintf("drill%d", time.Now().Unix()), "address prefix of the drill's customers")
	flag.DurationVar(&o.maxRecover, "max-recovery", 30*time.Second, "longest time from the fault to the last failed answer")
	flag.StringVar(&o.state, "state", "", "file to write the customers and their acknowledged writes to, for a later -check")
	flag.StringVar(&o.check, "check", "", "only read back the customers of a -state file (after a later fault)")
	flag.BoolVar(&o.strict, "strict", false, "no fault: every answer must be 2xx (a 503 is a failure too)")
	flag.StringVar(&o.staff, "staff", "", "staff console base URL: one client views customers there too (needs -staff-link)")
	flag.StringVar(&o.staffLink, "staff-link", "", "enrolment link of a lead, as `resguardo staff create` printed it")
	flag.StringVar(&o.staffEmail, "staff-email", "", "that lead's address")
	flag.BoolVar(&o.spread, "spread", false, "each customer from its own client address in 198.18.0.0/15, sent as X-Forwarded-For (start the servers with --trusted-proxies 127.0.0.1/32)")
	flag.Parse()
	o.sites = strings.Split(sites, ",")
	if o.staff != "" {
		sites += "," + o.staff
	}
	if o.customers < 1 || o.customers > 500 || o.workers < 1 || o.workers > 64 || o.duration < time.Second || o.duration > 10*time.Minute {
		return errors.New("bounds: -customers 1-500, -workers 1-64, -duration 1s-10m")
	}
	for _, s := range strings.Split(sites, ",") {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "http" {
			return fmt.Errorf("-site %q: an http:// URL", s)
		}
		if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("-site %q: loopback addresses only", s)
		}
	}
	d := newDrill(o)
	var rep Report
	if o.check != "" {
		if err := d.loadState(o.check); err != nil {
			return err
		}
		o.customers = len(d.customers)
		rep.Sites, rep.ByAnswer = o.sites, map[string]int{}
	} else {
		if err := d.setUp(); err != nil {
			return err
		}
		rep = d.load()
	}
	rep.Lost, rep.Checked = d.readBack()
	if o.state != "" {
		if err := d.saveState(o.state); err != nil {
			return err
		}
	}
	out, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Println(string(out))
	var broken []string
	if rep.Lost > 0 {
		broken = append(broken, fmt.Sprintf("%d acknowledged writes lost", rep.Lost))
	}
	if rep.Bad > 0 {
		broken = append(broken, fmt.Sprintf("%d answers neither 2xx nor 503 with Retry-After", rep.Bad))
	}
	if o.strict {
		for k, n := range rep.ByAnswer {
			if !strings.HasSuffix(k, " 200") {
				broken = append(broken, fmt.Sprintf("%d answers %q without a fault", n, k))
			}
		}
	}
	if rep.Checked < o.customers {
		broken = append(broken, fmt.Sprintf("only %d of %d customers could be read back", rep.Checked, o.customers))
	}
	if time.Duration(rep.RecoverySeconds*float64(time.Second)) > o.maxRecover {
		broken = append(broken, fmt.Sprintf("service back after %.1f s, more than %v", rep.RecoverySeconds, o.maxRecover))
	}
	if len(broken) > 0 {
		return errors.New(strings.Join(broken, "; "))
	}
	return nil
}

const password = "drill passphrase that is long enough"

type customer struct {
	email string
	addr  string // client address sent as X-Forwarded-For with -spread, else empty
	mu    sync.Mutex
	acked int // the last name number the server acknowledged
	tried int // the last name number sent
}

type drill struct {
	o         options
	client    *http.Client
	customers []*customer
	staff     *staffClient
	staffIDs  []string
}

func newDrill(o options) *drill {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	return &drill{o: o, client: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

// call sends a JSON request and decodes a JSON answer into out.
// clientAddr is customer i's address with -spread: 198.18.0.0/15 is set
// aside for benchmarks (RFC 2544), so it is nobody's real network.
func (d *drill) clientAddr(i int) string {
	if !d.o.spread {
		return ""
	}
	return fmt.Sprintf("198.18.%d.%d", i/250, i%250+1)
}

// callFrom calls the API on behalf of a client at addr (sent as
// X-Forwarded-For when not empty).
func (d *drill) callFrom(ctx context.Context, addr, site, method, path, token string, in, out any) (int, http.Header, error) {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, site+path, body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if addr != "" {
		req.Header.Set("X-Forwarded-For", addr)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if out != nil && resp.StatusCode/100 == 2 {
		_ = json.Unmarshal(b, out)
	}
	return resp.StatusCode, resp.Header, nil
}

// setUp registers the drill's customers (retrying a busy answer).
func (d *drill) setUp() error {
	ctx := context.Background()
	for i := range d.o.customers {
		c := &customer{email: fmt.Sprintf("%s-%d@example.com", d.o.prefix, i), addr: d.clientAddr(i)}
		site := d.o.sites[i%len(d.o.sites)]
		var code int
		var err error
		for try := 0; try < 20; try++ {
			code, _, err = d.callFrom(ctx, c.addr, site, "POST", "/api/v1/auth/register", "", map[string]string{"email": c.email, "password": password, "name": "start"}, nil)
			if err == nil && code == http.StatusAccepted {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if code != http.StatusAccepted {
			return fmt.Errorf("register %s: %d %v", c.email, code, err)
		}
		d.customers = append(d.customers, c)
	}
	if d.o.staff == "" {
		return nil
	}
	d.staff = newStaffClient(d.o.staff)
	if err := d.staff.enrol(ctx, d.o.staffLink); err != nil {
		return fmt.Errorf("staff enrolment: %w", err)
	}
	if err := d.staff.signIn(ctx, d.o.staffEmail); err != nil {
		return fmt.Errorf("staff sign-in: %w", err)
	}
	var emails []string
	for _, c := range d.customers {
		emails = append(emails, c.email)
	}
	var err error
	d.staffIDs, err = d.staff.customerIDs(ctx, emails)
	return err
}

// Report is what the drill prints.
type Report struct {
	Sites           []string       `json:"sites"`
	Fault           string         `json:"fault"`
	Recover         string         `json:"recover,omitempty"`
	DurationSeconds float64        `json:"duration_seconds"`
	Requests        int64          `json:"requests"`
	ByAnswer        map[string]int `json:"answers"` // "sign-in 200", "edit 503"…
	WritesAcked     int64          `json:"writes_acknowledged"`
	Lost            int            `json:"writes_lost"`
	Checked         int            `json:"customers_read_back"`
	Bad             int64          `json:"bad_answers"`
	FirstFailure    float64        `json:"first_failure_seconds,omitempty"` // after the fault
	RecoverySeconds float64        `json:"recovery_seconds"`                // from the fault to the last failed answer
	LongestGap      float64        `json:"longest_gap_seconds"`             // longest time without a 2xx answer
	FaultError      string         `json:"fault_error,omitempty"`
}

type tally struct {
	mu          sync.Mutex
	answers     map[string]int
	requests    atomic.Int64
	acked       atomic.Int64
	bad         atomic.Int64
	firstFail   time.Time
	lastFail    time.Time
	lastOK      time.Time
	longestGap  time.Duration
	badExamples []string
}

func (t *tally) note(kind string, code int, h http.Header, err error) {
	t.requests.Add(1)
	key := fmt.Sprintf("%s %d", kind, code)
	if err != nil {
		key = kind + " transport-error"
	}
	ok := err == nil && code/100 == 2
	retry := err == nil && code == http.StatusServiceUnavailable && h.Get("Retry-After") != ""
	t.mu.Lock()
	defer t.mu.Unlock()
	t.answers[key]++
	if ok {
		now := time.Now()
		if !t.lastOK.IsZero() && now.Sub(t.lastOK) > t.longestGap {
			t.longestGap = now.Sub(t.lastOK)
		}
		t.lastOK = now
	}
	if !ok {
		now := time.Now()
		if t.firstFail.IsZero() {
			t.firstFail = now
		}
		t.lastFail = now
	}
	if !ok && !retry {
		t.bad.Add(1)
		if len(t.badExamples) < 5 {
			t.badExamples = append(t.badExamples, fmt.Sprintf("%s %v", key, err))
		}
	}
}

// load runs the workers for the duration, with the fault and recovery
// commands at their times.
func (d *drill) load() Report {
	ctx, cancel := context.WithTimeout(context.Background(), d.o.duration)
	defer cancel()
	t := &tally{answers: map[string]int{}}
	start := time.Now()
	var faultAt time.Time
	var faultErr error
	var wg sync.WaitGroup
	if d.o.fault != "" {
		wg.Go(func() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d.o.faultAt):
			}
			faultAt = time.Now()
			faultErr = shell(d.o.fault)
			if d.o.recoverCmd != "" && d.o.recoverAt > d.o.faultAt {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(start.Add(d.o.recoverAt))):
				}
				if err := shell(d.o.recoverCmd); err != nil && faultErr == nil {
					faultErr = err
				}
			}
		})
	}
	if d.staff != nil {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				code, h, err := d.staff.view(ctx, d.staffIDs[i%len(d.staffIDs)])
				if ctx.Err() != nil {
					return
				}
				t.note("staff-view", code, h, err)
				if err != nil || code != 200 {
					backoff(ctx, h)
				}
			}
		})
	}
	for w := range d.o.workers {
		wg.Go(func() {
			// Each customer belongs to one worker: its writes are in order.
			var mine []*customer
			for i, c := range d.customers {
				if i%d.o.workers == w {
					mine = append(mine, c)
				}
			}
			for i := 0; ctx.Err() == nil && len(mine) > 0; i++ {
				c := mine[i%len(mine)]
				site := d.o.sites[(i+w)%len(d.o.sites)]
				d.round(ctx, t, site, c)
			}
		})
	}
	wg.Wait()
	rep := Report{Sites: d.o.sites, Fault: d.o.fault, Recover: d.o.recoverCmd, DurationSeconds: time.Since(start).Seconds(),
		Requests: t.requests.Load(), ByAnswer: t.answers, WritesAcked: t.acked.Load(), Bad: t.bad.Load(), LongestGap: t.longestGap.Seconds()}
	if faultErr != nil {
		rep.FaultError = faultErr.Error()
	}
	if !faultAt.IsZero() && !t.lastFail.IsZero() && t.lastFail.After(faultAt) {
		rep.RecoverySeconds = t.lastFail.Sub(faultAt).Seconds()
		rep.FirstFailure = max(0, t.firstFail.Sub(faultAt).Seconds())
	}
	for _, e := range t.badExamples {
		fmt.Fprintln(os.Stderr, "bad answer:", e)
	}
	return rep
}

// round is one client visit: sign in, change the name, sign out of
// nothing (the access token simply expires).
func (d *drill) round(ctx context.Context, t *tally, site string, c *customer) {
	var tk struct {
		AccessToken string `json:"access_token"`
	}
	code, h, err := d.callFrom(ctx, c.addr, site, "POST", "/api/v1/auth/login", "", map[string]string{"email": c.email, "password": password}, &tk)
	if ctx.Err() != nil {
		return
	}
	t.note("sign-in", code, h, err)
	if err != nil || code != 200 {
		backoff(ctx, h)
		return
	}
	c.mu.Lock()
	c.tried++
	n := c.tried
	c.mu.Unlock()
	code, h, err = d.callFrom(ctx, c.addr, site, "PATCH", "/api/v1/me", tk.AccessToken, map[string]string{"name": fmt.Sprintf("name %d", n)}, nil)
	if ctx.Err() != nil {
		return
	}
	t.note("edit", code, h, err)
	if err == nil && code == 200 {
		c.mu.Lock()
		c.acked = n
		c.mu.Unlock()
		t.acked.Add(1)
		return
	}
	backoff(ctx, h)
}

func backoff(ctx context.Context, h http.Header) {
	d := 200 * time.Millisecond
	if h != nil && h.Get("Retry-After") != "" {
		d = 500 * time.Millisecond // Retry-After is in whole seconds; the drill checks sooner
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// readBack signs each customer in again (retrying for up to a minute) and
// reads the name: it must be the last acknowledged one, or a later one
// sent but not acknowledged (a write can commit and its answer be lost).
func (d *drill) readBack() (lost, checked int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var problems []string
	for i, c := range d.customers {
		site := d.o.sites[i%len(d.o.sites)]
		var name string
		ok := false
		for ctx.Err() == nil && !ok {
			var tk struct {
				AccessToken string `json:"access_token"`
			}
			code, _, err := d.callFrom(ctx, c.addr, site, "POST", "/api/v1/auth/login", "", map[string]string{"email": c.email, "password": password}, &tk)
			if err == nil && code == 200 {
				var me struct {
					Name string `json:"name"`
				}
				if code, _, err = d.callFrom(ctx, c.addr, site, "GET", "/api/v1/me", tk.AccessToken, nil, &me); err == nil && code == 200 {
					name, ok = me.Name, true
					break
				}
			}
			time.Sleep(500 * time.Millisecond)
		}
		if !ok {
			continue
		}
		checked++
		got := -1
		if name == "start" {
			got = 0
		} else {
			_, _ = fmt.Sscanf(name, "name %d", &got)
		}
		if got < c.acked || got > c.tried {
			lost++
			problems = append(problems, fmt.Sprintf("%s: read %q, acknowledged %d, sent up to %d", c.email, name, c.acked, c.tried))
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "lost:", p)
	}
	return lost, checked
}

type savedCustomer struct {
	Email string `json:"email"`
	Acked int    `json:"acked"`
	Tried int    `json:"tried"`
}

func (d *drill) saveState(path string) error {
	var out []savedCustomer
	for _, c := range d.customers {
		out = append(out, savedCustomer{c.email, c.acked, c.tried})
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

func (d *drill) loadState(path string) error {
	b, err := os.ReadFile(path) // #nosec G304 -- the drill's own state file, named by whoever runs it
	if err != nil {
		return err
	}
	var in []savedCustomer
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	for _, s := range in {
		d.customers = append(d.customers, &customer{email: s.Email, addr: d.clientAddr(len(d.customers)), acked: s.Acked, tried: s.Tried})
	}
	return nil
}

// shell runs an operator's fault command.
func shell(cmd string) error {
	c := exec.Command("bash", "-c", cmd) // #nosec G204 -- the drill's own fault command, given by whoever runs the drill
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	return nil
}
