package rewrite

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/init/flags"
)

// randomDefaults returns policy defaults, sometimes naming pod's containers.
func randomDefaults(r *rand.Rand, pod *corev1.Pod) Defaults {
	var d Defaults
	if r.IntN(3) == 0 {
		for _, c := range append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...) {
			if r.IntN(2) == 0 {
				d.Containers = append(d.Containers, c.Name)
			}
		}
	}
	if r.IntN(3) == 0 {
		dd := time.Duration(r.IntN(20)-2) * time.Second
		d.DrainDelay = &dd
	}
	if r.IntN(3) == 0 {
		d.SignalMap = []string{"TERM=QUIT", "INT=TERM,TERM=INT", "bogus"}[r.IntN(3)]
	}
	return d
}

func literalEnv(c *corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

// TestRandomPods: on generated pods Pod never fails, never mutates its
// input, is idempotent, and every wrapped container runs graceful-init with
// exactly the argv it ran before.
func TestRandomPods(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	cfg := testConfig()
	injected, totalWrapped, totalSkipped := 0, 0, 0
	defer func() {
		// Keep the generator honest: most pods get wrapped, some containers skipped.
		t.Logf("%d pods: %d injected, %d containers wrapped, %d skipped with a warning", n, injected, totalWrapped, totalSkipped)
		if injected < n/2 || totalSkipped < n/20 || totalWrapped < n {
			t.Errorf("the generator covers too little: %d of %d pods injected, %d wrapped, %d skipped", injected, n, totalWrapped, totalSkipped)
		}
	}()
	for seed := range uint64(n) {
		r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
		pod, images := randomPod(r)
		d := randomDefaults(r, pod)
		before := pod.DeepCopy()

		out, w1, err := Pod(pod, cfg, d, images)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if !reflect.DeepEqual(pod, before) {
			t.Fatalf("seed %d: input mutated", seed)
		}
		twice, w2, err := Pod(out, cfg, d, images)
		if err != nil {
			t.Fatalf("seed %d: second pass: %v", seed, err)
		}
		if !reflect.DeepEqual(out, twice) {
			t.Fatalf("seed %d: not idempotent", seed)
		}
		for _, w := range w2 {
			if !slices.Contains(w1, w) {
				t.Fatalf("seed %d: second pass gave a new warning %q", seed, w)
			}
		}
		checkInvariants(t, seed, pod, out, images)

		// Targets names what Pod wraps, unless a warning says why not.
		names, refs, _ := Targets(pod, d)
		for _, ref := range refs {
			found := false
			for _, c := range append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...) {
				// Its ENTRYPOINT or its STOPSIGNAL is needed.
				found = found || c.Image == ref && (len(c.Command) == 0 || c.Lifecycle == nil || c.Lifecycle.StopSignal == nil)
			}
			if !found {
				t.Fatalf("seed %d: Targets asks for image %q that no target without a command or a lifecycle.stopSignal uses", seed, ref)
			}
		}
		wrappedNow := 0
		forEachWrappable(out, func(c *corev1.Container) {
			if slices.Contains(names, c.Name) && isWrapped(c) {
				wrappedNow++
			}
		})
		// A skip reads `container "x" not wrapped` or `container "x" (image
		// "y") not wrapped`; a warning about a wrapped container reads
		// `container "x": ...`.
		skipped := 0
		for _, w := range w1 {
			for _, n := range names {
				if strings.HasPrefix(w, fmt.Sprintf("container %q ", n)) {
					skipped++
				}
			}
		}
		totalSkipped += skipped
		totalWrapped += wrappedNow
		if _, ok := out.Annotations[contract.AnnotationStatus]; ok {
			injected++
		}
		if wrappedNow+skipped != len(names) {
			t.Fatalf("seed %d: Targets %q: %d wrapped + %d skipped with a warning (%q)", seed, names, wrappedNow, skipped, w1)
		}
	}
}

