package fleet

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/inject/rewrite"
	"github.com/graceful-dev/graceful/pkg/webhook/metrics"
)

// Outcome reads a wrapped container's termination: the outcome (one of
// metrics.Outcome*) and the report it is read from (ok false: none).
//   - a shutdown report (contract.ParseReport) that SIGKILLed nothing:
//     clean; one that SIGKILLed at the budget: graceful-kill;
//   - no report and exit code 137 or signal 9: kubelet-kill (the kubelet's
//     SIGKILL at the grace period, an OOM kill, a shorter delete);
//   - anything else: unknown (the app wrote its own termination message, or
//     the main process ended by itself, which gets no report).
func Outcome(t *corev1.ContainerStateTerminated) (outcome string, r contract.Report, ok bool) {
	if r, ok := contract.ParseReport(t.Message); ok {
		if r.Killed > 0 {
			return metrics.OutcomeGracefulKill, r, true
		}
		return metrics.OutcomeClean, r, true
	}
	if t.ExitCode == 137 || t.Signal == 9 {
		return metrics.OutcomeKubeletKill, contract.Report{}, false
	}
	return metrics.OutcomeUnknown, contract.Report{}, false
}

// outcomeReconciler counts the terminations of wrapped containers.
type outcomeReconciler struct {
	o      Options
	pods   cache.Cache // wrapped pods, slim
	owners *ownerReader
	since  time.Time // terminations that finished before are not counted

	mu   sync.Mutex
	seen map[types.NamespacedName]podSeen
}

// podSeen is what was counted of one pod: terminations by key.
type podSeen struct {
	uid  types.UID
	keys map[string]bool
}

func (r *outcomeReconciler) setup(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("shutdown-outcomes").
		WatchesRawSource(source.Kind(r.pods, &corev1.Pod{}, &handler.TypedEnqueueRequestForObject[*corev1.Pod]{})).
		Complete(r)
}

// Reconcile implements reconcile.Reconciler.
func (r *outcomeReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	r.mu.Lock()
	if r.since.IsZero() {
		// The first reconcile runs once this replica leads.
		r.since = time.Now().Add(-r.o.Lookback)
	}
	r.mu.Unlock()
	var pod corev1.Pod
	if err := r.pods.Get(ctx, req.NamespacedName, &pod); err != nil {
		if apierrors.IsNotFound(err) {
			r.mu.Lock()
			delete(r.seen, req.NamespacedName)
			r.mu.Unlock()
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("reading pod %s: %w", req, err)
	}
	st, err := rewrite.ParseStatus(pod.Annotations[contract.AnnotationStatus])
	if err != nil {
		return reconcile.Result{}, nil // labelled but no status: nothing to read
	}
	type term struct {
		container string
		key       string
		t         *corev1.ContainerStateTerminated
	}
	var terms []term
	for _, cs := range slices.Concat(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses) {
		if !slices.Contains(st.Containers, cs.Name) {
			continue
		}
		for _, t := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
			if t == nil {
				continue
			}
			key := t.ContainerID
			if key == "" {
				key = fmt.Sprintf("%s/%s/%d", cs.Name, t.FinishedAt.UTC().Format(time.RFC3339), cs.RestartCount)
			}
			terms = append(terms, term{cs.Name, key, t})
		}
	}

	r.mu.Lock()
	seen, ok := r.seen[req.NamespacedName]
	if !ok || seen.uid != pod.UID {
		seen = podSeen{uid: pod.UID, keys: map[string]bool{}}
	}
	keys := map[string]bool{}
	var fresh []term
	for _, t := range terms {
		keys[t.key] = true
		if !seen.keys[t.key] && !t.t.FinishedAt.Time.Before(r.since) {
			fresh = append(fresh, t)
		}
	}
	r.mu.Unlock()
	// Only what the status still shows is kept: a termination leaves it
	// for good after a second restart. Kept once counted: a failed owner
	// walk is retried.
	done := func() {
		r.mu.Lock()
		r.seen[req.NamespacedName] = podSeen{uid: pod.UID, keys: keys}
		r.mu.Unlock()
	}
	if len(fresh) == 0 {
		done()
		return reconcile.Result{}, nil
	}
	w, err := r.owners.owner(ctx, &pod)
	if err != nil {
		return reconcile.Result{}, err
	}
	done()
	for _, t := range fresh {
		outcome, rep, _ := Outcome(t.t)
		metrics.ContainerShutdowns.WithLabelValues(pod.Namespace, w.Kind, w.Name, outcome).Inc()
		if outcome != metrics.OutcomeGracefulKill || r.o.Events == nil {
			continue
		}
		procs := make([]string, 0, len(rep.KilledProcesses))
		for _, p := range rep.KilledProcesses {
			procs = append(procs, fmt.Sprintf("pid %d (%s)", p.PID, p.Command))
		}
		if len(procs) < rep.Killed {
			procs = append(procs, fmt.Sprintf("%d more", rep.Killed-len(procs)))
		}
		r.o.Events.Eventf(w.Ref(), nil, corev1.EventTypeWarning, EventReasonKilled, "Shutdown",
			"graceful: container %s of pod %s did not stop within its shutdown budget; graceful-init SIGKILLed %s",
			t.container, pod.Name, strings.Join(procs, ", "))
	}
	return reconcile.Result{}, nil
}
