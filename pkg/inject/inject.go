// Package inject is graceful's one injection pipeline: decide whether a pod
// is injected (pkg/inject/decision), look up the image configs its rewrite
// needs, and rewrite it (pkg/inject/rewrite). The admission handler
// (pkg/webhook/admit) and offline `graceful-webhook inject`
// (pkg/inject/manifest) both run their pods through Pipeline.Run, so the two
// can not drift apart; they differ only at the edges: where namespaces,
// policies and registry credentials come from, and how a Result is answered.
//
// Contract:
//   - Run reads nothing but its arguments and the lookup it is given, and
//     never changes the input pod.
//   - Every image the rewrite needs is looked up once, all in parallel, under
//     the caller's context (its deadline bounds them all).
//   - A failed lookup either ends the run before the rewrite
//     (RejectLookupFailures: Outcome LookupFailed; a lookup needed only for
//     the STOPSIGNAL of a container with a command fails the run too, as the
//     stop signal would be a guess) or gives a warning naming the image and
//     the error, and the rewrite goes on without that config: containers of
//     that image without a command are left unwrapped, those with one are
//     wrapped with SIGTERM as their stop signal (the rewrite's warnings say
//     which).
//   - Warnings come in a stable order: the decision's, the lookups' (by
//     image), the rewrite's.
//   - A pod that a policy in mode Audit selects (decision.ReasonPolicyAudit)
//     goes through the lookups and the rewrite as if it were injected, but
//     the run ends Audited: no pod comes back, a failed lookup is a warning
//     even under RejectLookupFailures, and the last warning says what would
//     have been wrapped and how (Audit): the containers, each one's stop
//     signal, grace period, shutdown budget and drain delay. An Audit
//     policy never changes what is admitted.
package inject

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/init/flags"
	"github.com/graceful-dev/graceful/pkg/inject/decision"
	"github.com/graceful-dev/graceful/pkg/inject/rewrite"
)

// Lookup returns the config (ENTRYPOINT, CMD, STOPSIGNAL) of image ref. The
// caller binds it to the pod (platform, registry credentials); it must be
// safe for concurrent use.
type Lookup func(ctx context.Context, ref string) (rewrite.ImageConfig, error)

// Input is what a pod is decided and rewritten from.
type Input struct {
	// Pod is the pod (or the pod of a template), namespace filled in.
	Pod *corev1.Pod
	// Namespace is the pod's namespace object; nil when unknown (offline) or
	// not found.
	Namespace *corev1.Namespace
	// Policies are the cluster's ShutdownPolicies.
	Policies []v1alpha1.ShutdownPolicy
}

// Pipeline holds the cluster-wide settings of a run. The zero value is not
// usable: Rewrite must be valid (rewrite.Config.Validate).
type Pipeline struct {
	// Rewrite is the cluster-wide rewrite config (image, version, resources).
	Rewrite rewrite.Config
	// ExcludedNamespaces are never injected.
	ExcludedNamespaces []string
	// RejectLookupFailures ends the run at a failed lookup instead of
	// leaving that image's containers unwrapped.
	RejectLookupFailures bool
}

// Outcome is how a run ended.
type Outcome int

const (
	// NotSelected: the decision leaves the pod alone (Result.Decision says why).
	NotSelected Outcome = iota
	// LookupFailed: a lookup failed under RejectLookupFailures (Result.Failures).
	LookupFailed
	// Refused: the rewrite refused the pod (Result.Err), e.g. a foreign
	// volume under graceful's name.
	Refused
	// Rewritten: Result.Pod is the rewritten pod. It may equal the input
	// when there was nothing (more) to wrap.
	Rewritten
	// Audited: a policy in mode Audit selected the pod; it stays as it is,
	// and Result.Audit says what the rewrite would have done.
	Audited
)

// LookupFailure is a failed image config lookup.
type LookupFailure struct {
	Image string
	Err   error
}

// Effect says what a failure that did not end the run did to the pod.
func (f LookupFailure) Effect() string {
	return fmt.Sprintf("image %q: config lookup failed; its containers without a command are left unwrapped, those with one are wrapped with SIGTERM as their stop signal", f.Image)
}

// Result is what a run produced.
type Result struct {
	Outcome  Outcome
	Decision decision.Result
	// Pod is the rewritten pod when Outcome is Rewritten, else nil.
	Pod *corev1.Pod
	// Warnings are every skip and bad setting the user should hear of.
	Warnings []string
	// Failures are the failed lookups, sorted by image.
	Failures []LookupFailure
	// OwnInit are the containers left unwrapped because their entrypoint is
	// an init that must itself be PID 1.
	OwnInit []rewrite.OwnInit
	// Err is the rewrite's refusal when Outcome is Refused, or when Audited
	// and the rewrite would have refused the pod.
	Err error
	// Audit is what would have been wrapped, when Outcome is Audited.
	Audit []AuditedContainer
}

// AuditedContainer is how a container would have been wrapped, read back
// from the command the rewrite gave it.
type AuditedContainer struct {
	Name string
	// StopSignal is the signal graceful-init would have waited for.
	StopSignal string
	// GracePeriod is the pod's grace period as passed to graceful-init.
	GracePeriod time.Duration
	// Budget is how long processes would have had before graceful-init's
	// SIGKILL (contract.ShutdownBudget).
	Budget time.Duration
	// DrainDelay, SignalMap and NoKill are the flags it would have had.
	DrainDelay time.Duration
	SignalMap  string
	NoKill     bool
}

