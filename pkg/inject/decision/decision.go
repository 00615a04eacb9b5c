// Package decision says whether a pod gets graceful-init, and why. It is pure:
// the pod, its namespace and the ShutdownPolicies in, a Result out.
//
// Precedence, first match wins (docs/reference.md, "Who gets injected"):
//  1. never: excluded namespaces (the webhook's own and the system ones),
//     mirror/static pods, Windows pods (spec.os.name, the nodeSelector
//     kubernetes.io/os, or a required node affinity that allows only
//     windows); ephemeral containers never reach Decide, since they are added
//     through a subresource that the webhook does not mutate;
//  2. a ShutdownPolicy in mode Enforce that selects the pod: inject, and an
//     opt-out annotation is overruled with a warning;
//  3. the pod annotation graceful.dev/inject: "true" or "false";
//  4. the namespace label graceful.dev/inject: enabled or disabled;
//  5. a ShutdownPolicy in mode Default that selects the pod: inject;
//  6. a ShutdownPolicy in mode Audit that selects the pod: leave the pod
//     alone, but say (Reason ReasonPolicyAudit) that rule 5 would have
//     injected it had the policy been Default;
//  7. otherwise: leave the pod alone.
//
// Among several Enforce or Default policies that select a pod, Enforce ranks
// first, then the oldest, then the first by name; its defaults apply
// whichever rule decided. Audit policies take part in rule 6 only (the
// oldest, then the first by name): an Audit policy never changes what
// another rule decides, nor the defaults of a pod that is injected. A policy
// whose selector does not parse selects nothing.
package decision

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/contract"
)

// Reason is a stable, short reason for metrics and logs.
type Reason string

// The reasons, one for each line of the precedence table.
const (
	ReasonExcludedNamespace Reason = "excluded-namespace"
	ReasonMirrorPod         Reason = "mirror-pod"
	ReasonWindows           Reason = "windows"
	ReasonPolicyEnforce     Reason = "policy-enforce"
	ReasonAnnotationTrue    Reason = "annotation-true"
	ReasonAnnotationFalse   Reason = "annotation-false"
	ReasonNamespaceEnabled  Reason = "namespace-enabled"
	ReasonNamespaceDisabled Reason = "namespace-disabled"
	ReasonPolicyDefault     Reason = "policy-default"
	ReasonPolicyAudit       Reason = "policy-audit"
	ReasonNoMatch           Reason = "no-match"
)

// mirrorAnnotation marks the API copy of a static pod (kubelet's).
const mirrorAnnotation = "kubernetes.io/config.mirror"

// Input is what the decision looks at.
type Input struct {
	Pod *corev1.Pod
	// Namespace is the pod's namespace; nil when unknown (no labels, the name
	// taken from Pod.Namespace).
	Namespace          *corev1.Namespace
	Policies           []v1alpha1.ShutdownPolicy
	ExcludedNamespaces []string
}

// Result is the decision.
type Result struct {
	Inject bool
	Reason Reason
	// Message is one sentence for admission warnings and logs.
	Message string
	// Policy is the highest-ranked Enforce or Default policy selecting the
	// pod, whose defaults apply whichever rule decided; with
	// ReasonPolicyAudit, the Audit policy (whose defaults say how the pod
	// would have been wrapped). nil when none selects the pod, and always
	// nil for the "never" rules. It points into Input.Policies.
	Policy *v1alpha1.ShutdownPolicy
	// Warnings are for the client: overruled opt-outs and unusable values.
	Warnings []string
}

// Decide applies the precedence table.
func Decide(in Input) Result {
	pod := in.Pod
	if pod == nil {
		return Result{Reason: ReasonNoMatch, Message: "no pod"}
	}
	nsName := pod.Namespace
	if in.Namespace != nil && in.Namespace.Name != "" {
		nsName = in.Namespace.Name
	}
	if slices.Contains(in.ExcludedNamespaces, nsName) {
		return Result{Reason: ReasonExcludedNamespace, Message: fmt.Sprintf("namespace %s is excluded from injection", nsName)}
	}
	if _, ok := pod.Annotations[mirrorAnnotation]; ok {
		return Result{Reason: ReasonMirrorPod, Message: "mirror pods of static pods are never injected"}
	}
	if isWindows(pod) {
		return Result{Reason: ReasonWindows, Message: "Windows pods are never injected"}
	}

	var warnings []string
	policy := best(in.Policies, pod, in.Namespace, false)

	annotation, annotationSet := pod.Annotations[contract.AnnotationInject]
	switch annotation {
	case contract.InjectTrue, contract.InjectFalse:
	default:
		if annotationSet {
			warnings = append(warnings, fmt.Sprintf("annotation %s=%q is not \"true\" or \"false\": ignored", contract.AnnotationInject, annotation))
		}
		annotationSet = false
	}

	if policy != nil && policy.Spec.Mode == v1alpha1.ModeEnforce {
		if annotationSet && annotation == contract.InjectFalse {
			warnings = append(warnings, fmt.Sprintf("opt-out annotation %s=false overruled by ShutdownPolicy %s (Enforce)", contract.AnnotationInject, policy.Name))
		}
		return Result{Inject: true, Reason: ReasonPolicyEnforce, Policy: policy, Warnings: warnings,
			Message: fmt.Sprintf("selected by ShutdownPolicy %s (Enforce)", policy.Name)}
	}
	if annotationSet {
		if annotation == contract.InjectTrue {
			return Result{Inject: true, Reason: ReasonAnnotationTrue, Policy: policy, Warnings: warnings,
				Message: fmt.Sprintf("opted in by annotation %s=true", contract.AnnotationInject)}
		}
		return Result{Reason: ReasonAnnotationFalse, Policy: policy, Warnings: warnings,
			Message: fmt.Sprintf("opted out by annotation %s=false", contract.AnnotationInject)}
	}

	if in.Namespace != nil {
		switch v, ok := in.Namespace.Labels[contract.LabelInject]; {
		case !ok:
		case v == contract.NamespaceEnabled:
			return Result{Inject: true, Reason: ReasonNamespaceEnabled, Policy: policy, Warnings: warnings,
				Message: fmt.Sprintf("namespace %s is labelled %s=enabled", nsName, contract.LabelInject)}
		case v == contract.NamespaceDisabled:
			return Result{Reason: ReasonNamespaceDisabled, Policy: policy, Warnings: warnings,
				Message: fmt.Sprintf("namespace %s is labelled %s=disabled", nsName, contract.LabelInject)}
		default:
			warnings = append(warnings, fmt.Sprintf("namespace %s label %s=%q is not enabled or disabled: ignored", nsName, contract.LabelInject, v))
		}
	}

	if policy != nil {
		return Result{Inject: true, Reason: ReasonPolicyDefault, Policy: policy, Warnings: warnings,
			Message: fmt.Sprintf("selected by ShutdownPolicy %s (Default)", policy.Name)}
	}
	if audit := best(in.Policies, pod, in.Namespace, true); audit != nil {
		return Result{Reason: ReasonPolicyAudit, Policy: audit, Warnings: warnings,
			Message: fmt.Sprintf("selected by ShutdownPolicy %s (Audit): left alone", audit.Name)}
	}
	return Result{Reason: ReasonNoMatch, Warnings: warnings, Message: "not opted in and selected by no ShutdownPolicy"}
}

