package rewrite

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/graceful-dev/graceful/pkg/contract"
)

// target is a container to wrap, pointing into the pod it was selected from.
type target struct{ c *corev1.Container }

type selection struct {
	targets  []target
	warnings []string
}

// selectContainers picks the containers to wrap now: the selected wrappable
// containers that are not wrapped yet and whose mount path is free.
func selectContainers(pod *corev1.Pod, d Defaults) selection {
	var sel selection
	chosen := map[string]bool{} // nil map: every wrappable container

	if raw, ok := pod.Annotations[contract.AnnotationContainers]; ok {
		names := contract.SplitList(raw)
		if len(names) == 0 {
			sel.warnings = append(sel.warnings, fmt.Sprintf("%s: %q names no container; ignored", contract.AnnotationContainers, raw))
			chosen = defaultChoice(d)
		}
		for _, n := range names {
			switch kind := containerKind(pod, n); kind {
			case kindWrappable:
				chosen[n] = true
			case kindNone:
				sel.warnings = append(sel.warnings, fmt.Sprintf("%s: %q: the pod has no container %q; that name is ignored", contract.AnnotationContainers, raw, n))
			default:
				sel.warnings = append(sel.warnings, fmt.Sprintf("%s: %q: %q is %s, and only regular containers and native sidecars (init containers with restartPolicy Always) are wrapped; that name is ignored",
					contract.AnnotationContainers, raw, n, kind))
			}
		}
	} else {
		chosen = defaultChoice(d)
	}

	forEachWrappable(pod, func(c *corev1.Container) {
		if chosen != nil && !chosen[c.Name] || isWrapped(c) {
			return
		}
		if v := mountConflict(c); v != "" {
			sel.warnings = append(sel.warnings, fmt.Sprintf("container %q not wrapped: it already mounts volume %q at %s, where graceful-init is mounted",
				c.Name, v, contract.MountPath))
			return
		}
		sel.targets = append(sel.targets, target{c: c})
	})
	return sel
}

// defaultChoice is the policy's container list, or nil for all.
func defaultChoice(d Defaults) map[string]bool {
	if len(d.Containers) == 0 {
		return nil
	}
	m := make(map[string]bool, len(d.Containers))
	for _, n := range d.Containers {
		m[n] = true
	}
	return m
}

type kind string

const (
	kindWrappable kind = "wrappable"
	kindNone      kind = ""
	kindInit      kind = "a plain init container"
	kindEphemeral kind = "an ephemeral container"
)

func containerKind(pod *corev1.Pod, name string) kind {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return kindWrappable
		}
	}
	for i := range pod.Spec.InitContainers {
		if c := &pod.Spec.InitContainers[i]; c.Name == name {
			if isSidecar(c) {
				return kindWrappable
			}
			return kindInit
		}
	}
	for i := range pod.Spec.EphemeralContainers {
		if pod.Spec.EphemeralContainers[i].Name == name {
			return kindEphemeral
		}
	}
	return kindNone
}
