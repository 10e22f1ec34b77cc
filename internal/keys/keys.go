// Package keys runs key rotation and retirement over the whole database:
// re-wrapping every customer's data key under a new key-encryption key,
// recomputing every blind index under a new index key, and reporting which
// key versions data still depends on.
//
// Rotations are online and resumable. The server keeps serving: lookups
// match an index under any key version, a server unwraps keys wrapped under
// any KEK version in the key set, and servers reload the key set from the
// database when it changes. Work goes in batches of customers in id order; each batch commits
// together with the id it reached (a setting row), so a rotation killed
// anywhere continues from there when run again, and redoing a customer is
// harmless.
package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/vault"
)

// Reindexer recomputes one customer's blind indexes under the primary
// index key inside a transaction (account.Service does).
type Reindexer interface {
	Reindex(ctx context.Context, c sqlstore.Conn, customerID string) (int, error)
}

// Rotator rotates and retires keys.
type Rotator struct {
	DB        *sqlstore.DB
	Vault     *vault.Vault
	Reindexer Reindexer
	Log       *slog.Logger
	// BatchSize is the number of customers per transaction.
	BatchSize int
	// Settle is how long to wait after adding a key before using it on
	// existing data, so that running servers (which reload the key set
	// every ReloadEvery) have loaded it.
	Settle time.Duration
	// AfterBatch, if set, runs after each committed batch with the number of
	// batches so far; an error stops the rotation there (tests use it to
	// interrupt a rotation half-way).
	AfterBatch func(batches int) error
	// Progress, if set, is told after each committed batch how many
	// customers the rotation has visited (including earlier runs of it).
	Progress func(done int)
	Now      func() time.Time
}

// Rotation is the state of an unfinished rotation, as a server reports it.
type Rotation struct {
	Purpose vault.Purpose
	Active  bool
	Done    int // customers visited so far
}

// Rotations reads the stored state of each purpose's rotation: three small
// reads, cheap enough for every metrics scrape.
func Rotations(ctx context.Context, db *sqlstore.DB) ([]Rotation, error) {
	r := Rotator{DB: db}
	var out []Rotation
	for _, p := range []vault.Purpose{vault.PurposeKEK, vault.PurposeBlindIndex} {
		pr, found, err := r.loadProgress(ctx, p)
		if err != nil {
			return nil, err
		}
		out = append(out, Rotation{Purpose: p, Active: found, Done: pr.Done})
	}
	return out, nil
}

// ReloadEvery is how often a server re-reads the key set.
const ReloadEvery = 2 * time.Second

// Report says what a rotation did.
type Report struct {
	Purpose   vault.Purpose `json:"purpose"`
	KeyID     uint32        `json:"key_id"`
	Resumed   bool          `json:"resumed"`
	Customers int           `json:"customers"` // customers visited
	Changed   int           `json:"changed"`   // data keys re-wrapped or indexes recomputed
	Seconds   float64       `json:"seconds"`
}

// progress is the stored state of an unfinished rotation.
type progress struct {
	Key   uint32 `json:"key"`
	After string `json:"after"`
	// Done counts the customers visited so far, across interrupted runs:
	// what a server reports as the rotation's progress (rotations written
	// by an earlier release lack it and count from their resumption).
	Done int `json:"done,omitempty"`
}

func settingName(p vault.Purpose) string { return "rotation." + string(p) }

func (r *Rotator) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Rotator) batchSize() int {
	if r.BatchSize > 0 {
		return r.BatchSize
	}
	return 500
}

// loadProgress returns the unfinished rotation of p, if any.
func (r *Rotator) loadProgress(ctx context.Context, p vault.Purpose) (progress, bool, error) {
	v, err := r.DB.Conn().Setting(ctx, settingName(p))
	if resguardo.ErrorCode(err) == resguardo.ENotFound {
		return progress{}, false, nil
	}
	if err != nil {
		return progress{}, false, err
	}
	var pr progress
	if err := json.Unmarshal([]byte(v), &pr); err != nil {
		return progress{}, false, fmt.Errorf("rotation progress of %s is damaged: %w", p, err)
	}
	return pr, true, nil
}

func (r *Rotator) saveProgress(ctx context.Context, c sqlstore.Conn, p vault.Purpose, pr progress) error {
	b, err := json.Marshal(pr)
	if err != nil {
		return err
	}
	return c.PutSetting(ctx, settingName(p), string(b), r.now().Unix())
}