func checkInvariants(t *testing.T, seed uint64, in, out *corev1.Pod, images map[string]ImageConfig) {
	t.Helper()
	raw, injected := out.Annotations[contract.AnnotationStatus]
	if !injected {
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("seed %d: no status annotation but the pod changed", seed)
		}
		return
	}
	st, err := ParseStatus(raw)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	if st.Version != testConfig().Version || len(st.Containers) == 0 {
		t.Fatalf("seed %d: status %+v", seed, st)
	}
	if ic := out.Spec.InitContainers[0]; !isOurInstall(&ic) {
		t.Fatalf("seed %d: first init container is %q", seed, ic.Name)
	}
	if !slices.ContainsFunc(out.Spec.Volumes, func(v corev1.Volume) bool {
		return v.Name == contract.VolumeName && isOurVolume(&v, testConfig().Image)
	}) {
		t.Fatalf("seed %d: volume missing", seed)
	}
	orig := map[string]corev1.Container{}
	for _, c := range append(slices.Clone(in.Spec.InitContainers), in.Spec.Containers...) {
		orig[c.Name] = c
	}
	var wrapped []string
	for _, c := range append(slices.Clone(out.Spec.InitContainers[1:]), out.Spec.Containers...) {
		o := orig[c.Name]
		if !isWrapped(&c) {
			if !reflect.DeepEqual(c, o) {
				t.Fatalf("seed %d: container %q changed without being wrapped", seed, c.Name)
			}
			continue
		}
		if !isSidecar(&c) && slices.ContainsFunc(out.Spec.InitContainers, func(x corev1.Container) bool { return x.Name == c.Name }) {
			t.Fatalf("seed %d: plain init container %q wrapped", seed, c.Name)
		}
		wrapped = append(wrapped, c.Name)
		m := c.VolumeMounts[len(c.VolumeMounts)-1]
		if m.Name != contract.VolumeName || m.MountPath != contract.MountPath || !m.ReadOnly {
			t.Fatalf("seed %d: container %q: mount %+v", seed, c.Name, m)
		}
		// What runs: the flags, then exactly what ran before.
		end := slices.Index(c.Command, contract.EndOfFlags)
		if end < 0 {
			t.Fatalf("seed %d: container %q: no -- in %q", seed, c.Name, c.Command)
		}
		env := literalEnv(&o)
		want := append(slices.Clone(c.Command[:end+1]), effectiveArgv(o.Command, o.Args, images[o.Image], env)...)
		got := effectiveArgv(c.Command, c.Args, ImageConfig{Entrypoint: []string{"/not-used"}}, env)
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d: container %q runs %q, want %q", seed, c.Name, got, want)
		}
		checkStopFlags(t, seed, in, &o, c.Command[:end], images)
		// graceful-init itself reads the flags and finds the same argv.
		parsed, err := flags.Parse(got[1:], nil)
		if err != nil {
			t.Fatalf("seed %d: container %q: graceful-init refuses %q: %v", seed, c.Name, got, err)
		}
		if parsed.Mode != flags.ModeRun || !slices.Equal(parsed.Argv, got[end+1:]) {
			t.Fatalf("seed %d: container %q: graceful-init would run %q, want %q", seed, c.Name, parsed.Argv, got[end+1:])
		}
		if want := gracePeriod(in); parsed.GracePeriod != want {
			t.Fatalf("seed %d: container %q: graceful-init grace period %v, want %v", seed, c.Name, parsed.GracePeriod, want)
		}
		checkPreStop(t, seed, &o, &c)
		wantEnv := o.Env
		if isTini(got[end+1]) && !slices.ContainsFunc(o.Env, func(e corev1.EnvVar) bool { return e.Name == tiniSubreaper }) {
			wantEnv = append(slices.Clone(o.Env), corev1.EnvVar{Name: tiniSubreaper, Value: "1"})
		}
		if !reflect.DeepEqual(c.Env, wantEnv) {
			t.Fatalf("seed %d: container %q: env %v, want %v", seed, c.Name, c.Env, wantEnv)
		}
		o.Command, o.Args, o.VolumeMounts, o.Lifecycle, o.Env = c.Command, c.Args, c.VolumeMounts, c.Lifecycle, c.Env
		if !reflect.DeepEqual(c, o) {
			t.Fatalf("seed %d: container %q: more changed than command, args, mounts, the preStop hook and tini's env", seed, c.Name)
		}
	}
	if !slices.Equal(wrapped, st.Containers) {
		t.Fatalf("seed %d: status lists %q, wrapped are %q", seed, st.Containers, wrapped)
	}
}

// The generator is deterministic: TestRandomPodsAcceptedByAPIServer relies
// on a seed reproducing a pod.
func TestRandomPodDeterministic(t *testing.T) {
	a, ai := randomPod(rand.New(rand.NewPCG(7, 7)))
	b, bi := randomPod(rand.New(rand.NewPCG(7, 7)))
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(ai, bi) {
		t.Error("same seed, different pods")
	}
}

// stopFlags are the flags of the stop path.
var stopFlags = []string{contract.FlagStopSignal, contract.FlagTerminationLog, contract.FlagKill}

