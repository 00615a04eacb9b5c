// Package podrun runs pods on a real cluster for the e2e tests and the demo:
// create one and wait until it is Ready, follow a container's log, delete it
// and time how long it takes to go, and read logs written with timestamps.
//
// Calls that talk to the cluster take a context and return an error naming
// the pod; none logs. Log timestamps are the node's clock and the measured
// durations this machine's: on a remote cluster the two differ by the skew.
package podrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// Client runs pods in one namespace.
type Client struct {
	CS kubernetes.Interface
	NS string
}

// ShellPod is a pod of one container "app" that runs script with /bin/sh
// from image (which must have busybox's sh), never restarted, with no
// service account token.
func ShellPod(name, ns, image string, grace int64, script string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  new(bool),
			Containers: []corev1.Container{{
				Name:            "app",
				Image:           image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         []string{"/bin/sh", "-c", script},
			}},
		},
	}
}

// Start creates pod, waits until it is Ready (at most 2 minutes) and returns
// the stored object as admission left it and the time from the create call
// to the Ready condition seen. A pod that ends before it is Ready is an
// error.
func (c Client) Start(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	pods := c.CS.CoreV1().Pods(c.NS)
	// Watch first: a pod that is Ready before the watch starts would be missed.
	w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", pod.Name).String()})
	if err != nil {
		return nil, 0, fmt.Errorf("watch pod %s/%s: %w", c.NS, pod.Name, err)
	}
	defer w.Stop()
	t0 := time.Now()
	created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, 0, fmt.Errorf("create pod %s/%s: %w", c.NS, pod.Name, err)
	}
	for ev := range w.ResultChan() {
		if ev.Type == watch.Error {
			return created, 0, fmt.Errorf("watch pod %s/%s: %w", c.NS, pod.Name, apierrors.FromObject(ev.Object))
		}
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		if IsReady(p) {
			return created, time.Since(t0), nil
		}
		if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			return created, 0, fmt.Errorf("pod %s/%s ended before it was Ready: phase %s", c.NS, pod.Name, p.Status.Phase)
		}
	}
	return created, 0, fmt.Errorf("pod %s/%s: not Ready: %w", c.NS, pod.Name, watchEnded(ctx))
}

// watchEnded says why a watch's channel closed: the deadline, or the server.
func watchEnded(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("the API server closed the watch")
}

