//go:build nodemo

package main

import "context"

// The production image is built with -tags nodemo: the demo's embedded
// MySQL engine would add megabytes that a scheduled task never uses.

type noDemoCmd struct{}

func newDemoCmd() command { return noDemoCmd{} }

func (noDemoCmd) Run(context.Context, []string) error {
	return usageErrorf("this mallet was built without the demo (-tags nodemo); run \"go run ./cmd/mallet demo\" from a checkout")
}