// checkStopFlags: the stop path's flags among graceful-init's (initFlags,
// the command up to "--") are what the original container o of pod in
// calls for, worked out here from the API's and the runtime's rules.
func checkStopFlags(t *testing.T, seed uint64, in *corev1.Pod, o *corev1.Container, initFlags []string, images map[string]ImageConfig) {
	t.Helper()
	got := map[string]string{}
	for _, f := range initFlags[1:] {
		name, val, _ := strings.Cut(f, "=")
		if slices.Contains(stopFlags, name) {
			got[name] = val
		}
	}
	want := map[string]string{contract.FlagTerminationLog: o.TerminationMessagePath}
	if o.TerminationMessagePath == "" {
		want[contract.FlagTerminationLog] = "/dev/termination-log"
	}
	raw := images[o.Image].StopSignal
	if o.Lifecycle != nil && o.Lifecycle.StopSignal != nil {
		raw = string(*o.Lifecycle.StopSignal)
	}
	if sig, err := contract.ParseStopSignal(raw); err == nil && sig != syscall.SIGTERM {
		want[contract.FlagStopSignal] = contract.SignalName(sig)
		if contract.CheckStopSignal(sig) != nil {
			t.Fatalf("seed %d: container %q wrapped with the stop signal %s", seed, o.Name, raw)
		}
	}
	if in.Annotations[contract.AnnotationKill] == "false" {
		want[contract.FlagKill] = "false"
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("seed %d: container %q: stop path flags %v, want %v", seed, o.Name, got, want)
	}
}

// checkPreStop: the wrapped container c's preStop hook runs graceful-init
// prestop and then what o's did, or is o's own where it can not move into
// the container.
func checkPreStop(t *testing.T, seed uint64, o, c *corev1.Container) {
	t.Helper()
	var h *corev1.LifecycleHandler
	if o.Lifecycle != nil {
		h = o.Lifecycle.PreStop
	}
	var got []string
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Exec != nil {
		got = c.Lifecycle.PreStop.Exec.Command
	}
	head := []string{contract.InitPath, contract.SubcommandPreStop}
	kept := c.Lifecycle != nil && reflect.DeepEqual(c.Lifecycle.PreStop, h)
	switch {
	case h == nil:
		if !slices.Equal(got, head) {
			t.Fatalf("seed %d: container %q: preStop %q, want %q", seed, o.Name, got, head)
		}
	case h.TCPSocket != nil:
		if !kept {
			t.Fatalf("seed %d: container %q: the tcpSocket hook changed", seed, o.Name)
		}
	case h.HTTPGet != nil && h.HTTPGet.Port.Type == intstr.String && !slices.ContainsFunc(o.Ports, func(p corev1.ContainerPort) bool { return p.Name == h.HTTPGet.Port.StrVal }):
		if !kept {
			t.Fatalf("seed %d: container %q: the hook on an unknown port changed", seed, o.Name)
		}
	case h.HTTPGet != nil && strings.EqualFold(string(h.HTTPGet.Scheme), "https"):
		if !kept {
			t.Fatalf("seed %d: container %q: the HTTPS hook changed (graceful-init speaks plain HTTP only)", seed, o.Name)
		}
	case h.HTTPGet != nil:
		if len(got) < 3 || !slices.Equal(got[:2], head) || !strings.HasPrefix(got[2], contract.FlagPreStopGet+"="+strings.ToLower(string(h.HTTPGet.Scheme))) ||
			len(got) != 3+len(h.HTTPGet.HTTPHeaders) {
			t.Fatalf("seed %d: container %q: preStop %q for %+v", seed, o.Name, got, h.HTTPGet)
		}
	case h.Sleep != nil:
		if want := append(head, fmt.Sprintf("%s=%ds", contract.FlagPreStopSleep, h.Sleep.Seconds)); !slices.Equal(got, want) {
			t.Fatalf("seed %d: container %q: preStop %q, want %q", seed, o.Name, got, want)
		}
	case h.Exec != nil:
		if want := append(append(head, contract.EndOfFlags), h.Exec.Command...); !slices.Equal(got, want) {
			t.Fatalf("seed %d: container %q: preStop %q, want %q", seed, o.Name, got, want)
		}
	}
	if o.Lifecycle != nil && (c.Lifecycle == nil || !reflect.DeepEqual(c.Lifecycle.PostStart, o.Lifecycle.PostStart) || c.Lifecycle.StopSignal != o.Lifecycle.StopSignal && *c.Lifecycle.StopSignal != *o.Lifecycle.StopSignal) {
		t.Fatalf("seed %d: container %q: the lifecycle's postStart or stopSignal changed", seed, o.Name)
	}
}
