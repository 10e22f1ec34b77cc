//go:build !unix

package doctor

import "io/fs"

// fileOwner: outside Unix, file ownership is an ACL question doctor does
// not answer.
func fileOwner(fs.FileInfo) (uid int, known bool) { return 0, false }
