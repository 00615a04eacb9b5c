// Package manifest rewrites Kubernetes manifests offline, the way the webhook
// would rewrite the pods they create: `graceful-webhook inject -f FILE`.
//
// Contract:
//   - Input is a multi-document YAML (or JSON) stream. Every Pod and every pod
//     template (Deployment, StatefulSet, DaemonSet, ReplicaSet,
//     ReplicationController, Job, CronJob, PodTemplate, and the items of a
//     List, recursively) goes through the same decision and rewrite as in the
//     webhook. Documents of other kinds, and workloads left alone by the
//     decision, are written back byte for byte.
//   - All or nothing: on any error (bad YAML, an image whose config can not be
//     looked up, a rewrite error) nothing is written and the error names the
//     document index (0-based), its kind/name and the cause.
//   - Running it on its own output changes nothing.
package manifest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/inject"
	"github.com/graceful-dev/graceful/pkg/inject/rewrite"
)

// ResolveFunc returns the config (ENTRYPOINT, CMD, STOPSIGNAL) of image ref
// for the pod's platform.
type ResolveFunc func(ctx context.Context, ref string, pod *corev1.Pod) (rewrite.ImageConfig, error)

// Injector rewrites manifests. The zero value is not usable: Config.Image and
// Resolve must be set.
type Injector struct {
	// Config is passed to rewrite.Pod for every selected pod.
	Config rewrite.Config
	// All treats every pod as if its namespace were labelled
	// graceful.dev/inject=enabled: opted in, except
	// those the decision never injects (excluded namespaces, mirror and
	// Windows pods) and those that opt out explicitly.
	All bool
	// Policies are ShutdownPolicies to decide with, as the webhook would.
	Policies []v1alpha1.ShutdownPolicy
	// ExcludedNamespaces are never injected.
	ExcludedNamespaces []string
	// Resolve looks up the image configs the rewrite needs
	// (rewrite.Targets).
	Resolve ResolveFunc
	// Warn receives one line for every skip or bad setting; may be nil.
	Warn func(string)
}

