package rewrite

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/test/envtestenv"
)

// These tests have a real kube-apiserver (envtest: etcd and kube-apiserver
// v1.37.2 that `make envtest-bin` builds into bin/k8s) validate what the
// rewrite produces, with server-side dry-run creates: the golden outputs and
// random pods. Pod Security admission runs in the server; an output goes to
// a namespace labelled enforce=restricted whenever its input is accepted
// there, so the rewrite may never make a restricted pod unrestricted.

var api envtestenv.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := api.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

const (
	nsPlain      = "plain"
	nsRestricted = "restricted"
)

var apiNamespaces sync.Once

// apiserver starts envtest on first use and creates the two namespaces.
func apiserver(t *testing.T) client.Client {
	t.Helper()
	c := api.Client(t)
	var err error
	apiNamespaces.Do(func() {
		t.Logf("etcd and kube-apiserver started in %v", api.StartupTime().Round(time.Millisecond))
		ctx := context.Background()
		for name, labels := range map[string]map[string]string{
			nsPlain:      nil,
			nsRestricted: {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"},
		} {
			if err = c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}); err != nil {
				err = fmt.Errorf("create namespace %s: %w", name, err)
				return
			}
			// No controller-manager runs here to create the default service account,
			// and the ServiceAccount admission plugin wants it.
			if err = c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: name}}); err != nil {
				err = fmt.Errorf("create service account in %s: %w", name, err)
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// forAPI returns a copy of pod ready for a create in namespace ns:
// ephemeral containers can not be set on create.
func forAPI(pod *corev1.Pod, ns string) *corev1.Pod {
	p := pod.DeepCopy()
	p.Namespace = ns
	p.ResourceVersion = ""
	p.UID = ""
	p.Spec.EphemeralContainers = nil
	if p.Name == "" && p.GenerateName == "" {
		p.GenerateName = "pod-"
	}
	return p
}

func dryRun(c client.Client, pod *corev1.Pod, ns string) error {
	return c.Create(context.Background(), forAPI(pod, ns), client.DryRunAll)
}

// namespaceFor is where an output must be accepted: the restricted namespace
// when the input is accepted there, else the plain one.
func namespaceFor(c client.Client, in *corev1.Pod) string {
	if dryRun(c, in, nsRestricted) == nil {
		return nsRestricted
	}
	return nsPlain
}

// podsFromYAML returns the pods of a YAML stream: Pods as they are, and the
// pod template of each workload (Deployment, StatefulSet, DaemonSet,
// ReplicaSet, Job, CronJob, PodTemplate) as a Pod named after the workload.
// Documents without an object (comments only) and other kinds are skipped.
func podsFromYAML(data []byte) ([]*corev1.Pod, error) {
	var pods []*corev1.Pod
	for i, doc := range splitYAML(data) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if tm.Kind == "" {
			continue
		}
		var (
			name string
			tpl  *corev1.PodTemplateSpec
			err  error
		)
		switch tm.Kind {
		case "Pod":
			var p corev1.Pod
			if err := yaml.UnmarshalStrict(doc, &p); err != nil {
				return nil, fmt.Errorf("document %d (Pod): %w", i, err)
			}
			pods = append(pods, &p)
			continue
		case "Deployment":
			var o appsv1.Deployment
			err, name, tpl = yaml.UnmarshalStrict(doc, &o), o.Name, &o.Spec.Template
		case "StatefulSet":
			var o appsv1.StatefulSet
			err, name, tpl = yaml.UnmarshalStrict(doc, &o), o.Name, &o.Spec.Template
		case "DaemonSet":
			var o appsv1.DaemonSet
			err, name, tpl = yaml.UnmarshalStrict(doc, &o), o.Name, &o.Spec.Template
		case "ReplicaSet":
			var o appsv1.ReplicaSet
			err, name, tpl = yaml.UnmarshalStrict(doc, &o), o.Name, &o.Spec.Template
		case "Job":
			var o batchv1.Job
			err, name, tpl = yaml.UnmarshalStrict(doc, &o), o.Name, &o.Spec.Template
		case "CronJob":
			var o batchv1.CronJob
			err, name, tpl = yaml.UnmarshalStrict(doc, &o), o.Name, &o.Spec.JobTemplate.Spec.Template
		case "PodTemplate":
			var o corev1.PodTemplate
			err, name, tpl = yaml.UnmarshalStrict(doc, &o), o.Name, &o.Template
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i, tm.Kind, err)
		}
		p := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: *tpl.ObjectMeta.DeepCopy(), Spec: *tpl.Spec.DeepCopy()}
		if p.Name == "" {
			p.Name = name
		}
		pods = append(pods, p)
	}
	return pods, nil
}

