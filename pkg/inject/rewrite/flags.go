package rewrite

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/graceful-dev/graceful/pkg/contract"
)

const (
	// defaultGracePeriodSeconds is Kubernetes' default terminationGracePeriodSeconds.
	defaultGracePeriodSeconds = 30
)

// gracePeriod is the grace period graceful-init gets: the pod's, raised to
// the kubelet's minimum (contract.StopFloor): no container is stopped with less.
func gracePeriod(pod *corev1.Pod) time.Duration {
	g := int64(defaultGracePeriodSeconds)
	if p := pod.Spec.TerminationGracePeriodSeconds; p != nil {
		g = *p
	}
	return max(time.Duration(g)*time.Second, contract.StopFloor)
}

// podFlags returns the start of graceful-init's command that is the same for
// every container of the pod (the init's path, then --grace-period,
// --drain-delay, --signal-map and --kill), and warnings about annotations
// and defaults it had to ignore. containerFlags adds the rest.
func podFlags(pod *corev1.Pod, d Defaults) (flags []string, warnings []string) {
	grace := gracePeriod(pod)
	flags = []string{contract.InitPath, fmt.Sprintf("%s=%ds", contract.FlagGracePeriod, int64(grace/time.Second))}

	var drain time.Duration
	drainFrom := ""
	if raw, ok := pod.Annotations[contract.AnnotationDrainDelay]; ok {
		if v, err := contract.ParseDuration(raw); err != nil {
			warnings = append(warnings, fmt.Sprintf("%s: %q: %v; ignored", contract.AnnotationDrainDelay, raw, err))
		} else {
			drain, drainFrom = v, fmt.Sprintf("%s: %q", contract.AnnotationDrainDelay, raw)
		}
	}
	if drainFrom == "" && d.DrainDelay != nil {
		if *d.DrainDelay < 0 {
			warnings = append(warnings, fmt.Sprintf("ShutdownPolicy drainDelay %s: negative; ignored", *d.DrainDelay))
		} else {
			drain, drainFrom = *d.DrainDelay, fmt.Sprintf("ShutdownPolicy drainDelay %s", *d.DrainDelay)
		}
	}
	if drain > 0 {
		flags = append(flags, contract.FlagDrainDelay+"="+drain.String())
		if limit := contract.MaxDrain(contract.ShutdownBudget(grace)); drain > limit {
			warnings = append(warnings, fmt.Sprintf("%s: longer than graceful-init allows with a grace period of %s; it will hold the stop signal back for %s only (half its shutdown budget), so the app keeps time to stop",
				drainFrom, grace, limit))
		}
	}

	signalMap, set := "", false
	if raw, ok := pod.Annotations[contract.AnnotationSignalMap]; ok {
		if strings.TrimSpace(raw) == "" {
			set = true // an empty map clears the default
		} else if m, err := contract.ParseSignalMap(raw); err != nil {
			warnings = append(warnings, fmt.Sprintf("%s: %q: %v; ignored", contract.AnnotationSignalMap, raw, err))
		} else {
			signalMap, set = contract.FormatSignalMap(m), true
		}
	}
	if !set && d.SignalMap != "" {
		if m, err := contract.ParseSignalMap(d.SignalMap); err != nil {
			warnings = append(warnings, fmt.Sprintf("ShutdownPolicy signalMap %q: %v; ignored", d.SignalMap, err))
		} else {
			signalMap = contract.FormatSignalMap(m)
		}
	}
	if signalMap != "" {
		flags = append(flags, contract.FlagSignalMap+"="+signalMap)
	}

	switch raw, ok := pod.Annotations[contract.AnnotationKill]; {
	case !ok || raw == contract.InjectTrue:
	case raw == contract.InjectFalse:
		flags = append(flags, contract.FlagKill+"=false")
	default:
		warnings = append(warnings, fmt.Sprintf("%s: %q is not \"true\" or \"false\"; ignored, graceful-init kills what is left at the deadline", contract.AnnotationKill, raw))
	}
	return flags, warnings
}
