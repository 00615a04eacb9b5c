package rewrite

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/graceful-dev/graceful/pkg/contract"
)

// parseDelivery reads a delivery mode; empty is the init container.
func parseDelivery(s string) (string, error) {
	switch s {
	case "", contract.DeliveryInitContainer:
		return contract.DeliveryInitContainer, nil
	case contract.DeliveryImageVolume:
		return contract.DeliveryImageVolume, nil
	}
	return "", fmt.Errorf("delivery %q is neither %s nor %s", s, contract.DeliveryInitContainer, contract.DeliveryImageVolume)
}

// delivery is how graceful-init reaches pod. A pod that already has
// graceful's volume or install container keeps the delivery it has, whatever
// the annotation and the default say now: a second pass (reinvocation, a
// newer webhook, an offline rewrite applied again) never mixes the two.
// Otherwise graceful.dev/delivery decides, else cfg.Delivery; an annotation
// that names no mode is a warning and the default applies. cfg is valid.
func delivery(pod *corev1.Pod, cfg Config) (string, []string) {
	for i := range pod.Spec.Volumes {
		if v := &pod.Spec.Volumes[i]; v.Name == contract.VolumeName {
			if v.Image != nil {
				return contract.DeliveryImageVolume, nil
			}
			return contract.DeliveryInitContainer, nil
		}
	}
	if slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return isOurInstall(&c) }) {
		return contract.DeliveryInitContainer, nil
	}
	def, _ := parseDelivery(cfg.Delivery) // Validate checked it
	v, ok := pod.Annotations[contract.AnnotationDelivery]
	if !ok {
		return def, nil
	}
	mode, err := parseDelivery(v)
	if err != nil || v == "" {
		return def, []string{fmt.Sprintf("annotation %s %q is neither %s nor %s: delivering graceful-init by %s",
			contract.AnnotationDelivery, v, contract.DeliveryInitContainer, contract.DeliveryImageVolume, def)}
	}
	return mode, nil
}

// repository is ref without its digest and tag: registry.example/graceful
// for registry.example/graceful:v1@sha256:... .
func repository(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	return ref
}

// nodeRequirement is the node selector requirement LABEL=true.
func nodeRequirement(label string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: label, Operator: corev1.NodeSelectorOpIn, Values: []string{"true"}}
}

// ensureNodeAffinity adds LABEL=true to the pod's required node affinity:
// to each of its terms (the terms are ORed, a term's requirements ANDed), or
// as the only term when there is none. A term that has it already is left
// as it is.
func ensureNodeAffinity(pod *corev1.Pod, label string) {
	req := nodeRequirement(label)
	if pod.Spec.Affinity == nil {
		pod.Spec.Affinity = &corev1.Affinity{}
	}
	a := pod.Spec.Affinity
	if a.NodeAffinity == nil {
		a.NodeAffinity = &corev1.NodeAffinity{}
	}
	if a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{}
	}
	sel := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	if len(sel.NodeSelectorTerms) == 0 {
		sel.NodeSelectorTerms = []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{req}}}
		return
	}
	for i := range sel.NodeSelectorTerms {
		t := &sel.NodeSelectorTerms[i]
		has := slices.ContainsFunc(t.MatchExpressions, func(r corev1.NodeSelectorRequirement) bool {
			return r.Key == req.Key && r.Operator == req.Operator && slices.Equal(r.Values, req.Values)
		})
		if !has {
			t.MatchExpressions = append(t.MatchExpressions, req)
		}
	}
}
