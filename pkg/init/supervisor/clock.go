package supervisor

import (
	"time"

	"github.com/graceful-dev/graceful/pkg/contract"
)

// Budget is how long after the stop signal the init lets processes run
// before it SIGKILLs them when no termination mark came
// (contract.ShutdownBudget: the grace period less a margin of 10%, within
// 500 ms to 2 s, at most half).
func Budget(grace time.Duration) time.Duration { return contract.ShutdownBudget(grace) }

// DrainFor is how long the stop signal is held back: the drain delay, capped
// at contract.MaxDrain of the time left until the SIGKILL, so that the app
// keeps time to shut down (the webhook warns about a longer delay by the
// same rule, for the time a shutdown without a hook has).
func DrainFor(drain, left time.Duration) time.Duration {
	return min(drain, contract.MaxDrain(left))
}

// shutdownClock is all of the shutdown's time arithmetic: when termination
// was marked (the preStop hook's start), when the shutdown started (the stop
// signal, or the main child's exit), and from those, when the held-back stop
// signal goes out and when whatever is left is SIGKILLed. Every method is
// given the time it is about and none reads the clock, so the tests pass
// times in.
type shutdownClock struct {
	grace time.Duration // the pod's grace period
	drain time.Duration // the drain delay asked for
	mark  time.Time     // the termination mark; zero when none came
	start time.Time     // the shutdown's start; zero until then
	kill  time.Time     // contract.KillAt of mark and start
	hold  time.Duration // DrainFor of the drain delay and the time left
}

func newShutdownClock(grace, drain time.Duration) shutdownClock {
	return shutdownClock{grace: grace, drain: drain}
}

// markAt records the termination mark at t. The kubelet's grace period
// counts from the termination's start, which the mark reports: the SIGKILL
// will be measured from it, whenever the stop signal comes.
func (c *shutdownClock) markAt(t time.Time) { c.mark = t }

// marked reports whether a termination mark came.
func (c shutdownClock) marked() bool { return !c.mark.IsZero() }

// startAt starts the shutdown at t and fixes its deadlines: the SIGKILL at
// contract.KillAt, and the drain delay capped at half of what is left until
// then. The drain counts from t, not from the mark: it is there for the
// endpoints to take the pod out of rotation, which starts with the
// termination, but a hook that ran longer than the delay has then given
// them that time already, and a drain cut from the time left would hold the
// signal back for nothing while eating the app's share. The cap keeps the
// app at least half of the time between the signal and the SIGKILL, also
// in the 2 s floor case.
func (c *shutdownClock) startAt(t time.Time) {
	c.start = t
	c.kill = contract.KillAt(c.mark, t, c.grace)
	c.hold = DrainFor(c.drain, c.left())
}

// started reports whether the shutdown has started.
func (c shutdownClock) started() bool { return !c.start.IsZero() }

// begun reports whether termination is under way: marked or started.
func (c shutdownClock) begun() bool { return c.marked() || c.started() }

// origin is what the shutdown's times count from: the mark if one came,
// else the start.
func (c shutdownClock) origin() time.Time {
	if c.marked() {
		return c.mark
	}
	return c.start
}

// since is the time from the origin to now.
func (c shutdownClock) since(now time.Time) time.Duration { return now.Sub(c.origin()) }

// killAt is when the budget is spent.
func (c shutdownClock) killAt() time.Time { return c.kill }

// left is the time from the start to the SIGKILL.
func (c shutdownClock) left() time.Duration { return c.kill.Sub(c.start) }

// floored reports whether the SIGKILL was put off to give the processes
// the kubelet's StopFloor: the stop signal came so late after the mark
// that mark + budget was (nearly) over.
func (c shutdownClock) floored() bool {
	return c.marked() && c.kill.After(c.mark.Add(Budget(c.grace)))
}

// markedKill is when a stop signal that came right away would be followed
// by the SIGKILL: the deadline the mark sets.
func (c shutdownClock) markedKill() time.Time { return contract.KillAt(c.mark, c.mark, c.grace) }

// deadline is when phase p ends by itself, if it does: draining when the
// hold is over, stopping when the budget is spent. Both are fixed when the
// shutdown starts, not on entering the phase, so a drain cut short by the
// main child's exit leaves the SIGKILL where it was.
func (c shutdownClock) deadline(p phase) (time.Time, bool) {
	switch p {
	case draining:
		return c.start.Add(c.hold), true
	case stopping:
		return c.kill, true
	}
	return time.Time{}, false
}
