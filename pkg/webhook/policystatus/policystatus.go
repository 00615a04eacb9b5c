// Package policystatus keeps the Ready condition of every ShutdownPolicy:
// True when the webhook can use the policy, False with reason
// InvalidSelector (or InvalidMode) and the parse error when it can not. A
// policy that does not parse selects no pod (pkg/inject/decision), so the
// condition is the only place its author learns why.
package policystatus

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/inject/decision"
)

// Condition type and reasons.
const (
	ConditionReady        = "Ready"
	ReasonValid           = "Valid"
	ReasonInvalidSelector = "InvalidSelector"
	ReasonInvalidMode     = "InvalidMode"
)

// Reconciler writes ShutdownPolicy status conditions.
type Reconciler struct {
	Client client.Client
}

// SetupWithManager registers the controller with mgr.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("shutdownpolicy-status").
		For(&v1alpha1.ShutdownPolicy{}).
		Complete(r)
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var p v1alpha1.ShutdownPolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &p); err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("reading ShutdownPolicy %s: %w", req.Name, err)
	}
	cond := Condition(&p)
	if !meta.SetStatusCondition(&p.Status.Conditions, cond) {
		return reconcile.Result{}, nil
	}
	if err := r.Client.Status().Update(ctx, &p); err != nil {
		if apierrors.IsConflict(err) {
			// Someone else wrote the status meanwhile: read it again shortly.
			return reconcile.Result{RequeueAfter: 100 * time.Millisecond}, nil
		}
		return reconcile.Result{}, fmt.Errorf("updating status of ShutdownPolicy %s: %w", p.Name, err)
	}
	return reconcile.Result{}, nil
}

// Condition is the Ready condition p deserves.
func Condition(p *v1alpha1.ShutdownPolicy) metav1.Condition {
	c := metav1.Condition{Type: ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonValid,
		Message: "the webhook uses this policy", ObservedGeneration: p.Generation}
	// Selects parses both selectors and the mode; the pod and namespace are
	// only matched against, so empty ones do.
	if _, err := decision.Selects(p, &corev1.Pod{}, nil); err != nil {
		c.Status = metav1.ConditionFalse
		c.Reason = ReasonInvalidSelector
		if strings.HasPrefix(err.Error(), "mode ") {
			c.Reason = ReasonInvalidMode
		}
		c.Message = err.Error() + ": the policy selects no pod"
	}
	return c
}
