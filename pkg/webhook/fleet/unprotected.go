package fleet

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/drift"
	"github.com/graceful-dev/graceful/pkg/webhook/metrics"
)

// driftReconciler keeps graceful_unprotected_pods: one reconcile a pod,
// and every pod again when its namespace or any policy changes.
type driftReconciler struct {
	o         Options
	meta      cache.Cache   // pods, ReplicaSets, Jobs: metadata only
	decisions client.Reader // namespaces and policies
	api       client.Reader // full pods, uncached
	owners    *ownerReader
	state     *driftState
}

// driftState is what the gauge counts, per pod, and the Events sent.
type driftState struct {
	mu   sync.Mutex
	pods map[types.NamespacedName]unprotected
	// confirmed: the full pod's answer for a pod whose metadata drifts
	// (drifts: it does), kept while the pod exists.
	confirmed map[types.NamespacedName]confirmation
	// workloads counts drifting pods per workload and reason; an Event was
	// sent for each key present.
	workloads map[workloadKey]int
	// series counts drifting pods per gauge series.
	series map[[2]string]int
}

type confirmation struct {
	uid    types.UID
	drifts bool
}

type unprotected struct {
	uid      types.UID
	reason   string
	workload workloadKey
}

type workloadKey struct {
	namespace, kind, name, reason string
}

func newDriftState() *driftState {
	return &driftState{pods: map[types.NamespacedName]unprotected{}, confirmed: map[types.NamespacedName]confirmation{},
		workloads: map[workloadKey]int{}, series: map[[2]string]int{}}
}

func (r *driftReconciler) setup(mgr ctrl.Manager) error {
	all := handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, _ *v1alpha1.ShutdownPolicy) []reconcile.Request {
		return r.podsIn(ctx, "")
	})
	ns := handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, n *corev1.Namespace) []reconcile.Request {
		return r.podsIn(ctx, n.Name)
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("drift").
		WatchesRawSource(source.Kind(r.meta, metaOf("v1", "Pod"), &handler.TypedEnqueueRequestForObject[*metav1.PartialObjectMetadata]{})).
		WatchesRawSource(source.Kind(mgr.GetCache(), &v1alpha1.ShutdownPolicy{}, all)).
		WatchesRawSource(source.Kind(mgr.GetCache(), &corev1.Namespace{}, ns)).
		// The workload walk reads these; watching them starts their informers
		// with the controller.
		WatchesRawSource(source.Kind(r.meta, metaOf("apps/v1", "ReplicaSet"), &handler.TypedFuncs[*metav1.PartialObjectMetadata, reconcile.Request]{})).
		WatchesRawSource(source.Kind(r.meta, metaOf("batch/v1", "Job"), &handler.TypedFuncs[*metav1.PartialObjectMetadata, reconcile.Request]{})).
		Complete(r)
}

// podsIn lists the pods of namespace ns ("" all) from the metadata cache.
func (r *driftReconciler) podsIn(ctx context.Context, ns string) []reconcile.Request {
	list := metaListOf("v1", "Pod")
	if err := r.meta.List(ctx, list, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
		logf.FromContext(ctx).Error(err, "listing pods for a resync", "namespace", ns)
		return nil
	}
	out := make([]reconcile.Request, len(list.Items))
	for i := range list.Items {
		out[i] = reconcile.Request{NamespacedName: types.NamespacedName{Namespace: list.Items[i].Namespace, Name: list.Items[i].Name}}
	}
	return out
}

