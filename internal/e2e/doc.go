// Package e2e holds end-to-end tests: the real server, wired and started as
// `resguardo serve` starts it, driven by a real headless Chromium.
//
// The browser tests skip when no Chromium is installed. Set
// RESGUARDO_TEST_BROWSER=required (as CI should) to make that a failure, so
// that a missing browser cannot silently turn the suite green.
package e2e
