// Package metrics defines graceful-webhook's Prometheus metrics. They are
// registered with controller-runtime's metrics.Registry, so the manager's
// metrics endpoint serves them next to controller-runtime's own.
//
//   - graceful_webhook_admissions_total{result,reason}: one per admission
//     request; result is injected, unchanged, denied or error, reason the
//     decision reason (decision.Reason) or "invalid-request".
//   - graceful_webhook_image_lookup_duration_seconds{result}: one per image
//     config lookup (result ok or error), cache hits included.
//   - graceful_webhook_image_cache_hits_total, _misses_total: the image
//     config resolver's cache counters.
//   - graceful_unprotected_pods{namespace,reason}: pods that the current
//     precedence selects but that are not wrapped as the webhook would wrap
//     them now; reason is one of the Drift* constants. Set by the drift
//     controller (on the leader only).
//   - graceful_container_shutdowns_total{namespace,owner_kind,owner_name,outcome}:
//     terminated containers that graceful-init wrapped, by the outcome read
//     from their shutdown report (one of the Outcome* constants). Set by the
//     drift controller (on the leader only).
package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Admission results.
const (
	ResultInjected  = "injected"
	ResultUnchanged = "unchanged"
	ResultDenied    = "denied"
	ResultError     = "error"
	// ResultAudit: a policy in Audit mode selected the pod; it was admitted
	// unchanged, with a warning saying what would have been wrapped.
	ResultAudit = "audit"
)

// Drift reasons: why a pod counts in graceful_unprotected_pods.
const (
	// DriftNotWrapped: selected, but its containers are not wrapped (created
	// before the webhook, while it was down, or before its namespace was
	// labelled).
	DriftNotWrapped = "not-wrapped"
	// DriftOtherVersion: wrapped by a graceful version other than the
	// webhook's.
	DriftOtherVersion = "other-version"
	// DriftAudit: selected by a policy in Audit mode (never wrapped).
	DriftAudit = "audit"
)

// Shutdown outcomes of a wrapped container, read from its termination state.
const (
	// OutcomeClean: every process exited before graceful-init's deadline.
	OutcomeClean = "clean"
	// OutcomeGracefulKill: graceful-init SIGKILLed processes at the budget.
	OutcomeGracefulKill = "graceful-kill"
	// OutcomeKubeletKill: the container ended by SIGKILL from outside
	// (exit 137 without a report that says graceful-init sent it).
	OutcomeKubeletKill = "kubelet-kill"
	// OutcomeUnknown: no report could be read.
	OutcomeUnknown = "unknown"
)

var (
	// Admissions counts admission requests by result and reason.
	Admissions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "graceful_webhook_admissions_total",
		Help: "Admission requests by result (injected, unchanged, audit, denied, error) and decision reason.",
	}, []string{"result", "reason"})

	// UnprotectedPods is the drift controller's count of selected pods that
	// are not wrapped as they should be, by namespace and reason.
	UnprotectedPods = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "graceful_unprotected_pods",
		Help: "Pods that graceful's precedence selects but that are not wrapped by this version, by namespace and reason (not-wrapped, other-version, audit).",
	}, []string{"namespace", "reason"})

	// ContainerShutdowns counts wrapped containers' shutdowns by outcome.
	ContainerShutdowns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "graceful_container_shutdowns_total",
		Help: "Terminated containers wrapped by graceful-init, by namespace, owning workload and outcome (clean, graceful-kill, kubelet-kill, unknown).",
	}, []string{"namespace", "owner_kind", "owner_name", "outcome"})

	// LookupDuration observes image config lookups by result (ok, error).
	LookupDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "graceful_webhook_image_lookup_duration_seconds",
		Help:    "Image config lookups (cache hits included) by result (ok, error).",
		Buckets: []float64{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5},
	}, []string{"result"})
)

// CacheStats reports the image config cache counters.
type CacheStats func() (hits, misses uint64)

var registerOnce sync.Once

// Register adds the metrics to controller-runtime's registry; stats feeds
// the cache counters (nil: not exported). Only the first call registers.
func Register(stats CacheStats) {
	registerOnce.Do(func() {
		crmetrics.Registry.MustRegister(Admissions, LookupDuration, UnprotectedPods, ContainerShutdowns)
		if stats == nil {
			return
		}
		crmetrics.Registry.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "graceful_webhook_image_cache_hits_total",
				Help: "Image config lookups answered from the cache.",
			}, func() float64 { h, _ := stats(); return float64(h) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "graceful_webhook_image_cache_misses_total",
				Help: "Image config lookups that went to the registry.",
			}, func() float64 { _, m := stats(); return float64(m) }),
		)
	})
}