// splitYAML splits a stream at its "---" lines.
func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	for line := range bytes.Lines(data) {
		if t := bytes.TrimRight(line, " \t\r\n"); bytes.Equal(t, []byte("---")) {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.Write(line)
	}
	return append(docs, cur.Bytes())
}

func TestPodsFromYAML(t *testing.T) {
	stream := `# warning: a comment only document
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec: {containers: [{name: a, image: x}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec: {containers: [{name: b, image: y}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cj}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec: {restartPolicy: Never, containers: [{name: c, image: z}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
`
	pods, err := podsFromYAML([]byte(stream))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pods {
		got = append(got, p.Name+"/"+p.Spec.Containers[0].Name+"/"+p.Labels["app"])
	}
	if want := "p/a/ d/b/d cj/c/"; strings.Join(got, " ") != want {
		t.Fatalf("got %q, want %q", strings.Join(got, " "), want)
	}
	if _, err := podsFromYAML([]byte("apiVersion: v1\nkind: Pod\nspec: {bogus: 1}\n")); err == nil {
		t.Fatal("an unknown field was accepted")
	}
}

// TestGoldenOutputsAcceptedByAPIServer: every committed golden output that
// holds a pod (testdata/*.yaml.injected; pod templates of workloads count as
// pods) is accepted by a dry-run create, in the restricted namespace whenever
// its input is accepted there. TestGolden keeps the files equal to what Pod
// returns, so this validates Pod's output.
func TestGoldenOutputsAcceptedByAPIServer(t *testing.T) {
	c := apiserver(t)
	outputs, inputs := goldenOutputs(t)
	checked, restricted, restrictedImageVolume, errorCases := 0, 0, 0, 0
	for k, golden := range outputs {
		input := inputs[k]
		name := strings.TrimPrefix(golden, "testdata/")
		t.Run(name, func(t *testing.T) {
			outRaw, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			outs, err := podsFromYAML(outRaw)
			if err != nil {
				t.Fatalf("%s: %v", golden, err)
			}
			if len(outs) == 0 {
				if !bytes.Contains(outRaw, []byte("# error: ")) {
					t.Fatalf("%s holds neither a pod nor an error", golden)
				}
				errorCases++
				return
			}
			inRaw, err := os.ReadFile(input)
			if err != nil {
				t.Fatal(err)
			}
			ins, err := podsFromYAML(inRaw)
			if err != nil {
				t.Fatalf("%s: %v", input, err)
			}
			if len(ins) != len(outs) {
				t.Fatalf("%d pods in the input, %d in %s", len(ins), len(outs), golden)
			}
			for i, out := range outs {
				ns := namespaceFor(c, ins[i])
				if ns == nsRestricted {
					restricted++
					if slices.ContainsFunc(out.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == contract.VolumeName && v.Image != nil }) {
						restrictedImageVolume++
					}
				}
				checked++
				if err := dryRun(c, out, ns); err != nil {
					b, _ := yaml.Marshal(forAPI(out, ns))
					t.Errorf("%s: pod %d rejected in namespace %s: %v\n%s", golden, i, ns, err, b)
				}
			}
		})
	}
	t.Logf("%d golden outputs accepted (%d of them in the restricted namespace, %d of those with graceful's image volume), %d error cases", checked, restricted, restrictedImageVolume, errorCases)
	if checked < 25 {
		t.Errorf("only %d golden outputs hold a pod: the golden set is too thin to mean much", checked)
	}
	if restricted == 0 {
		t.Errorf("no golden input passes Pod Security restricted: the restricted check tested nothing")
	}
	// Pod Security "restricted" lists image among its allowed volume types
	// (k8s.io/pod-security-admission, restrictedVolumes, since its 1.0
	// check): image-volume delivery needs no fallback there.
	if restrictedImageVolume == 0 {
		t.Errorf("no golden output with graceful's image volume went to the restricted namespace")
	}
}

