package vault

import (
	"container/list"
	"sync"
)

// cache is a bounded LRU of unwrapped data keys with one entry per customer.
// An entry also records the SHA-256 of the wrapped key it came from, and is
// used only when the caller presents the same wrapped bytes: after a re-wrap or
// a new data key the stale entry is simply replaced.
type cache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recently used; values are *cacheEntry
	byID  map[string]*list.Element
	// gen counts removals. A key unwrapped while a Forget ran is not cached, so
	// an erased customer's key cannot be put back by a request in flight.
	gen uint64
}

type cacheEntry struct {
	customerID string
	sum        [32]byte
	key        *DataKey
}

func newCache(size int) *cache {
	return &cache{max: size, order: list.New(), byID: make(map[string]*list.Element, size)}
}

// get returns the cached key, or nil and the generation to pass to put.
func (c *cache) get(customerID string, sum [32]byte) (*DataKey, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byID[customerID]; ok {
		e := el.Value.(*cacheEntry)
		if e.sum == sum {
			c.order.MoveToFront(el)
			return e.key, c.gen
		}
	}
	return nil, c.gen
}

func (c *cache) put(customerID string, sum [32]byte, key *DataKey, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || c.max <= 0 {
		return
	}
	if el, ok := c.byID[customerID]; ok {
		el.Value = &cacheEntry{customerID: customerID, sum: sum, key: key}
		c.order.MoveToFront(el)
		return
	}
	c.byID[customerID] = c.order.PushFront(&cacheEntry{customerID: customerID, sum: sum, key: key})
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.byID, oldest.Value.(*cacheEntry).customerID)
	}
}

func (c *cache) remove(customerID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if el, ok := c.byID[customerID]; ok {
		c.order.Remove(el)
		delete(c.byID, customerID)
	}
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
