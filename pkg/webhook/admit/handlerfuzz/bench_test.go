package handlerfuzz

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	cradmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// benchPod is the pod both benchmarks admit: two containers that set their
// command, so no image lookup.
func benchPod() *corev1.Pod {
	return &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "on", GenerateName: "web-", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "app", Image: "app:v1", Command: []string{"/app/server"}, Args: []string{"--listen=:8080"}},
			{Name: "sidecar", Image: "busybox:1.36", Command: []string{"sh", "-c", "sleep 1d"}},
		}}}
}

// admitLoop sends body to h b.N times through the HTTP handler (no TLS) and
// fails on any answer but 200, or one without a patch when wantPatch.
func admitLoop(b *testing.B, h http.Handler, body []byte, wantPatch bool) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/mutate-v1-pod", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || wantPatch && !bytes.Contains(rec.Body.Bytes(), []byte(`"patch"`)) {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkHandle is one injecting admission of benchPod.
func BenchmarkHandle(b *testing.B) {
	admitLoop(b, server(b), seed(b, "Pod", "CREATE", "on", benchPod()), true)
}

// BenchmarkNoop is the same request to a handler that allows everything:
// the floor that BenchmarkHandle is compared with.
func BenchmarkNoop(b *testing.B) {
	h := &webhook.Admission{Handler: cradmission.HandlerFunc(func(context.Context, cradmission.Request) cradmission.Response {
		return cradmission.Allowed("")
	})}
	admitLoop(b, h, seed(b, "Pod", "CREATE", "on", benchPod()), false)
}