// Reconcile implements reconcile.Reconciler.
func (r *driftReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	pm := metaOf("v1", "Pod")
	if err := r.meta.Get(ctx, req.NamespacedName, pm); err != nil {
		if apierrors.IsNotFound(err) {
			r.state.forget(req.NamespacedName, true)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("reading pod %s: %w", req, err)
	}
	in, err := r.input(ctx, &corev1.Pod{ObjectMeta: pm.ObjectMeta})
	if err != nil {
		return reconcile.Result{}, err
	}
	f := drift.Check(in)
	if f.Reason != "" {
		if f, err = r.confirm(ctx, in, f); err != nil {
			return reconcile.Result{}, err
		}
	}
	if f.Reason == "" {
		r.state.forget(req.NamespacedName, false)
		return reconcile.Result{}, nil
	}
	w, err := r.owners.owner(ctx, pm)
	if err != nil {
		return reconcile.Result{}, err
	}
	if first := r.state.set(req.NamespacedName, unprotected{uid: pm.UID, reason: f.Reason,
		workload: workloadKey{namespace: w.Namespace, kind: w.Kind, name: w.Name, reason: f.Reason}}); first && r.o.Events != nil {
		r.o.Events.Eventf(w.Ref(), nil, corev1.EventTypeWarning, EventReasonUnprotected, "Drift", "%s", note(w, pm.Name, f, r.o.Version))
	}
	return reconcile.Result{}, nil
}

// note is the Event's text.
func note(w drift.Workload, pod string, f drift.Finding, version string) string {
	var what string
	switch f.Reason {
	case metrics.DriftNotWrapped:
		what = fmt.Sprintf("is not wrapped by graceful (%s)", f.Decision.Message)
	case metrics.DriftOtherVersion:
		what = fmt.Sprintf("is wrapped by graceful %s, not %s", f.WrappedVersion, version)
	case metrics.DriftAudit:
		what = fmt.Sprintf("would be wrapped but is not (%s)", f.Decision.Message)
	}
	return fmt.Sprintf("graceful: pod %s of %s %s; fix: %s", pod, w, what, drift.FixFor(f, w, pod))
}

// input is drift.Check's input for pod.
func (r *driftReconciler) input(ctx context.Context, pod *corev1.Pod) (drift.Input, error) {
	in := drift.Input{Pod: pod, ExcludedNamespaces: r.o.ExcludedNamespaces, Version: r.o.Version}
	var ns corev1.Namespace
	switch err := r.decisions.Get(ctx, types.NamespacedName{Name: pod.Namespace}, &ns, client.UnsafeDisableDeepCopy); {
	case err == nil:
		in.Namespace = &ns
	case !apierrors.IsNotFound(err):
		return in, fmt.Errorf("reading namespace %s: %w", pod.Namespace, err)
	}
	var policies v1alpha1.ShutdownPolicyList
	if err := r.decisions.List(ctx, &policies, client.UnsafeDisableDeepCopy); err != nil {
		return in, fmt.Errorf("listing ShutdownPolicies: %w", err)
	}
	in.Policies = policies.Items
	return in, nil
}

// confirm checks a drifting pod once more with its spec, once per UID.
// Only the spec's "never" rules (Windows) can differ, and those do not
// change while the pod lives.
func (r *driftReconciler) confirm(ctx context.Context, in drift.Input, f drift.Finding) (drift.Finding, error) {
	uid := in.Pod.UID
	key := types.NamespacedName{Namespace: in.Pod.Namespace, Name: in.Pod.Name}
	if drifts, ok := r.state.confirmation(key, uid); ok {
		if !drifts {
			f.Reason = ""
		}
		return f, nil
	}
	var full corev1.Pod
	if err := r.api.Get(ctx, types.NamespacedName{Namespace: in.Pod.Namespace, Name: in.Pod.Name}, &full); err != nil {
		if apierrors.IsNotFound(err) {
			f.Reason = "" // gone: its delete event follows
			return f, nil
		}
		return f, fmt.Errorf("reading pod %s/%s: %w", in.Pod.Namespace, in.Pod.Name, err)
	}
	if full.UID != uid {
		f.Reason = "" // replaced by a pod of the same name: its own event follows
		return f, nil
	}
	if decision := drift.Check(drift.Input{Pod: &full, Namespace: in.Namespace, Policies: in.Policies,
		ExcludedNamespaces: in.ExcludedNamespaces, Version: in.Version}); decision.Decision.Reason != f.Decision.Reason {
		r.state.confirm(key, uid, false)
		f.Reason = ""
		return f, nil
	}
	r.state.confirm(key, uid, true)
	return f, nil
}

func (s *driftState) confirmation(pod types.NamespacedName, uid types.UID) (drifts, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.confirmed[pod]
	return c.drifts, ok && c.uid == uid
}

func (s *driftState) confirm(pod types.NamespacedName, uid types.UID, drifts bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.confirmed[pod] = confirmation{uid: uid, drifts: drifts}
}

// set records pod as unprotected and moves the gauge; first is true when
// its workload had no drifting pod for that reason before.
func (s *driftState) set(pod types.NamespacedName, u unprotected) (first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.pods[pod]; ok {
		if old == u {
			return false
		}
		s.dropLocked(pod, old)
	}
	s.pods[pod] = u
	metrics.UnprotectedPods.WithLabelValues(pod.Namespace, u.reason).Inc()
	s.series[[2]string{pod.Namespace, u.reason}]++
	s.workloads[u.workload]++
	return s.workloads[u.workload] == 1
}

// forget drops pod from the count: it is fine now, or gone (then what was
// confirmed of it goes too).
func (s *driftState) forget(pod types.NamespacedName, gone bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.pods[pod]; ok {
		s.dropLocked(pod, old)
	}
	if gone {
		delete(s.confirmed, pod)
	}
}

func (s *driftState) dropLocked(pod types.NamespacedName, u unprotected) {
	delete(s.pods, pod)
	if s.workloads[u.workload]--; s.workloads[u.workload] <= 0 {
		delete(s.workloads, u.workload)
	}
	key := [2]string{pod.Namespace, u.reason}
	if s.series[key]--; s.series[key] > 0 {
		metrics.UnprotectedPods.WithLabelValues(pod.Namespace, u.reason).Dec()
		return
	}
	// A series with nothing left goes: namespaces come and go, and a zero
	// for each would stay.
	delete(s.series, key)
	metrics.UnprotectedPods.DeleteLabelValues(pod.Namespace, u.reason)
}
