// Package scan is `graceful-webhook drift`: it reads a cluster's pods,
// namespaces and ShutdownPolicies once, checks every pod with pkg/drift
// (the drift controller's rule), and writes the unprotected ones as a table
// or as JSON.
package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/drift"
)

// Options say what to scan and against which webhook.
type Options struct {
	// Namespace to scan; "" scans all.
	Namespace string
	// Version is the webhook version pods should be wrapped by.
	Version string
	// ExcludedNamespaces: the webhook's own and the system namespaces.
	ExcludedNamespaces []string
	// PageSize bounds each pod list call (0: 500).
	PageSize int64
}

// Pod is one unprotected pod.
type Pod struct {
	Namespace      string         `json:"namespace"`
	Name           string         `json:"pod"`
	Reason         string         `json:"reason"`
	WrappedVersion string         `json:"wrappedVersion,omitempty"`
	Decision       string         `json:"decision"`
	Message        string         `json:"message"`
	Workload       drift.Workload `json:"workload"`
	Fix            string         `json:"fix"`
}

// Result is a scan's answer.
type Result struct {
	// Version is the version the pods were checked against.
	Version string `json:"version"`
	// Scanned counts the pods read.
	Scanned int `json:"scanned"`
	// Unprotected are the pods found, by namespace and name.
	Unprotected []Pod `json:"unprotected"`
}

// Scan reads the cluster through c and checks every pod. A cluster without
// the ShutdownPolicy CRD has no policies.
func Scan(ctx context.Context, c client.Reader, o Options) (Result, error) {
	res := Result{Version: o.Version, Unprotected: []Pod{}}
	var policies v1alpha1.ShutdownPolicyList
	if err := c.List(ctx, &policies); err != nil && !meta.IsNoMatchError(err) && !apierrors.IsNotFound(err) {
		return res, fmt.Errorf("listing ShutdownPolicies: %w", err)
	}
	namespaces := map[string]*corev1.Namespace{}
	if o.Namespace != "" {
		var ns corev1.Namespace
		if err := c.Get(ctx, types.NamespacedName{Name: o.Namespace}, &ns); err != nil {
			return res, fmt.Errorf("reading namespace %s: %w", o.Namespace, err)
		}
		namespaces[ns.Name] = &ns
	} else {
		var list corev1.NamespaceList
		if err := c.List(ctx, &list); err != nil {
			return res, fmt.Errorf("listing namespaces: %w", err)
		}
		for i := range list.Items {
			namespaces[list.Items[i].Name] = &list.Items[i]
		}
	}
	page := o.PageSize
	if page <= 0 {
		page = 500
	}
	parents := memo(ctx, c)
	var cont string
	for {
		var pods corev1.PodList
		opts := []client.ListOption{client.Limit(page), client.Continue(cont)}
		if o.Namespace != "" {
			opts = append(opts, client.InNamespace(o.Namespace))
		}
		if err := c.List(ctx, &pods, opts...); err != nil {
			return res, fmt.Errorf("listing pods: %w", err)
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			res.Scanned++
			f := drift.Check(drift.Input{Pod: p, Namespace: namespaces[p.Namespace], Policies: policies.Items,
				ExcludedNamespaces: o.ExcludedNamespaces, Version: o.Version})
			if f.Reason == "" {
				continue
			}
			w, err := drift.Owner(p, parents)
			if err != nil {
				return res, err
			}
			res.Unprotected = append(res.Unprotected, Pod{Namespace: p.Namespace, Name: p.Name, Reason: f.Reason, WrappedVersion: f.WrappedVersion,
				Decision: string(f.Decision.Reason), Message: f.Decision.Message, Workload: w, Fix: drift.FixFor(f, w, p.Name)})
		}
		if cont = pods.Continue; cont == "" {
			break
		}
	}
	slices.SortFunc(res.Unprotected, func(a, b Pod) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return res, nil
}

// memo reads ReplicaSets' and Jobs' controllers (metadata only), each once.
func memo(ctx context.Context, c client.Reader) drift.Parent {
	type answer struct {
		ref   *metav1.OwnerReference
		found bool
	}
	seen := map[string]answer{}
	return func(kind, namespace, name string) (*metav1.OwnerReference, bool, error) {
		key := kind + "/" + namespace + "/" + name
		if a, ok := seen[key]; ok {
			return a.ref, a.found, nil
		}
		obj := &metav1.PartialObjectMetadata{}
		switch kind {
		case "ReplicaSet":
			obj.APIVersion, obj.Kind = "apps/v1", kind
		case "Job":
			obj.APIVersion, obj.Kind = "batch/v1", kind
		default:
			return nil, false, nil
		}
		err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, false, err
		}
		a := answer{found: err == nil}
		if a.found {
			a.ref = metav1.GetControllerOf(obj)
		}
		seen[key] = a
		return a.ref, a.found, nil
	}
}

// WriteTable writes r as kubectl-style columns, or a line saying nothing was
// found.
func WriteTable(w io.Writer, r Result) error {
	if len(r.Unprotected) == 0 {
		_, err := fmt.Fprintf(w, "no unprotected pods (%d scanned, checked against graceful %s)\n", r.Scanned, r.Version)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tPOD\tREASON\tWRAPPED BY\tWORKLOAD\tFIX")
	for _, p := range r.Unprotected {
		v := p.WrappedVersion
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Namespace, p.Name, p.Reason, v, p.Workload, p.Fix)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d of %d pods unprotected (checked against graceful %s)\n", len(r.Unprotected), r.Scanned, r.Version)
	return err
}

// WriteJSON writes r as one indented JSON document.
func WriteJSON(w io.Writer, r Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // a fix holds shell redirections
	return enc.Encode(r)
}