// IsReady reports whether p's Ready condition is true.
func IsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// WaitLog polls the container's log (with timestamps) until it contains s,
// for at most a minute, and returns it.
func (c Client) WaitLog(ctx context.Context, pod, container, s string) (string, error) {
	deadline := time.Now().Add(time.Minute)
	var last string
	for {
		b, err := c.CS.CoreV1().Pods(c.NS).GetLogs(pod, &corev1.PodLogOptions{Container: container, Timestamps: true}).DoRaw(ctx)
		if err == nil && strings.Contains(string(b), s) {
			return string(b), nil
		}
		last = fmt.Sprintf("%q (err %v)", b, err)
		if time.Now().After(deadline) {
			return "", fmt.Errorf("pod %s/%s: log of %s does not show %q within 1m; last: %s", c.NS, pod, container, s, last)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("pod %s/%s: waiting for %q in the log of %s: %w", c.NS, pod, s, container, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// LogStream follows a container's log, with timestamps, until the
// container ends, at most 3 minutes, or Close.
type LogStream struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	buf    bytes.Buffer
	err    error
}

// Write keeps what the stream read.
func (ls *LogStream) Write(p []byte) (int, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.buf.Write(p)
}

// Follow starts following the container's log from its first line.
func (c Client) Follow(ctx context.Context, pod, container string) (*LogStream, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	ls := &LogStream{name: c.NS + "/" + pod + "/" + container, cancel: cancel, done: make(chan struct{})}
	rc, err := c.CS.CoreV1().Pods(c.NS).GetLogs(pod, &corev1.PodLogOptions{Container: container, Follow: true, Timestamps: true}).Stream(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("follow log of %s: %w", ls.name, err)
	}
	go func() {
		defer close(ls.done)
		defer cancel()
		defer rc.Close()
		_, ls.err = io.Copy(ls, rc)
	}()
	return ls, nil
}

// Wait waits, at most d, for the log to end and returns everything read
// so far, with an error if it did not end or the stream failed.
func (ls *LogStream) Wait(d time.Duration) (string, error) {
	select {
	case <-ls.done:
	case <-time.After(d):
		ls.mu.Lock()
		defer ls.mu.Unlock()
		return ls.buf.String(), fmt.Errorf("log of %s did not end within %v", ls.name, d)
	}
	if ls.err != nil {
		return ls.buf.String(), fmt.Errorf("log of %s: %w", ls.name, ls.err)
	}
	return ls.buf.String(), nil
}

// Close stops following the log.
func (ls *LogStream) Close() { ls.cancel() }

// Stop is what deleting a pod showed.
type Stop struct {
	Start      time.Time     // the delete call
	Terminated time.Duration // delete call → the container seen terminated (0: never seen)
	Gone       time.Duration // delete call → pod object removed
	ExitCode   int32         // of the container; -1 when never seen terminated
	Reason     string
	Message    string // the terminated container's message (graceful-init's shutdown report)
}

// Delete deletes the pod with its own grace period and watches it go, for
// at most 2 minutes, recording how container ended.
func (c Client) Delete(ctx context.Context, name, container string) (Stop, error) {
	return c.StopWith(ctx, name, container, func(ctx context.Context) error {
		if err := c.CS.CoreV1().Pods(c.NS).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			return fmt.Errorf("delete pod %s/%s: %w", c.NS, name, err)
		}
		return nil
	})
}

// StopWith calls stop, which must lead to the pod's deletion (a delete
// call, a Deployment scaled down), and watches the pod go, for at most 2
// minutes, recording how container ended. Times count from the stop call.
func (c Client) StopWith(ctx context.Context, name, container string, stop func(context.Context) error) (Stop, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	r := Stop{ExitCode: -1}
	// Watch first: the pod may be gone before a watch started after stop.
	w, err := c.CS.CoreV1().Pods(c.NS).Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if err != nil {
		return r, fmt.Errorf("watch pod %s/%s: %w", c.NS, name, err)
	}
	defer w.Stop()
	r.Start = time.Now()
	if err := stop(ctx); err != nil {
		return r, err
	}
	for ev := range w.ResultChan() {
		if ev.Type == watch.Error {
			return r, fmt.Errorf("watch pod %s/%s: %w", c.NS, name, apierrors.FromObject(ev.Object))
		}
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name == container && cs.State.Terminated != nil && r.Terminated == 0 {
				r.Terminated = time.Since(r.Start)
				r.ExitCode, r.Reason, r.Message = cs.State.Terminated.ExitCode, cs.State.Terminated.Reason, cs.State.Terminated.Message
			}
		}
		if ev.Type == watch.Deleted {
			r.Gone = time.Since(r.Start)
			return r, nil
		}
	}
	return r, fmt.Errorf("pod %s/%s not seen gone: %w", c.NS, name, watchEnded(ctx))
}

// Describe returns the pod's status, every container's log and the pod's
// events, for a failure report. What it can not read it says inline.
func (c Client) Describe(ctx context.Context, name string) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var b strings.Builder
	if p, err := c.CS.CoreV1().Pods(c.NS).Get(ctx, name, metav1.GetOptions{}); err == nil {
		st, _ := yaml.Marshal(p.Status)
		fmt.Fprintf(&b, "pod %s/%s status:\n%s", c.NS, name, st)
		for _, ct := range append(slices.Clone(p.Spec.InitContainers), p.Spec.Containers...) {
			l, err := c.CS.CoreV1().Pods(c.NS).GetLogs(name, &corev1.PodLogOptions{Container: ct.Name}).DoRaw(ctx)
			fmt.Fprintf(&b, "log of %s/%s (err %v):\n%s\n", name, ct.Name, err, l)
		}
	} else {
		fmt.Fprintf(&b, "pod %s/%s: %v\n", c.NS, name, err)
	}
	b.WriteString(c.Events(ctx, name))
	return b.String()
}

// Events lists, oldest first, the events of the object called name in the
// namespace, or of the whole namespace when name is "", as text.
func (c Client) Events(ctx context.Context, name string) string {
	var opts metav1.ListOptions
	of := name
	if name == "" {
		of = "namespace " + c.NS
	} else {
		opts.FieldSelector = fields.OneTermEqualSelector("involvedObject.name", name).String()
	}
	evs, err := c.CS.CoreV1().Events(c.NS).List(ctx, opts)
	if err != nil {
		return fmt.Sprintf("events of %s: %v\n", of, err)
	}
	sort.Slice(evs.Items, func(i, j int) bool { return eventTime(evs.Items[i]).Before(eventTime(evs.Items[j])) })
	var b strings.Builder
	fmt.Fprintf(&b, "events of %s:\n", of)
	for _, e := range evs.Items {
		fmt.Fprintf(&b, "  %s %s/%s %s %s: %s\n", eventTime(e).Format(time.RFC3339Nano), e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Type, e.Reason, e.Message)
	}
	return b.String()
}

// eventTime is when e last happened: events.k8s.io writers (the scheduler)
// set only EventTime.
func eventTime(e corev1.Event) time.Time {
	if !e.LastTimestamp.IsZero() {
		return e.LastTimestamp.Time
	}
	return e.EventTime.Time
}

// WaitServiceAccount waits, at most a minute, for the namespace's default
// service account, which the controller-manager adds a moment after the
// namespace and which pods need.
func (c Client) WaitServiceAccount(ctx context.Context) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, last = c.CS.CoreV1().ServiceAccounts(c.NS).Get(ctx, "default", metav1.GetOptions{})
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("namespace %s: no default service account within 1m (is kube-controller-manager running?): %v: %w", c.NS, last, err)
	}
	return nil
}