// harden makes pod pass Pod Security "restricted" (the generator rarely
// produces such pods on its own): non-root, RuntimeDefault seccomp, all
// capabilities dropped, no privilege escalation, no host PID namespace.
func harden(pod *corev1.Pod, r *rand.Rand) {
	pod.Spec.HostPID = false
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:   new(true),
		RunAsUser:      new(int64(1000 + r.IntN(60000))),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			var ro *bool
			if sc := cs[i].SecurityContext; sc != nil {
				ro = sc.ReadOnlyRootFilesystem
			}
			cs[i].SecurityContext = &corev1.SecurityContext{
				AllowPrivilegeEscalation: new(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				ReadOnlyRootFilesystem:   ro,
			}
		}
	}
}

// propertyN is how many random pods TestRandomPodsAcceptedByAPIServer
// checks: GRACEFUL_PROPERTY_N, else 300.
func propertyN(t *testing.T) int {
	v := os.Getenv("GRACEFUL_PROPERTY_N")
	if v == "" {
		return 300
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("GRACEFUL_PROPERTY_N=%q: want a positive number of pods", v)
	}
	return n
}

// TestRandomPodsAcceptedByAPIServer: seeded random valid pods (every other
// one hardened to pass Pod Security restricted), rewritten with random
// policy defaults, are all accepted by dry-run creates, in the restricted
// namespace whenever their input is. GRACEFUL_PROPERTY_N sets how many pods
// (300 by default; 10000 for the long run), GRACEFUL_PROPERTY_SEED the first
// seed (1), so a failure reproduces alone with GRACEFUL_PROPERTY_N=1.
func TestRandomPodsAcceptedByAPIServer(t *testing.T) {
	c := apiserver(t)
	n := propertyN(t)
	first := uint64(1)
	if v := os.Getenv("GRACEFUL_PROPERTY_SEED"); v != "" {
		var err error
		if first, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("GRACEFUL_PROPERTY_SEED=%q: want a seed number", v)
		}
	}

	type result struct {
		seed                           uint64
		injected, restricted, hardened bool
		failure                        string
	}
	check := func(seed uint64) result {
		res := result{seed: seed}
		r := rand.New(rand.NewPCG(seed, 0x6772616365667566))
		pod, images := randomPod(r)
		d := randomDefaults(r, pod)
		if seed%2 == 1 {
			harden(pod, r)
			res.hardened = true
		}
		podName := fmt.Sprintf("%s-s%d", pod.Name, seed) // unique across seeds in the log
		pod.Name = podName
		report := func(format string, args ...any) result {
			in, _ := yaml.Marshal(pod)
			res.failure = fmt.Sprintf("seed %d (reproduce: GRACEFUL_PROPERTY_SEED=%d GRACEFUL_PROPERTY_N=1 go test ./pkg/inject/rewrite -run TestRandomPodsAcceptedByAPIServer): %s\ninput pod:\n%s",
				seed, seed, fmt.Sprintf(format, args...), in)
			return res
		}
		if err := dryRun(c, pod, nsPlain); err != nil {
			return report("the generator made a pod the API server rejects: %v", err)
		}
		ns := namespaceFor(c, pod)
		res.restricted = ns == nsRestricted
		if res.hardened && !res.restricted {
			return report("harden did not make the pod pass restricted: %v", dryRun(c, pod, nsRestricted))
		}
		out, _, err := Pod(pod, testConfig(), d, images)
		if err != nil {
			return report("rewrite: %v", err)
		}
		_, res.injected = out.Annotations[contract.AnnotationStatus]
		if err := dryRun(c, out, ns); err != nil {
			o, _ := yaml.Marshal(forAPI(out, ns))
			return report("rewritten pod rejected in namespace %s: %v\nrewritten pod:\n%s", ns, err, o)
		}
		return res
	}

	// A few requests in flight keep both cores of the API server busy.
	const workers = 4
	seeds := make(chan uint64)
	results := make(chan result)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for s := range seeds {
				results <- check(s)
			}
		})
	}
	go func() {
		for s := first; s < first+uint64(n); s++ {
			seeds <- s
		}
		close(seeds)
		wg.Wait()
		close(results)
	}()

	start := time.Now()
	injected, restricted, rejected := 0, 0, 0
	for res := range results {
		if res.injected {
			injected++
		}
		if res.restricted {
			restricted++
		}
		if res.failure != "" {
			rejected++
			if rejected <= 3 { // the first few in full; the count says the rest
				t.Error(res.failure)
			}
		}
	}
	el := time.Since(start)
	t.Logf("%d random pods (seeds %d..%d) in %v (%.0f pods/s): %d injected, %d checked in the restricted namespace, %d failed",
		n, first, first+uint64(n)-1, el.Round(time.Millisecond), float64(n)/el.Seconds(), injected, restricted, rejected)
	if rejected > 0 {
		t.Errorf("%d of %d random pods failed", rejected, n)
	}
	if n >= 100 && (injected < n/2 || restricted < n/4) {
		t.Errorf("the run covers too little: %d of %d pods injected, %d in the restricted namespace", injected, n, restricted)
	}
}

