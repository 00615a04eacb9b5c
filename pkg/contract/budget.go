package contract

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// ShutdownBudget is how long graceful-init lets processes run after the stop
// signal before it SIGKILLs them: the grace period less a margin. The webhook
// uses it to check a drain delay against the time the init will really allow.
//
// The margin covers what happens outside the init's clock: the kubelet starts
// counting ~0.1-0.2 s before the signal reaches the container, and after
// SIGKILL the processes must die, be reaped, and the container's exit be
// recorded. It is 10% of the grace period, at least 500 ms and at most 2 s,
// and never more than half of it.
func ShutdownBudget(grace time.Duration) time.Duration {
	m := grace / 10
	m = max(m, 500*time.Millisecond)
	m = min(m, 2*time.Second)
	m = min(m, grace/2)
	return grace - m
}

// MaxDrain is the longest drain delay graceful-init honours within a
// shutdown budget: half of it, so the app keeps the other half to stop. The
// webhook warns about longer delays; the init shortens them.
func MaxDrain(budget time.Duration) time.Duration { return budget / 2 }

// ParseDuration reads a duration as both sides accept it: a Go duration
// ("5s", "1m30s") or a plain number of seconds, as in
// terminationGracePeriodSeconds, surrounding blanks ignored. Negative values
// are refused.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	d, err := time.ParseDuration(t)
	if err != nil {
		const maxSeconds = int64(time.Duration(1<<63-1) / time.Second)
		n, nerr := strconv.ParseInt(t, 10, 64)
		if nerr != nil || n > maxSeconds || n < -maxSeconds {
			return 0, errors.New("not a duration such as 5s")
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 {
		return 0, errors.New("negative")
	}
	return d, nil
}

// StopFloor is the kubelet's minimumGracePeriodInSeconds: however much of
// the grace period the preStop hook used, the runtime sends the stop signal
// at least this long before its SIGKILL.
const StopFloor = 2 * time.Second

// KillAt is when graceful-init SIGKILLs whatever is left, for a shutdown
// whose termination was marked at mark (the preStop hook's start; zero when
// no hook marked it) and whose stop signal (or, if it came first, the main
// process's exit) arrived at stop, in a pod with the given grace period.
//
// The kubelet counts the grace period from the termination's start, so the
// budget does too: mark + ShutdownBudget(grace). A hook that used the grace
// period up still leaves the processes the kubelet's floor: the stop signal
// comes then at least StopFloor before the kubelet's SIGKILL, so the kill is
// never sooner than stop + ShutdownBudget(StopFloor). Without a mark (or a
// mark after stop, which the kubelet never sends) the clock starts at stop:
// stop + ShutdownBudget(grace), with no floor, as for a runtime other than
// the kubelet.
func KillAt(mark, stop time.Time, grace time.Duration) time.Time {
	if mark.IsZero() || mark.After(stop) {
		return stop.Add(ShutdownBudget(grace))
	}
	at := mark.Add(ShutdownBudget(grace))
	if floor := stop.Add(ShutdownBudget(StopFloor)); floor.After(at) {
		return floor
	}
	return at
}
