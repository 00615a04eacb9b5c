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
)

var (
	// Admissions counts admission requests by result and reason.
	Admissions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "graceful_webhook_admissions_total",
		Help: "Admission requests by result (injected, unchanged, denied, error) and decision reason.",
	}, []string{"result", "reason"})

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
		crmetrics.Registry.MustRegister(Admissions, LookupDuration)
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
