// Package seed is graceful's seed scenario, shared by the e2e tests and
// `make demo`: a pod whose main process is a shell that starts a worker and
// a setsid daemon, each of the three needing 1 s of cleanup on SIGTERM. The
// shell then waits for its children, as a launcher does.
//
// Without an init that signals everyone, only the shell (PID 1) hears the
// stop; it waits for children that never end, and the kubelet SIGKILLs the
// lot at the end of the grace period. Under graceful-init all three get
// SIGTERM, clean up, and the pod is gone a couple of seconds after the delete.
//
// Run stops pods of the scenario and reads what happened from their logs;
// Outcome says, per process, whether it got SIGTERM and finished its cleanup.
package seed

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/test/podrun"
)

// Script is the scenario, for /bin/sh -c with busybox. It first names PID 1.
const Script = podrun.PrintPID1 + `
cleanup='echo "$0: got SIGTERM"; sleep 1; echo "$0: cleanup done"; exit 0'
sh -c "trap '$cleanup' TERM; echo worker: started; while :; do sleep 1 & wait \$!; done" worker &
setsid sh -c "trap '$cleanup' TERM; echo daemon: started; while :; do sleep 1 & wait \$!; done" daemon &
trap 'echo "main: got SIGTERM"; sleep 1; echo "main: cleanup done"; wait; echo "main: children gone"; exit 0' TERM
echo main: started
while :; do sleep 1 & wait $!; done`

// Container is the name of the scenario's one container.
const Container = "app"

// Processes are the scenario's processes, as they name themselves in the log.
var Processes = []string{"main", "worker", "daemon"}

// Pod is a pod running the scenario from image (busybox's sh, tr, sleep and
// setsid at least) with the given grace period.
func Pod(name, ns, image string, grace int64) *corev1.Pod {
	return podrun.ShellPod(name, ns, image, grace, Script)
}

// Process is what one process of the scenario logged.
type Process struct {
	Name        string
	Started     bool
	GotTERM     bool
	CleanupDone bool
}

// Outcome is how one pod of the scenario stopped.
type Outcome struct {
	Pod          string
	Injected     bool // admission left graceful's status annotation on the pod
	Grace        time.Duration
	PID1         string // argv[0] of PID 1, as the pod saw it
	Processes    []Process
	ChildrenGone bool // the main shell saw its children end before it exited
	Stop         podrun.Stop
	Log          string // the container's log, with timestamps
}

// Analyze reads the scenario's log lines and the pod's stop.
func Analyze(pod string, grace time.Duration, lines []podrun.Line, stop podrun.Stop) Outcome {
	o := Outcome{Pod: pod, Grace: grace, Stop: stop, ChildrenGone: podrun.Has(lines, "main: children gone")}
	o.PID1, _ = podrun.PID1(lines)
	for _, n := range Processes {
		o.Processes = append(o.Processes, Process{
			Name:        n,
			Started:     podrun.Has(lines, n+": started"),
			GotTERM:     podrun.Has(lines, n+": got SIGTERM"),
			CleanupDone: podrun.Has(lines, n+": cleanup done"),
		})
	}
	return o
}

// Clean reports whether every process got SIGTERM and finished its cleanup,
// the main shell saw its children end, and the container exited 0.
func (o Outcome) Clean() bool {
	for _, p := range o.Processes {
		if !p.GotTERM || !p.CleanupDone {
			return false
		}
	}
	return o.ChildrenGone && o.Stop.ExitCode == 0
}

// Killed reports whether the container ended by SIGKILL (exit 137): every
// process still running then was killed with it. The kubelet also reports
// 137 for a container it lost track of (reason ContainerStatusUnknown);
// that is not counted.
func (o Outcome) Killed() bool {
	return o.Stop.ExitCode == 137 && o.Stop.Reason != "ContainerStatusUnknown"
}

// Fate says in a few words what happened to p: whether it got SIGTERM,
// finished its cleanup, and whether SIGKILL ended it. A process of the
// scenario never ends on its own, so one that had not finished its cleanup
// when the container was SIGKILLed was killed.
func (o Outcome) Fate(p Process) string {
	var s string
	switch {
	case !p.Started:
		return "never started"
	case p.GotTERM && p.CleanupDone:
		s = "SIGTERM, cleanup done"
	case p.GotTERM:
		s = "SIGTERM, cleanup cut short"
	default:
		s = "no SIGTERM"
	}
	switch {
	case !o.Killed():
	case p.Name == "main" && p.CleanupDone && !o.ChildrenGone:
		s += "; SIGKILLed waiting for its children"
	case !p.CleanupDone:
		s += "; SIGKILLed"
	}
	return s
}

// Run starts the pods together, waits until every process of each has
// started, deletes them together and returns how each stopped, in order.
// The pods must run the scenario in container Container.
func Run(ctx context.Context, c podrun.Client, pods ...*corev1.Pod) ([]Outcome, error) {
	each := func(f func(i int, p *corev1.Pod) error) error {
		errs := make([]error, len(pods))
		var wg sync.WaitGroup
		for i, p := range pods {
			wg.Go(func() { errs[i] = f(i, p) })
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	injected := make([]bool, len(pods))
	if err := each(func(i int, p *corev1.Pod) error {
		created, _, err := c.Start(ctx, p)
		if err != nil {
			return err
		}
		_, injected[i] = created.Annotations[contract.AnnotationStatus]
		for _, n := range Processes {
			if _, err := c.WaitLog(ctx, p.Name, Container, n+": started"); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	streams := make([]*podrun.LogStream, len(pods))
	if err := each(func(i int, p *corev1.Pod) (err error) {
		streams[i], err = c.Follow(ctx, p.Name, Container)
		return err
	}); err != nil {
		for _, ls := range streams {
			if ls != nil {
				ls.Close()
			}
		}
		return nil, err
	}
	out := make([]Outcome, len(pods))
	err := each(func(i int, p *corev1.Pod) error {
		stop, err := c.Delete(ctx, p.Name, Container)
		if err != nil {
			return err
		}
		text, err := streams[i].Wait(time.Minute)
		if err != nil {
			return err
		}
		lines, err := podrun.ParseLog(text)
		if err != nil {
			return fmt.Errorf("pod %s: %w", p.Name, err)
		}
		var grace time.Duration
		if g := p.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = time.Duration(*g) * time.Second
		}
		out[i] = Analyze(p.Name, grace, lines, stop)
		out[i].Log, out[i].Injected = text, injected[i]
		return nil
	})
	return out, err
}
