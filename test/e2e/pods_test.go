//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/yaml"

	"github.com/graceful-dev/graceful/pkg/imageconfig"
	"github.com/graceful-dev/graceful/pkg/manifest"
	"github.com/graceful-dev/graceful/pkg/rewrite"
)

var resolver = sync.OnceValue(func() *imageconfig.Resolver {
	return imageconfig.New(imageconfig.Options{Insecure: []string{env.registry}})
})

// inject rewrites pod as graceful would. For now offline, through the same
// Go API as `graceful-webhook inject --all`; the webhook cases will create
// the pod un-injected in an opted-in namespace instead.
func inject(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	in, err := yaml.Marshal(pod)
	if err != nil {
		t.Fatalf("marshal pod: %v", err)
	}
	inj := &manifest.Injector{
		Config: rewrite.Config{Image: env.graceful, Version: "e2e"},
		All:    true,
		Resolve: func(ctx context.Context, ref string, p *corev1.Pod) (rewrite.ImageConfig, error) {
			c, err := resolver().Resolve(ctx, ref, imageconfig.PlatformFor(p), authn.DefaultKeychain)
			return rewrite.ImageConfig{Entrypoint: c.Entrypoint, Cmd: c.Cmd}, err
		},
		Warn: func(s string) { t.Logf("inject warning: %s", s) },
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := inj.Inject(ctx, bytes.NewReader(in), &out); err != nil {
		t.Fatalf("inject: %v", err)
	}
	var res corev1.Pod
	if err := yaml.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("unmarshal injected pod: %v\n%s", err, out.String())
	}
	if len(res.Spec.InitContainers) == 0 || res.Spec.InitContainers[0].Name != "graceful-install" {
		t.Fatalf("inject did not add graceful-install:\n%s", out.String())
	}
	return &res
}

// shellPod is a pod of one container "app" running script under /bin/sh
// from the busybox image.
func shellPod(name string, grace int64, script string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: env.ns},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  new(bool),
			Containers: []corev1.Container{{
				Name:            "app",
				Image:           env.busybox,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         []string{"/bin/sh", "-c", script},
			}},
		},
	}
}

// startPod creates pod, waits until it is Ready and returns the time from
// the create call to the Ready condition seen. On test failure it dumps the
// pod's status, events and logs.
func startPod(t *testing.T, pod *corev1.Pod) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pods := env.cs.CoreV1().Pods(env.ns)
	w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", pod.Name).String()})
	if err != nil {
		t.Fatalf("watch pod %s: %v", pod.Name, err)
	}
	defer w.Stop()
	t0 := time.Now()
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", pod.Name, err)
	}
	t.Cleanup(func() { dumpOnFailure(t, pod.Name) })
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		if isReady(p) {
			return time.Since(t0)
		}
		if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			t.Fatalf("pod %s ended before it was Ready: phase %s", pod.Name, p.Status.Phase)
		}
	}
	t.Fatalf("pod %s: not Ready within 2m (%v)", pod.Name, ctx.Err())
	return 0
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// logStream follows a container's log from the start until the container
// ends; wait returns everything it wrote.
type logStream struct {
	done chan struct{}
	buf  bytes.Buffer
	err  error
}

func followLogs(t *testing.T, pod, container string) *logStream {
	t.Helper()
	ls := &logStream{done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	rc, err := env.cs.CoreV1().Pods(env.ns).GetLogs(pod, &corev1.PodLogOptions{Container: container, Follow: true, Timestamps: true}).Stream(ctx)
	if err != nil {
		cancel()
		t.Fatalf("logs of %s/%s: %v", pod, container, err)
	}
	go func() {
		defer close(ls.done)
		defer cancel()
		defer rc.Close()
		_, ls.err = io.Copy(&ls.buf, rc)
	}()
	return ls
}

func (ls *logStream) wait(t *testing.T) string {
	t.Helper()
	select {
	case <-ls.done:
	case <-time.After(time.Minute):
		t.Errorf("log stream did not end within 1m of the pod's end")
	}
	return ls.buf.String()
}

// stopResult is what deleting a pod showed.
type stopResult struct {
	Start      time.Time     // the delete call
	Terminated time.Duration // delete call → container "app" seen terminated
	Gone       time.Duration // delete call → pod object removed
	ExitCode   int32
	Reason     string
}

// deletePod deletes the pod (its own grace period) and watches it go.
func deletePod(t *testing.T, name string) stopResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pods := env.cs.CoreV1().Pods(env.ns)
	w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if err != nil {
		t.Fatalf("watch pod %s: %v", name, err)
	}
	defer w.Stop()
	var r stopResult
	r.ExitCode = -1
	t0 := time.Now()
	r.Start = t0
	if err := pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete pod %s: %v", name, err)
	}
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name == "app" && cs.State.Terminated != nil && r.Terminated == 0 {
				r.Terminated = time.Since(t0)
				r.ExitCode, r.Reason = cs.State.Terminated.ExitCode, cs.State.Terminated.Reason
			}
		}
		if ev.Type == watch.Deleted {
			r.Gone = time.Since(t0)
			return r
		}
	}
	t.Fatalf("pod %s not gone within 2m of delete (%v)", name, ctx.Err())
	return r
}

// dumpOnFailure logs the pod's status, its events and every container's logs
// when the test failed.
func dumpOnFailure(t *testing.T, name string) {
	if !t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if p, err := env.cs.CoreV1().Pods(env.ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
		st, _ := yaml.Marshal(p.Status)
		t.Logf("pod %s status:\n%s", name, st)
		for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
			b, err := env.cs.CoreV1().Pods(env.ns).GetLogs(name, &corev1.PodLogOptions{Container: c.Name}).DoRaw(ctx)
			t.Logf("logs of %s/%s (err %v):\n%s", name, c.Name, err, b)
		}
	} else {
		t.Logf("pod %s: %v", name, err)
	}
	evs, err := env.cs.CoreV1().Events(env.ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", name).String()})
	if err != nil {
		t.Logf("events of %s: %v", name, err)
		return
	}
	sort.Slice(evs.Items, func(i, j int) bool { return evs.Items[i].LastTimestamp.Before(&evs.Items[j].LastTimestamp) })
	var b strings.Builder
	for _, e := range evs.Items {
		fmt.Fprintf(&b, "  %s %s %s: %s\n", e.LastTimestamp.Format(time.RFC3339), e.Type, e.Reason, e.Message)
	}
	t.Logf("events of %s:\n%s", name, b.String())
}