// Inject reads a YAML stream from r and writes the rewritten stream to w, all
// or nothing (see the package contract).
func (in *Injector) Inject(ctx context.Context, r io.Reader, w io.Writer) error {
	docs, err := split(r)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	for i, doc := range docs {
		res, err := in.document(ctx, doc)
		if err != nil {
			return fmt.Errorf("document %d%s: %w", i, describe(doc), err)
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(res)
		if len(res) > 0 && res[len(res)-1] != '\n' {
			out.WriteByte('\n')
		}
	}
	_, err = w.Write(out.Bytes())
	return err
}

// split cuts a stream into its documents, keeping each one's bytes.
func split(r io.Reader) ([][]byte, error) {
	yr := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var docs [][]byte
	for {
		doc, err := yr.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: read yaml: %w", len(docs), err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		docs = append(docs, doc)
	}
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(string(doc), "\n") {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") || t == "---" {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// describe names a document as " (Kind name)" for error messages, best effort.
func describe(doc []byte) string {
	var head struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if yaml.Unmarshal(doc, &head) != nil || head.Kind == "" {
		return ""
	}
	return fmt.Sprintf(" (%s %s)", head.Kind, head.Metadata.Name)
}

// document rewrites one document, returning its original bytes when nothing changed.
func (in *Injector) document(ctx context.Context, doc []byte) ([]byte, error) {
	obj := map[string]any{}
	if err := yaml.Unmarshal(doc, &obj); err != nil {
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	if obj == nil {
		return doc, nil
	}
	u := &unstructured.Unstructured{Object: obj}
	if u.GetKind() == "" {
		return nil, errors.New("no kind: not a Kubernetes object")
	}
	changed, err := in.object(ctx, u)
	if err != nil {
		return nil, err
	}
	if !changed {
		return doc, nil
	}
	return yaml.Marshal(u.Object)
}

// templatePaths says where each workload kind keeps its pod template.
var templatePaths = map[string][]string{
	"Deployment":            {"spec", "template"},
	"StatefulSet":           {"spec", "template"},
	"DaemonSet":             {"spec", "template"},
	"ReplicaSet":            {"spec", "template"},
	"ReplicationController": {"spec", "template"},
	"Job":                   {"spec", "template"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template"},
	"PodTemplate":           {"template"},
}

// object rewrites u in place and reports whether it changed.
func (in *Injector) object(ctx context.Context, u *unstructured.Unstructured) (bool, error) {
	kind := u.GetKind()
	switch {
	case kind == "List" || strings.HasSuffix(kind, "List") && u.Object["items"] != nil:
		items, ok := u.Object["items"].([]any)
		if !ok {
			return false, nil
		}
		changed := false
		for i, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				continue
			}
			item := &unstructured.Unstructured{Object: m}
			c, err := in.object(ctx, item)
			if err != nil {
				return false, fmt.Errorf("item %d (%s %s): %w", i, item.GetKind(), item.GetName(), err)
			}
			if c {
				items[i] = item.Object
				changed = true
			}
		}
		return changed, nil
	case kind == "Pod" && (u.GetAPIVersion() == "v1" || u.GetAPIVersion() == ""):
		return in.pod(ctx, u.Object, u.GetNamespace(), true)
	}
	path, ok := templatePaths[kind]
	if !ok {
		return false, nil
	}
	tmpl, found, err := unstructured.NestedMap(u.Object, path...)
	if err != nil {
		return false, fmt.Errorf("%s: %w", strings.Join(path, "."), err)
	}
	if !found {
		return false, fmt.Errorf("%s has no %s", kind, strings.Join(path, "."))
	}
	changed, err := in.pod(ctx, tmpl, u.GetNamespace(), false)
	if err != nil || !changed {
		return false, err
	}
	return true, unstructured.SetNestedMap(u.Object, tmpl, path...)
}

// pod decides and rewrites one pod (isPod) or pod template held in m, in place.
func (in *Injector) pod(ctx context.Context, m map[string]any, namespace string, isPod bool) (bool, error) {
	pod := &corev1.Pod{}
	src := m
	if !isPod {
		// A template has the pod's metadata and spec and nothing else.
		src = map[string]any{"metadata": m["metadata"], "spec": m["spec"]}
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(src, pod, true); err != nil {
		return false, fmt.Errorf("decode pod: %w", err)
	}
	if pod.Namespace == "" {
		pod.Namespace = namespace
	}

	p := inject.Pipeline{Rewrite: in.Config, ExcludedNamespaces: in.ExcludedNamespaces, RejectLookupFailures: true}
	res := p.Run(ctx, inject.Input{Pod: pod, Namespace: in.namespace(pod), Policies: in.Policies}, func(ctx context.Context, ref string) (rewrite.ImageConfig, error) {
		return in.Resolve(ctx, ref, pod)
	})
	in.warn(res.Warnings...)
	switch res.Outcome {
	case inject.NotSelected, inject.Audited:
		return false, nil
	case inject.LookupFailed:
		errs := make([]error, 0, len(res.Failures))
		for _, f := range res.Failures {
			errs = append(errs, fmt.Errorf("look up image %s: %w", f.Image, f.Err))
		}
		return false, errors.Join(errs...)
	case inject.Refused:
		return false, fmt.Errorf("rewrite: %w", res.Err)
	}
	out := res.Pod

	converted, err := runtime.DefaultUnstructuredConverter.ToUnstructured(out)
	if err != nil {
		return false, fmt.Errorf("encode pod: %w", err)
	}
	changed := false
	for _, key := range []string{"metadata", "spec"} {
		v := converted[key]
		if key == "metadata" {
			v = cleanMetadata(v, m["metadata"])
		}
		if !equalJSON(m[key], v) {
			m[key] = v
			changed = true
		}
	}
	return changed, nil
}

// namespace is what offline inject knows of the pod's namespace: nothing,
// or with All a namespace that opts its pods in.
func (in *Injector) namespace(pod *corev1.Pod) *corev1.Namespace {
	if !in.All {
		return nil
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: pod.Namespace, Labels: map[string]string{contract.LabelInject: contract.NamespaceEnabled}}}
}

func (in *Injector) warn(ws ...string) {
	if in.Warn == nil {
		return
	}
	for _, w := range ws {
		in.Warn(w)
	}
}

// cleanMetadata drops what the typed round trip adds to metadata but the
// original did not have (creationTimestamp: null), so output stays minimal.
func cleanMetadata(v, orig any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	o, _ := orig.(map[string]any)
	if _, had := o["creationTimestamp"]; !had && m["creationTimestamp"] == nil {
		delete(m, "creationTimestamp")
	}
	if len(m) == 0 && orig == nil {
		return nil
	}
	return m
}

func equalJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
