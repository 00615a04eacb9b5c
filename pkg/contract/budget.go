package contract

import "time"

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
