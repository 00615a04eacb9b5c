//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/test/podrun"
)

// The test's wrappers of test/podrun: they fail the test on error, and a
// started pod is described (status, logs, events) if the test fails.

// shellPod is a pod of one container "app" running script under /bin/sh
// from the busybox image, in this run's namespace.
func shellPod(name string, grace int64, script string) *corev1.Pod {
	return podrun.ShellPod(name, env.ns, env.images.Busybox, grace, script)
}

// optIn marks pod for injection by annotation.
func optIn(pod *corev1.Pod) *corev1.Pod {
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[contract.AnnotationInject] = contract.InjectTrue
	return pod
}

// byImageVolume asks for the image volume delivery by annotation.
func byImageVolume(pod *corev1.Pod) *corev1.Pod {
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[contract.AnnotationDelivery] = contract.DeliveryImageVolume
	return pod
}

// startPod creates pod in this run's namespace, waits until it is Ready and
// returns the stored pod and the time from create to Ready.
func startPod(t *testing.T, pod *corev1.Pod) (*corev1.Pod, time.Duration) {
	t.Helper()
	created, d, err := pods().Start(t.Context(), pod)
	if created != nil {
		describeOnFailure(t, pod.Name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return created, d
}

func describeOnFailure(t *testing.T, name string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(pods().Describe(context.Background(), name))
		}
	})
}

func waitLog(t *testing.T, pod, s string) string {
	t.Helper()
	out, err := pods().WaitLog(t.Context(), pod, "app", s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func followLogs(t *testing.T, pod string) *podrun.LogStream {
	t.Helper()
	ls, err := pods().Follow(context.Background(), pod, "app")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ls.Close)
	return ls
}

func waitLogEnd(t *testing.T, ls *podrun.LogStream) string {
	t.Helper()
	out, err := ls.Wait(time.Minute)
	if err != nil {
		t.Errorf("%v", err)
	}
	return out
}

func deletePod(t *testing.T, name string) podrun.Stop {
	t.Helper()
	r, err := pods().Delete(t.Context(), name, "app")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func parseLog(t *testing.T, s string) []podrun.Line {
	t.Helper()
	ls, err := podrun.ParseLog(s)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// report appends a line to $E2E_REPORT (if set), for docs.
func report(t *testing.T, format string, args ...any) {
	p := os.Getenv("E2E_REPORT")
	if p == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Logf("report: %v", err)
		return
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Logf("report: %v", err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, format+"\n", args...)
}

func reportStop(t *testing.T, what string, r podrun.Stop) {
	report(t, "%s stop: terminated %.2fs gone %.2fs exit %d", what, r.Terminated.Seconds(), r.Gone.Seconds(), r.ExitCode)
}