// start resumes the unfinished rotation of p, or adds a new primary key,
// records the rotation as started and waits for servers to load the key.
func (r *Rotator) start(ctx context.Context, p vault.Purpose) (progress, bool, error) {
	pr, found, err := r.loadProgress(ctx, p)
	if err != nil {
		return progress{}, false, err
	}
	if found {
		// Resume: use the current primary (normally the key that run added).
		if _, err := r.Vault.Reload(); err != nil {
			return progress{}, false, err
		}
		pr.Key = r.Vault.Primary(p)
		return pr, true, nil
	}
	id, err := r.Vault.Rotate(p)
	if err != nil {
		return progress{}, false, err
	}
	pr = progress{Key: id}
	if err := r.saveProgress(ctx, r.DB.Conn(), p, pr); err != nil {
		return progress{}, false, err
	}
	r.Log.InfoContext(ctx, "new key added; waiting for running servers to load it", "purpose", p, "key_id", id, "wait", r.Settle.String())
	select {
	case <-ctx.Done():
		return progress{}, false, ctx.Err()
	case <-time.After(r.Settle):
	}
	return pr, false, nil
}

// RotateKEK adds a new key-encryption key (or resumes an unfinished
// rotation) and re-wraps every customer's data key under it. The data keys
// themselves, and so every sealed field, are unchanged.
func (r *Rotator) RotateKEK(ctx context.Context) (Report, error) {
	return r.rotate(ctx, vault.PurposeKEK, r.rewrapBatch)
}

// RotateIndex adds a new blind-index key (or resumes) and recomputes every
// stored blind index under it.
func (r *Rotator) RotateIndex(ctx context.Context) (Report, error) {
	if r.Reindexer == nil {
		return Report{}, errors.New("keys: no reindexer")
	}
	return r.rotate(ctx, vault.PurposeBlindIndex, r.reindexBatch)
}

// RotatePepper adds a new pepper key. Passwords cannot be re-hashed without
// the password, so each moves to the new key at its owner's next sign-in;
// older pepper keys stay until no hash uses them (see Status, Retire).
func (r *Rotator) RotatePepper(ctx context.Context) (Report, error) {
	start := time.Now()
	id, err := r.Vault.Rotate(vault.PurposePepper)
	return Report{Purpose: vault.PurposePepper, KeyID: id, Seconds: time.Since(start).Seconds()}, err
}

// batchFunc processes one batch of customers after the given id inside c
// and returns the last id handled (or "" when there are none left) and how
// many records changed.
// The progress it commits with the batch is pr moved past the batch.
type batchFunc func(ctx context.Context, pr progress) (last string, visited, changed int, err error)

func (r *Rotator) rotate(ctx context.Context, p vault.Purpose, batch batchFunc) (Report, error) {
	began := time.Now()
	pr, resumed, err := r.start(ctx, p)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Purpose: p, KeyID: pr.Key, Resumed: resumed}
	if r.Progress != nil {
		r.Progress(pr.Done) // where a resumed rotation starts from
	}
	for n := 1; ; n++ {
		last, visited, changed, err := batch(ctx, pr)
		if err != nil {
			return rep, fmt.Errorf("rotate %s: batch after %q: %w (run the same command again to continue)", p, pr.After, err)
		}
		if last == "" {
			break
		}
		rep.Customers += visited
		rep.Changed += changed
		pr.After, pr.Done = last, pr.Done+visited
		if r.Progress != nil {
			r.Progress(pr.Done)
		}
		if r.AfterBatch != nil {
			if err := r.AfterBatch(n); err != nil {
				return rep, err
			}
		}
		if n%20 == 0 {
			r.Log.InfoContext(ctx, "rotation progress", "purpose", p, "customers", rep.Customers, "changed", rep.Changed)
		}
	}
	if err := r.DB.Conn().DeleteSetting(ctx, settingName(p)); err != nil {
		return rep, err
	}
	rep.Seconds = time.Since(began).Seconds()
	return rep, nil
}

