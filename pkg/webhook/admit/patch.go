package admit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// fieldPatch builds the JSON patch from pod to out directly from the fields
// the rewrite edits (pkg/inject/rewrite's contract: annotations, labels,
// volumes, init containers, containers, and the affinity of the image volume
// delivery): one "add" (which replaces an existing member)
// for each field that differs. It reports ok=false when anything else
// differs (a cheap check of the fields next to them), and the caller then
// diffs whole documents. Diffing two full JSON documents costs several
// times the rest of the request.
//
// hasMetadata says whether the object as sent has a metadata member; when it
// has none (the API server always sends one, a fuzzer may not), the
// annotations and labels go in as a new /metadata.
func fieldPatch(pod, out *corev1.Pod, hasMetadata bool) (patch []byte, ok bool, err error) {
	if pod.Name != out.Name || pod.GenerateName != out.GenerateName ||
		len(pod.Spec.EphemeralContainers) != len(out.Spec.EphemeralContainers) || pod.Spec.ServiceAccountName != out.Spec.ServiceAccountName {
		return nil, false, nil
	}
	var b bytes.Buffer
	b.WriteByte('[')
	n := 0
	add := func(path string, changed bool, v any) error {
		if !changed {
			return nil
		}
		enc, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", path, err)
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		fmt.Fprintf(&b, `{"op":"add","path":%q,"value":`, path)
		b.Write(enc)
		b.WriteByte('}')
		return nil
	}
	annotationsChanged := !maps.Equal(pod.Annotations, out.Annotations)
	labelsChanged := !maps.Equal(pod.Labels, out.Labels)
	if hasMetadata {
		if err := add("/metadata/annotations", annotationsChanged, out.Annotations); err != nil {
			return nil, false, err
		}
		err = add("/metadata/labels", labelsChanged, out.Labels)
	} else {
		meta := map[string]any{}
		if annotationsChanged {
			meta["annotations"] = out.Annotations
		}
		if labelsChanged {
			meta["labels"] = out.Labels
		}
		err = add("/metadata", annotationsChanged || labelsChanged, meta)
	}
	if err != nil {
		return nil, false, err
	}
	if err := add("/spec/volumes", !equality.Semantic.DeepEqual(pod.Spec.Volumes, out.Spec.Volumes), out.Spec.Volumes); err != nil {
		return nil, false, err
	}
	if err := add("/spec/initContainers", !equality.Semantic.DeepEqual(pod.Spec.InitContainers, out.Spec.InitContainers), out.Spec.InitContainers); err != nil {
		return nil, false, err
	}
	if err := add("/spec/containers", !equality.Semantic.DeepEqual(pod.Spec.Containers, out.Spec.Containers), out.Spec.Containers); err != nil {
		return nil, false, err
	}
	affinityChanged := !equality.Semantic.DeepEqual(pod.Spec.Affinity, out.Spec.Affinity)
	if affinityChanged && out.Spec.Affinity == nil {
		return nil, false, nil // a removal, which the rewrite never makes: leave it to the full diff
	}
	if err := add("/spec/affinity", affinityChanged, out.Spec.Affinity); err != nil {
		return nil, false, err
	}
	if n == 0 {
		return nil, true, nil
	}
	b.WriteByte(']')
	return b.Bytes(), true, nil
}

// patched is an allowing response carrying a ready-made JSON patch.
func patched(patch []byte) admissionv1.AdmissionResponse {
	pt := admissionv1.PatchTypeJSONPatch
	return admissionv1.AdmissionResponse{Allowed: true, Patch: patch, PatchType: &pt}
}
