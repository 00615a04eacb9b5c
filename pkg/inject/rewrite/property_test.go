package rewrite

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

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
				found = found || c.Image == ref && len(c.Command) == 0
			}
			if !found {
				t.Fatalf("seed %d: Targets asks for image %q that no target without command uses", seed, ref)
			}
		}
		wrappedNow := 0
		forEachWrappable(out, func(c *corev1.Container) {
			if slices.Contains(names, c.Name) && isWrapped(c) {
				wrappedNow++
			}
		})
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
	if !slices.ContainsFunc(out.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == contract.VolumeName && isOurVolume(&v) }) {
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
		o.Command, o.Args, o.VolumeMounts = c.Command, c.Args, c.VolumeMounts
		if !reflect.DeepEqual(c, o) {
			t.Fatalf("seed %d: container %q: more changed than command, args and mounts", seed, c.Name)
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
