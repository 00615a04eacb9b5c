package envtestenv

import (
	"context"
	"testing"
)

// Run calls run (a manager's Start, say) in a goroutine for the rest of
// the test: t's cleanup cancels run's context and waits for it to return,
// and an error it returns fails t, named by what.
func Run(t testing.TB, what string, run func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", what, err)
		}
	})
}
