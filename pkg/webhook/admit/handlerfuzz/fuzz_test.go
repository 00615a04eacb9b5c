// Package handlerfuzz fuzzes the admission handler through the same HTTP
// path the API server uses (controller-runtime's webhook.Admission). It is a
// package of its own so that fuzz workers do not each start the envtest
// suite of pkg/webhook/admit; the cache is a fake client here, and the
// registry transport refuses every request (no traffic leaves the process).
package handlerfuzz

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionapi "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	cradmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/inject/imageconfig"
	"github.com/graceful-dev/graceful/pkg/inject/rewrite"
	"github.com/graceful-dev/graceful/pkg/webhook/admit"
)

type refuse struct{}

func (refuse) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("fuzz: no registry")
}

func server(t testing.TB) http.Handler {
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "on", Labels: map[string]string{contract.LabelInject: contract.NamespaceEnabled}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "off", Labels: map[string]string{contract.LabelInject: contract.NamespaceDisabled}}},
		&v1alpha1.ShutdownPolicy{ObjectMeta: metav1.ObjectMeta{Name: "all"}, Spec: v1alpha1.ShutdownPolicySpec{Mode: v1alpha1.ModeDefault,
			PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"graceful": "yes"}}}},
	).Build()
	h, err := admit.New(admit.Options{
		Cache:              c,
		API:                c,
		Resolver:           imageconfig.New(imageconfig.Options{Transport: refuse{}}),
		Rewrite:            rewrite.Config{Image: "graceful:fuzz", Version: "fuzz"},
		ExcludedNamespaces: []string{"kube-system"},
	}, cradmission.NewDecoder(scheme))
	if err != nil {
		t.Fatal(err)
	}
	return &webhook.Admission{Handler: h}
}

func seed(t testing.TB, kind, op, ns string, obj any) []byte {
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	r := admissionapi.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionapi.AdmissionRequest{
			UID: types.UID("seed-uid"), Kind: metav1.GroupVersionKind{Version: "v1", Kind: kind},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: ns,
			Operation: admissionapi.Operation(op), Object: k8sruntime.RawExtension{Raw: raw},
		},
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzHandle(f *testing.F) {
	pod := func(ns string, annot map[string]string, cs ...corev1.Container) *corev1.Pod {
		return &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "web-", Annotations: annot, Labels: map[string]string{"graceful": "yes"}},
			Spec:       corev1.PodSpec{Containers: cs}}
	}
	app := corev1.Container{Name: "app", Image: "busybox", Command: []string{"sh", "-c", "sleep 1"}, Args: []string{"$(X)"}}
	noCmd := corev1.Container{Name: "nocmd", Image: "127.0.0.1:1/app:v1"}
	f.Add(seed(f, "Pod", "CREATE", "on", pod("on", nil, app)))
	f.Add(seed(f, "Pod", "CREATE", "on", pod("on", nil, app, noCmd)))
	f.Add(seed(f, "Pod", "CREATE", "off", pod("off", map[string]string{contract.AnnotationInject: "true", contract.AnnotationDrainDelay: "5s", contract.AnnotationSignalMap: "TERM=QUIT"}, app)))
	f.Add(seed(f, "Pod", "CREATE", "other", pod("other", map[string]string{contract.AnnotationContainers: "app,x"}, app)))
	f.Add(seed(f, "Pod", "CREATE", "kube-system", pod("kube-system", nil, app)))
	f.Add(seed(f, "Pod", "UPDATE", "on", pod("on", nil, app)))
	f.Add(seed(f, "ConfigMap", "CREATE", "on", map[string]any{"data": map[string]string{"a": "b"}}))
	f.Add(seed(f, "Pod", "CREATE", "on", "not a pod"))
	f.Add([]byte(`{"request":{"uid":"x","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE","object":null}}`))
	f.Add([]byte(`{}`))
	// Keys in the wrong case: the server does not see them.
	f.Add([]byte(`{"requEst":{"uid":"0","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE"}}`))
	f.Add([]byte(`{"request":{"uId":"0","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE"}}`))
	f.Add([]byte(`garbage`))

	h := server(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/mutate-v1-pod", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
		}
		var out admissionapi.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("response is not an AdmissionReview: %v: %s", err, rec.Body)
		}
		if out.Response == nil {
			t.Fatalf("no response in %s", rec.Body)
		}
		// Read the request as the server does: case-sensitive. encoding/json
		// matches "requEst" or "uId" too and would expect a UID the server
		// never saw.
		var in admissionapi.AdmissionReview
		if sigsjson.UnmarshalCaseSensitivePreserveInts(body, &in) != nil || in.Request == nil {
			return // the server answers an undecodable body with an error review
		}
		if out.Response.UID != in.Request.UID {
			t.Fatalf("response uid %q, request uid %q", out.Response.UID, in.Request.UID)
		}
		if len(out.Response.Patch) == 0 {
			return
		}
		if !out.Response.Allowed {
			t.Fatalf("denied response carries a patch: %s", rec.Body)
		}
		p, err := jsonpatch.DecodePatch(out.Response.Patch)
		if err != nil {
			t.Fatalf("patch does not decode: %v: %s", err, out.Response.Patch)
		}
		patched, err := p.Apply(in.Request.Object.Raw)
		if err != nil {
			t.Fatalf("patch does not apply to the object: %v", err)
		}
		var got corev1.Pod
		if err := json.Unmarshal(patched, &got); err != nil {
			t.Fatalf("patched object is not a pod: %v", err)
		}
		if _, ok := got.Annotations[contract.AnnotationStatus]; !ok {
			t.Fatalf("patched pod has no %s annotation", contract.AnnotationStatus)
		}
	})
}