// Run decides, looks up and rewrites in.Pod (see the package contract).
func (p *Pipeline) Run(ctx context.Context, in Input, lookup Lookup) Result {
	d := decision.Decide(decision.Input{Pod: in.Pod, Namespace: in.Namespace, Policies: in.Policies, ExcludedNamespaces: p.ExcludedNamespaces})
	res := Result{Decision: d, Warnings: slices.Clone(d.Warnings)}
	audit := d.Reason == decision.ReasonPolicyAudit
	if !d.Inject && !audit {
		return res
	}
	defaults := defaultsOf(d.Policy)
	// Pod repeats Targets' warnings, so only Pod's are kept.
	_, refs, _ := rewrite.Targets(in.Pod, defaults)
	images, failures := lookupAll(ctx, refs, lookup)
	res.Failures = failures
	if len(failures) > 0 && p.RejectLookupFailures && !audit {
		res.Outcome = LookupFailed
		return res
	}
	for _, f := range failures {
		res.Warnings = append(res.Warnings, fmt.Sprintf("graceful: %s: %v", f.Effect(), f.Err))
	}
	out, err := rewrite.Rewrite(in.Pod, p.Rewrite, defaults, images)
	res.Warnings = append(res.Warnings, out.Warnings...)
	if audit {
		res.Outcome, res.Err, res.OwnInit = Audited, err, out.OwnInit
		if err == nil {
			res.Audit = audited(out.Pod)
		}
		res.Warnings = append(res.Warnings, auditWarning(d.Policy.Name, res.Audit, err))
		return res
	}
	if err != nil {
		res.Outcome, res.Err = Refused, err
		return res
	}
	res.Outcome, res.Pod, res.OwnInit = Rewritten, out.Pod, out.OwnInit
	return res
}

// audited reads how each container graceful-init wraps in the rewritten pod
// would run, from its command (the flags the init would parse).
func audited(pod *corev1.Pod) []AuditedContainer {
	st, err := rewrite.ParseStatus(pod.Annotations[contract.AnnotationStatus])
	if err != nil {
		return nil // nothing wrapped: the rewrite wrote no status
	}
	var out []AuditedContainer
	all := append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...)
	for _, name := range st.Containers {
		i := slices.IndexFunc(all, func(c corev1.Container) bool { return c.Name == name })
		if i < 0 || len(all[i].Command) == 0 {
			continue
		}
		// The rewrite wrote these flags; they parse.
		f, err := flags.Parse(append(slices.Clone(all[i].Command[1:]), all[i].Args...), nil)
		if err != nil {
			continue
		}
		a := AuditedContainer{Name: name, StopSignal: "SIG" + contract.StopSignalName(f.StopSignal), GracePeriod: f.GracePeriod,
			Budget: contract.ShutdownBudget(f.GracePeriod), DrainDelay: f.DrainDelay, NoKill: f.NoKill}
		if len(f.SignalMap) > 0 {
			a.SignalMap = contract.FormatSignalMap(f.SignalMap)
		}
		out = append(out, a)
	}
	return out
}

// auditWarning is the one line that says what policy would have done.
func auditWarning(policy string, cs []AuditedContainer, refused error) string {
	prefix := fmt.Sprintf("graceful: ShutdownPolicy %s (Audit): pod left unchanged", policy)
	switch {
	case refused != nil:
		return fmt.Sprintf("%s; injecting would fail: %v", prefix, refused)
	case len(cs) == 0:
		return prefix + "; injecting would wrap no container"
	}
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		how := fmt.Sprintf("container %q (stop signal %s, grace period %v, SIGKILL of what is left after %v", c.Name, c.StopSignal, c.GracePeriod, c.Budget)
		if c.NoKill {
			how = fmt.Sprintf("container %q (stop signal %s, grace period %v, no SIGKILL (kill=false)", c.Name, c.StopSignal, c.GracePeriod)
		}
		if c.DrainDelay > 0 {
			how += fmt.Sprintf(", drain delay %v", c.DrainDelay)
		}
		if c.SignalMap != "" {
			how += ", signal map " + c.SignalMap
		}
		parts = append(parts, how+")")
	}
	return fmt.Sprintf("%s; injecting would wrap %s", prefix, strings.Join(parts, ", "))
}

// lookupAll resolves every ref (distinct, as rewrite.Targets gives them) in parallel.
func lookupAll(ctx context.Context, refs []string, lookup Lookup) (map[string]rewrite.ImageConfig, []LookupFailure) {
	if len(refs) == 0 {
		return nil, nil
	}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		images   = make(map[string]rewrite.ImageConfig, len(refs))
		failures []LookupFailure
	)
	for _, ref := range refs {
		wg.Go(func() {
			cfg, err := lookup(ctx, ref)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures = append(failures, LookupFailure{Image: ref, Err: err})
				return
			}
			images[ref] = cfg
		})
	}
	wg.Wait()
	slices.SortFunc(failures, func(a, b LookupFailure) int { return strings.Compare(a.Image, b.Image) })
	return images, failures
}

// defaultsOf is what policy p (nil: none) sets for the pods it selects,
// before their own annotations.
func defaultsOf(p *v1alpha1.ShutdownPolicy) rewrite.Defaults {
	if p == nil {
		return rewrite.Defaults{}
	}
	d := rewrite.Defaults{Containers: p.Spec.Containers, SignalMap: p.Spec.SignalMap}
	if p.Spec.DrainDelay != nil {
		dd := p.Spec.DrainDelay.Duration
		d.DrainDelay = &dd
	}
	return d
}

// PodName names a pod in messages: its name, or its generateName followed
// by "*" before the API server picked one.
func PodName(pod *corev1.Pod) string {
	if pod.Name == "" && pod.GenerateName != "" {
		return pod.GenerateName + "*"
	}
	return pod.Name
}
