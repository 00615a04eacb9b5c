package supervisor

import (
	"time"

	"github.com/graceful-dev/graceful/pkg/contract"
)

// Budget is how long after the stop signal the init lets processes run
// before it SIGKILLs them (contract.ShutdownBudget: the grace period less a
// margin of 10%, within 500 ms to 2 s, at most half).
func Budget(grace time.Duration) time.Duration { return contract.ShutdownBudget(grace) }

// DrainFor is how long the stop signal is held back: the drain delay, capped
// at contract.MaxDrain of the budget so that the app keeps time to shut down
// (the webhook warns about a longer delay by the same rule).
func DrainFor(drain, budget time.Duration) time.Duration {
	return min(drain, contract.MaxDrain(budget))
}

// shutdownClock is all of the shutdown's time arithmetic: when the shutdown
// started and, counted from that moment, when the held-back stop signal goes
// out and when whatever is left is SIGKILLed. Every method is given the time
// it is about and none reads the clock, so the start may be any moment (the
// stop signal's arrival today) and the tests pass times in.
type shutdownClock struct {
	budget time.Duration // Budget of the grace period
	hold   time.Duration // DrainFor of the drain delay
	start  time.Time     // zero until the shutdown starts
}

func newShutdownClock(grace, drain time.Duration) shutdownClock {
	b := Budget(grace)
	return shutdownClock{budget: b, hold: DrainFor(drain, b)}
}

// startAt starts the shutdown at t.
func (c *shutdownClock) startAt(t time.Time) { c.start = t }

// started reports whether the shutdown has started.
func (c shutdownClock) started() bool { return !c.start.IsZero() }

// since is how long the shutdown has run at now.
func (c shutdownClock) since(now time.Time) time.Duration { return now.Sub(c.start) }

// killAt is when the budget is spent.
func (c shutdownClock) killAt() time.Time { return c.start.Add(c.budget) }

// deadline is when phase p ends by itself, if it does: draining when the
// hold is over, stopping when the budget is spent. Both count from the start,
// not from entering the phase, so a drain cut short by the main child's exit
// leaves the SIGKILL where it was.
func (c shutdownClock) deadline(p phase) (time.Time, bool) {
	switch p {
	case draining:
		return c.start.Add(c.hold), true
	case stopping:
		return c.killAt(), true
	}
	return time.Time{}, false
}