// rewrapBatch re-wraps the data keys of one batch not yet under key. The
// unwrapping and wrapping (the costly part) run on every core while the
// transaction writes the results as they come, so the CPU work and the
// database writes overlap; the batch's updates and its progress commit
// together.
func (r *Rotator) rewrapBatch(ctx context.Context, pr progress) (string, int, int, error) {
	key := pr.Key
	keys, err := r.DB.Conn().DataKeysAfter(ctx, pr.After, r.batchSize())
	if err != nil || len(keys) == 0 {
		return "", 0, 0, err
	}
	type result struct {
		i    int
		next []byte
		err  error
	}
	work := make(chan int)
	results := make(chan result, len(keys))
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range work {
				id, err := vault.WrappingKeyID(keys[i].DataKey)
				if err == nil && id == key {
					results <- result{i: i} // already re-wrapped (a resumed batch)
					continue
				}
				next, err := r.Vault.Rewrap(keys[i].CustomerID, keys[i].DataKey)
				results <- result{i, next, err}
			}
		})
	}
	go func() {
		defer close(work)
		for i := range keys {
			select {
			case work <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	changed := 0
	last := keys[len(keys)-1].CustomerID
	err = r.DB.Tx(ctx, func(c sqlstore.Conn) error {
		seen := 0
		for res := range results {
			seen++
			if res.err != nil {
				return res.err
			}
			if res.next == nil {
				continue
			}
			ok, err := c.ReplaceDataKey(ctx, keys[res.i].CustomerID, keys[res.i].DataKey, res.next)
			if err != nil {
				return err
			}
			if ok {
				changed++
			}
		}
		if seen != len(keys) {
			return fmt.Errorf("re-wrapped %d of %d data keys: %w", seen, len(keys), ctx.Err())
		}
		return r.saveProgress(ctx, c, vault.PurposeKEK, progress{Key: key, After: last, Done: pr.Done + len(keys)})
	})
	// Let the workers finish (results is buffered) before returning.
	for range results {
	}
	return last, len(keys), changed, err
}

// reindexBatch recomputes the blind indexes of one batch of customers.
func (r *Rotator) reindexBatch(ctx context.Context, pr progress) (string, int, int, error) {
	key := pr.Key
	ids, err := r.DB.Conn().CustomerIDsAfter(ctx, pr.After, r.batchSize())
	if err != nil || len(ids) == 0 {
		return "", 0, 0, err
	}
	changed := 0
	last := ids[len(ids)-1]
	err = r.DB.Tx(ctx, func(c sqlstore.Conn) error {
		for _, id := range ids {
			n, err := r.Reindexer.Reindex(ctx, c, id)
			if err != nil {
				return fmt.Errorf("customer %s: %w", id, err)
			}
			changed += n
		}
		return r.saveProgress(ctx, c, vault.PurposeBlindIndex, progress{Key: key, After: last, Done: pr.Done + len(ids)})
	})
	return last, len(ids), changed, err
}

// KeyUse is one key version and what depends on it.
type KeyUse struct {
	KeyID   uint32 `json:"key_id"`
	Primary bool   `json:"primary"`
	// Uses counts data keys wrapped under it (kek) or password hashes made
	// with it (pepper); -1 where uses are not counted per key.
	Uses int `json:"uses"`
}

// PurposeStatus is the state of one keyset.
type PurposeStatus struct {
	Purpose  vault.Purpose `json:"purpose"`
	Keys     []KeyUse      `json:"keys"`
	Rotating bool          `json:"rotating"` // an unfinished rotation is recorded
	After    string        `json:"resume_after,omitempty"`
}

// Status reports every keyset's key versions and, for the KEK and the
// pepper, how many records depend on each (a full pass over customers).
func (r *Rotator) Status(ctx context.Context) ([]PurposeStatus, error) {
	kekUses, err := r.countKEK(ctx)
	if err != nil {
		return nil, err
	}
	pepperUses, err := r.countPepper(ctx)
	if err != nil {
		return nil, err
	}
	var out []PurposeStatus
	for _, ks := range r.Vault.Status() {
		ps := PurposeStatus{Purpose: ks.Purpose}
		for _, id := range ks.KeyIDs {
			u := KeyUse{KeyID: id, Primary: id == ks.Primary, Uses: -1}
			switch ks.Purpose {
			case vault.PurposeKEK:
				u.Uses = kekUses[id]
			case vault.PurposePepper:
				u.Uses = pepperUses[id]
			}
			ps.Keys = append(ps.Keys, u)
		}
		pr, found, err := r.loadProgress(ctx, ks.Purpose)
		if err != nil {
			return nil, err
		}
		ps.Rotating, ps.After = found, pr.After
		out = append(out, ps)
	}
	return out, nil
}

func (r *Rotator) countKEK(ctx context.Context) (map[uint32]int, error) {
	uses := map[uint32]int{}
	after := ""
	for {
		keys, err := r.DB.Conn().DataKeysAfter(ctx, after, 5000)
		if err != nil {
			return nil, err
		}
		if len(keys) == 0 {
			return uses, nil
		}
		for _, k := range keys {
			id, err := vault.WrappingKeyID(k.DataKey)
			if err != nil {
				return nil, fmt.Errorf("customer %s: %w", k.CustomerID, err)
			}
			uses[id]++
		}
		after = keys[len(keys)-1].CustomerID
	}
}

// countPepper counts, per pepper key, the password hashes peppered with it
// and the unused recovery codes stored under it. Recovery codes cannot be
// moved to a new key (only their MAC is stored): they hold an old key until
// used or renewed.
func (r *Rotator) countPepper(ctx context.Context) (map[uint32]int, error) {
	uses, err := r.DB.Conn().RecoveryCodeKeyUses(ctx)
	if err != nil {
		return nil, err
	}
	after := ""
	for {
		hashes, err := r.DB.Conn().PasswordHashesAfter(ctx, after, 5000)
		if err != nil {
			return nil, err
		}
		if len(hashes) == 0 {
			return uses, nil
		}
		for _, h := range hashes {
			id, err := auth.PepperKeyID(h.Hash)
			if err != nil {
				return nil, fmt.Errorf("customer %s: %w", h.CustomerID, err)
			}
			uses[id]++
		}
		after = hashes[len(hashes)-1].CustomerID
	}
}

// ErrInUse is returned by Retire while data still depends on the key.
var ErrInUse = errors.New("key still in use")

// Retire removes an older key version of the KEK, blind-index or pepper
// keyset. It refuses while a rotation of that keyset is unfinished or any
// record still depends on the key: a data key wrapped under it, a blind
// index computed with it, a password hash peppered with it. After an
// erasure, retiring the KEK version in use before it makes copies of the
// database taken before the erasure undecryptable for that customer.
func (r *Rotator) Retire(ctx context.Context, p vault.Purpose, keyID uint32) error {
	if p == vault.PurposeAudit {
		return errors.New("audit keys are never retired: verifying the chain needs every key it was made with")
	}
	if _, found, err := r.loadProgress(ctx, p); err != nil {
		return err
	} else if found {
		return fmt.Errorf("%w: a %s rotation is unfinished; run `resguardo keys rotate --%s` again to finish it first", ErrInUse, p, flagName(p))
	}
	if _, err := r.Vault.Reload(); err != nil {
		return err
	}
	var uses int
	switch p {
	case vault.PurposeKEK:
		m, err := r.countKEK(ctx)
		if err != nil {
			return err
		}
		uses = m[keyID]
	case vault.PurposePepper:
		m, err := r.countPepper(ctx)
		if err != nil {
			return err
		}
		uses = m[keyID]
	case vault.PurposeBlindIndex:
		n, err := r.staleIndexes(ctx)
		if err != nil {
			return err
		}
		uses = n
	default:
		return fmt.Errorf("unknown keyset %q", p)
	}
	if uses > 0 {
		return fmt.Errorf("%w: %d record(s) still depend on %s key %d", ErrInUse, uses, p, keyID)
	}
	return r.Vault.Retire(p, keyID)
}

// errDryRun rolls back a check-only transaction.
var errDryRun = errors.New("dry run")

// staleIndexes counts customers with any blind index not under the primary
// key, by recomputing them in transactions that are rolled back.
func (r *Rotator) staleIndexes(ctx context.Context) (int, error) {
	if r.Reindexer == nil {
		return 0, errors.New("keys: no reindexer")
	}
	stale, after := 0, ""
	for {
		ids, err := r.DB.Conn().CustomerIDsAfter(ctx, after, r.batchSize())
		if err != nil {
			return 0, err
		}
		if len(ids) == 0 {
			return stale, nil
		}
		for _, id := range ids {
			err := r.DB.Tx(ctx, func(c sqlstore.Conn) error {
				n, err := r.Reindexer.Reindex(ctx, c, id)
				if err != nil {
					return err
				}
				if n > 0 {
					stale++
				}
				return errDryRun
			})
			if !errors.Is(err, errDryRun) {
				return 0, err
			}
		}
		after = ids[len(ids)-1]
	}
}

func flagName(p vault.Purpose) string {
	if p == vault.PurposeBlindIndex {
		return "index"
	}
	return string(p)
}
