package sqlstore

// CachedContactsVersion is the version at which this DB's contacts cache
// holds the customer's contacts, for tests.
func (db *DB) CachedContactsVersion(customerID string) (int64, bool) {
	db.contacts.mu.RLock()
	defer db.contacts.mu.RUnlock()
	e, ok := db.contacts.m[customerID]
	return e.version, ok
}