// best returns the highest-ranked policy selecting the pod among the Audit
// policies (audit) or among the others: Enforce first, then the oldest, then
// by name.
func best(policies []v1alpha1.ShutdownPolicy, pod *corev1.Pod, ns *corev1.Namespace, audit bool) *v1alpha1.ShutdownPolicy {
	var top *v1alpha1.ShutdownPolicy
	for i := range policies {
		p := &policies[i]
		if (p.Spec.Mode == v1alpha1.ModeAudit) != audit {
			continue
		}
		if ok, err := Selects(p, pod, ns); err != nil || !ok {
			continue
		}
		if top == nil || ranksAbove(p, top) {
			top = p
		}
	}
	return top
}

func ranksAbove(a, b *v1alpha1.ShutdownPolicy) bool {
	ae, be := a.Spec.Mode == v1alpha1.ModeEnforce, b.Spec.Mode == v1alpha1.ModeEnforce
	if ae != be {
		return ae
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// Causes of Selects' errors, for errors.Is.
var (
	ErrInvalidMode     = errors.New("invalid mode")
	ErrInvalidSelector = errors.New("invalid selector")
)

// policyError is an unusable policy: msg says what is wrong, kind is
// ErrInvalidMode or ErrInvalidSelector.
type policyError struct {
	kind error
	msg  error
}

func (e *policyError) Error() string        { return e.msg.Error() }
func (e *policyError) Unwrap() error        { return e.msg }
func (e *policyError) Is(target error) bool { return target == e.kind }

// Selects reports whether p selects the pod in namespace ns (nil: a namespace
// without labels). Empty or absent selectors select everything; a mode of ""
// counts as Default (the CRD's default). The error names the mode or the
// selector that does not parse, and errors.Is tells ErrInvalidMode from
// ErrInvalidSelector; the webhook writes it into the policy's status.
func Selects(p *v1alpha1.ShutdownPolicy, pod *corev1.Pod, ns *corev1.Namespace) (bool, error) {
	switch p.Spec.Mode {
	case v1alpha1.ModeEnforce, v1alpha1.ModeDefault, v1alpha1.ModeAudit, "":
	default:
		return false, &policyError{ErrInvalidMode, fmt.Errorf("mode %q: want Enforce, Default or Audit", p.Spec.Mode)}
	}
	nsSel, err := selector(p.Spec.NamespaceSelector)
	if err != nil {
		return false, &policyError{ErrInvalidSelector, fmt.Errorf("namespaceSelector: %w", err)}
	}
	podSel, err := selector(p.Spec.PodSelector)
	if err != nil {
		return false, &policyError{ErrInvalidSelector, fmt.Errorf("podSelector: %w", err)}
	}
	var nsLabels labels.Set
	if ns != nil {
		nsLabels = ns.Labels
	}
	return nsSel.Matches(nsLabels) && podSel.Matches(labels.Set(pod.Labels)), nil
}

func selector(s *metav1.LabelSelector) (labels.Selector, error) {
	if s == nil {
		return labels.Everything(), nil
	}
	return metav1.LabelSelectorAsSelector(s)
}

// isWindows: graceful-init is a Linux binary.
func isWindows(pod *corev1.Pod) bool {
	if pod.Spec.OS != nil && strings.EqualFold(string(pod.Spec.OS.Name), string(corev1.Windows)) {
		return true
	}
	if strings.EqualFold(pod.Spec.NodeSelector[corev1.LabelOSStable], string(corev1.Windows)) {
		return true
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	// Terms are alternatives: Windows only when every one of them allows
	// nothing but windows.
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for _, t := range terms {
		if !slices.ContainsFunc(t.MatchExpressions, func(e corev1.NodeSelectorRequirement) bool {
			return e.Key == corev1.LabelOSStable && e.Operator == corev1.NodeSelectorOpIn && len(e.Values) > 0 &&
				!slices.ContainsFunc(e.Values, func(v string) bool { return !strings.EqualFold(v, string(corev1.Windows)) })
		}) {
			return false
		}
	}
	return len(terms) > 0
}
