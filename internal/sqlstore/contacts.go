package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// contactsCache keeps each customer's sealed phones and addresses under the
// customer's contacts version, a counter on the customers row that every
// write to those two tables raises in its own transaction (bumpContacts).
// A bearer-token read takes the token, its family and the customer with that
// version in one statement, and the contacts from here when the versions
// match: one statement per /me instead of a union of three, with the token
// still checked in the database on every request. Whatever another server
// writes raises the version in the database, so no server can answer from a
// stale entry. Entries hold sealed values only, as the database does, and
// are filled only from statements outside a transaction, which see
// committed rows alone.
type contactsCache struct {
	mu sync.RWMutex
	m  map[string]cachedContacts
}

type cachedContacts struct {
	version int64
	phones  []PhoneRow
	addrs   []AddressRow
}

// maxCachedContacts bounds the cache: a few hundred bytes of sealed values
// per customer, so at most a few MiB. When it is full an arbitrary entry
// makes room; a customer not in the cache costs one more statement.
const maxCachedContacts = 4096

func newContactsCache() *contactsCache {
	return &contactsCache{m: make(map[string]cachedContacts)}
}

// lookup returns copies of the lists cached for the customer at this version.
func (cc *contactsCache) lookup(customerID string, version int64) ([]PhoneRow, []AddressRow, bool) {
	if cc == nil {
		return nil, nil, false
	}
	cc.mu.RLock()
	e, ok := cc.m[customerID]
	cc.mu.RUnlock()
	if !ok || e.version != version {
		return nil, nil, false
	}
	return slices.Clone(e.phones), slices.Clone(e.addrs), true
}

// keep records the lists read at this version, unless a newer one is there.
func (cc *contactsCache) keep(customerID string, version int64, phones []PhoneRow, addrs []AddressRow) {
	if cc == nil {
		return
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if e, ok := cc.m[customerID]; ok && e.version > version {
		return
	}
	if _, ok := cc.m[customerID]; !ok && len(cc.m) >= maxCachedContacts {
		for id := range cc.m {
			delete(cc.m, id)
			break
		}
	}
	cc.m[customerID] = cachedContacts{version: version, phones: slices.Clone(phones), addrs: slices.Clone(addrs)}
}

// forget drops a customer's entry (erasure).
func (cc *contactsCache) forget(customerID string) {
	if cc == nil {
		return
	}
	cc.mu.Lock()
	delete(cc.m, customerID)
	cc.mu.Unlock()
}

// bumpContacts raises the customer's contacts version. Every statement that
// writes customer_phones or customer_addresses is followed by it, in the
// same transaction, so that no server answers from contacts it cached
// before the write (TestContactsVersionFollowsEveryWrite).
func (c Conn) bumpContacts(ctx context.Context, customerID string) error {
	if _, err := c.exec(ctx, `UPDATE customers SET contacts_version = contacts_version + 1 WHERE id = ?`, customerID); err != nil {
		return fmt.Errorf("raise contacts version: %w", err)
	}
	return nil
}
