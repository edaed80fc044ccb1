// Package mallet carries the files of this repository that the binary needs
// at run time without a checkout: the example config, its queries and the
// sample tenant SQL, used by "mallet demo".
package mallet

import "embed"

// Shipped holds config.yaml, queries/*.sql and testdata/sample/*.sql, at
// those paths.
//
//go:embed config.yaml queries/*.sql testdata/sample/*.sql
var Shipped embed.FS
