// Package assurance has no code of its own: its tests check the repository
// against the supply-chain and secure-coding rules of docs/contract.md §8 and §9, so that
// `go test ./...` (and CI) fails when one is broken.
//
//   - register_test.go: every module in go.mod is in the third-party register
//     (docs/third-parties.md) with the same version, and the other way round;
//     every licence is on the allow-list and matches the module's LICENSE file.
//   - sqltext_test.go: no SQL text handed to the database is built from
//     anything but constants (fmt.Sprintf or + of a variable fails).
//   - outbound_test.go: no code outside internal/egress opens a network
//     connection or an HTTP client, so no user-supplied URL is ever fetched.
//   - forbidden_test.go: APIs the design leaves out stay out (math/rand,
//     weak or hand-assembled cryptography, XML and gob decoding, unsafe,
//     debug endpoints, os/exec in the server, TLS below 1.2, unverified TLS,
//     CORS headers, directory listings, test code in the binary).
//   - templates_test.go: password fields are masked and open to password
//     managers, and the pages hold no script or browser storage.
//   - asvs_test.go: docs/asvs.md maps every ASVS 5.0 Level 1 and 2
//     requirement of the chapters it covers, and every test the documents
//     name exists.
//
// The tests read the source tree only; nothing here depends on files outside
// the repository.
package assurance