// TestAPIServerChecksAreLive: the checks above can fail. The API server
// rejects an invalid rewritten pod, and the restricted namespace rejects an
// output whose install container lost a restricted setting.
func TestAPIServerChecksAreLive(t *testing.T) {
	c := apiserver(t)
	r := rand.New(rand.NewPCG(7, 7))
	pod, images := randomPod(r)
	pod.Spec.Containers[0].Command = []string{"/app"} // always wrappable
	harden(pod, r)
	if err := dryRun(c, pod, nsRestricted); err != nil {
		t.Fatalf("hardened input rejected in the restricted namespace: %v", err)
	}
	out, _, err := Pod(pod, testConfig(), Defaults{}, images)
	if err != nil {
		t.Fatal(err)
	}
	if err := dryRun(c, out, nsRestricted); err != nil {
		t.Fatalf("rewritten pod rejected: %v", err)
	}

	escalates := out.DeepCopy()
	if escalates.Spec.InitContainers[0].Name != contract.InstallContainerName {
		t.Fatalf("first init container is %q, want %q", escalates.Spec.InitContainers[0].Name, contract.InstallContainerName)
	}
	escalates.Spec.InitContainers[0].SecurityContext.AllowPrivilegeEscalation = new(true)
	err = dryRun(c, escalates, nsRestricted)
	if err == nil || !strings.Contains(err.Error(), "restricted") || !strings.Contains(err.Error(), "allowPrivilegeEscalation") {
		t.Errorf("install container with allowPrivilegeEscalation=true in the restricted namespace: got %v, want a PodSecurity rejection", err)
	}
	if err := dryRun(c, escalates, nsPlain); err != nil {
		t.Errorf("the same pod in the plain namespace: %v", err)
	}

	invalid := out.DeepCopy()
	invalid.Spec.Volumes = append(invalid.Spec.Volumes, invalid.Spec.Volumes[len(invalid.Spec.Volumes)-1]) // graceful-bin twice
	if err := dryRun(c, invalid, nsPlain); err == nil || !strings.Contains(err.Error(), "Duplicate value") {
		t.Errorf("a pod with the volume %s twice: got %v, want Duplicate value", contract.VolumeName, err)
	}
}
