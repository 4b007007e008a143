// Package testenv holds the rule every test that needs an outside service follows: skip when the
// service is missing on a developer's machine, fail loudly under CI (CI=true).
package testenv

import (
	"os"
	"testing"
)

// Need stops the test when err says a service is missing: Fatal under CI=true, Skip otherwise.
func Need(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%v (CI=true: a missing service is a failure)", err)
	}
	tb.Skipf("%v", err)
}
