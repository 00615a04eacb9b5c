package rewrite

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/graceful-dev/graceful/pkg/contract"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testConfig is the Config of every golden case unless its header says otherwise.
func testConfig() Config {
	return Config{
		Image:                "registry.example/graceful@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Version:              "v0.1.0-test",
		ImageVolumeNodeLabel: contract.LabelImageVolume,
	}
}

// goldenModes are the default deliveries every golden case runs under, each
// with its own output file (goldenPath).
var goldenModes = []string{contract.DeliveryInitContainer, contract.DeliveryImageVolume}

// goldenPath is the output of input in under default delivery mode:
// X.yaml.injected for the init container, X.yaml.image-volume.injected for
// the image volume.
func goldenPath(in, mode string) string {
	if mode == contract.DeliveryImageVolume {
		return in + ".image-volume.injected"
	}
	return in + ".injected"
}

// goldenOutputs are every output file that exists, each with its input.
func goldenOutputs(t *testing.T) (outs, ins []string) {
	t.Helper()
	for _, mode := range goldenModes {
		o, err := filepath.Glob(goldenPath("testdata/*.yaml", mode))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range o {
			outs = append(outs, f)
			ins = append(ins, strings.TrimSuffix(strings.TrimSuffix(f, ".injected"), ".image-volume"))
		}
	}
	return outs, ins
}

// testImages is the fixed image table of the golden cases
// (testdata/images.json, which the webhook's equivalence test pushes to a
// real registry). Images not in it have no known config.
func testImages() map[string]ImageConfig {
	b, err := os.ReadFile("testdata/images.json")
	if err != nil {
		panic(err)
	}
	var m map[string]ImageConfig
	if err := json.Unmarshal(b, &m); err != nil {
		panic(fmt.Sprintf("testdata/images.json: %v", err))
	}
	return m
}

// caseHeader is read from the input's leading "# key: json" comment lines.
type caseHeader struct {
	Defaults struct {
		Containers []string `json:"containers"`
		DrainDelay string   `json:"drainDelay"`
		SignalMap  string   `json:"signalMap"`
	} `json:"-"`
	Config *struct {
		Image     *string                      `json:"image"`
		Version   *string                      `json:"version"`
		Resources *corev1.ResourceRequirements `json:"resources"`
	} `json:"-"`
}

func readCase(t *testing.T, path string) (*corev1.Pod, Config, Defaults) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var h caseHeader
	for line := range strings.Lines(string(raw)) {
		if !strings.HasPrefix(line, "#") {
			break
		}
		key, val, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "#")), ":")
		if !ok {
			continue
		}
		var dst any
		switch strings.TrimSpace(key) {
		case "defaults":
			dst = &h.Defaults
		case "config":
			dst = &h.Config
		default:
			continue
		}
		dec := json.NewDecoder(strings.NewReader(val))
		dec.DisallowUnknownFields()
		if err := dec.Decode(dst); err != nil {
			t.Fatalf("%s: header %q: %v", path, key, err)
		}
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(raw, &pod); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	cfg := testConfig()
	if c := h.Config; c != nil {
		if c.Image != nil {
			cfg.Image = *c.Image
		}
		if c.Version != nil {
			cfg.Version = *c.Version
		}
		if c.Resources != nil {
			cfg.Resources = *c.Resources
		}
	}
	d := Defaults{Containers: h.Defaults.Containers, SignalMap: h.Defaults.SignalMap}
	if h.Defaults.DrainDelay != "" {
		dd, err := time.ParseDuration(h.Defaults.DrainDelay)
		if err != nil {
			t.Fatalf("%s: defaults drainDelay: %v", path, err)
		}
		d.DrainDelay = &dd
	}
	return &pod, cfg, d
}

// render is the golden output: warnings and error as comments, then the pod.
func render(t *testing.T, pod *corev1.Pod, warnings []string, err error) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, w := range warnings {
		fmt.Fprintf(&b, "# warning: %s\n", w)
	}
	if err != nil {
		fmt.Fprintf(&b, "# error: %v\n", err)
		return b.Bytes()
	}
	y, merr := yaml.Marshal(pod)
	if merr != nil {
		t.Fatal(merr)
	}
	b.Write(y)
	return b.Bytes()
}

func goldenInputs(t *testing.T) []string {
	t.Helper()
	in, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(in) < 25 {
		t.Fatalf("%d golden cases, want at least 25", len(in))
	}
	return in
}

// forEachCase runs f for every golden input under every default delivery.
func forEachCase(t *testing.T, f func(t *testing.T, in, mode string, pod *corev1.Pod, cfg Config, d Defaults)) {
	for _, in := range goldenInputs(t) {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		for _, mode := range goldenModes {
			t.Run(name+"/"+mode, func(t *testing.T) {
				pod, cfg, d := readCase(t, in)
				cfg.Delivery = mode
				f(t, in, mode, pod, cfg, d)
			})
		}
	}
}

func TestGolden(t *testing.T) {
	forEachCase(t, func(t *testing.T, in, mode string, pod *corev1.Pod, cfg Config, d Defaults) {
		before := pod.DeepCopy()
		out, warnings, err := Pod(pod, cfg, d, testImages())
		if !reflect.DeepEqual(pod, before) {
			t.Error("Pod mutated its input")
		}
		got := render(t, out, warnings, err)
		golden := goldenPath(in, mode)
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		want, rerr := os.ReadFile(golden)
		if rerr != nil {
			t.Fatalf("%v (run go test ./pkg/inject/rewrite -update)", rerr)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs (-golden +got; run go test ./pkg/inject/rewrite -update to accept):\n%s", golden, cmp.Diff(strings.Split(string(want), "\n"), strings.Split(string(got), "\n")))
		}
	})
}

// TestGoldenIdempotent rewrites every golden output again: nothing may change
// and no warning may appear that the first pass did not give.
func TestGoldenIdempotent(t *testing.T) {
	forEachCase(t, func(t *testing.T, in, mode string, pod *corev1.Pod, cfg Config, d Defaults) {
		once, w1, err := Pod(pod, cfg, d, testImages())
		if err != nil {
			if _, _, err2 := Pod(pod, cfg, d, testImages()); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("error not stable: %v, then %v", err, err2)
			}
			return
		}
		twice, w2, err := Pod(once, cfg, d, testImages())
		if err != nil {
			t.Fatalf("second pass: %v", err)
		}
		if !reflect.DeepEqual(once, twice) {
			t.Errorf("second pass changed the pod (-first +second):\n%s", cmp.Diff(once, twice))
		}
		for _, w := range w2 {
			if !slices.Contains(w1, w) {
				t.Errorf("second pass gave a new warning: %s", w)
			}
		}
		// Round trip through YAML, as the API server stores it.
		y, _ := yaml.Marshal(once)
		var decoded corev1.Pod
		if err := yaml.Unmarshal(y, &decoded); err != nil {
			t.Fatal(err)
		}
		thrice, _, err := Pod(&decoded, cfg, d, testImages())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&decoded, thrice) {
			t.Error("pass over the decoded output changed the pod")
		}
		// The other default does not change a pod that has its delivery.
		other := cfg
		other.Delivery = contract.DeliveryInitContainer
		if mode == contract.DeliveryInitContainer {
			other.Delivery = contract.DeliveryImageVolume
		}
		if _, ok := once.Annotations[contract.AnnotationStatus]; ok {
			again, _, err := Pod(once, other, d, testImages())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(once, again) {
				t.Errorf("a pass with delivery %s changed the pod (-first +second):\n%s", other.Delivery, cmp.Diff(once, again))
			}
		}
	})
}

// TestGoldenFilesPaired fails on stale goldens: every input has an output
// and every output an input.
func TestGoldenFilesPaired(t *testing.T) {
	in := goldenInputs(t)
	out, outIn := goldenOutputs(t)
	for _, i := range in {
		for _, mode := range goldenModes {
			if g := goldenPath(i, mode); !slices.Contains(out, g) {
				t.Errorf("%s has no %s (run go test ./pkg/inject/rewrite -update)", i, g)
			}
		}
	}
	for k, o := range out {
		if !slices.Contains(in, outIn[k]) {
			t.Errorf("%s has no input %s: delete it", o, outIn[k])
		}
	}
	all, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if e.IsDir() && e.Name() == "fuzz" {
			continue // the fuzzer's corpus of failing inputs
		}
		if n := e.Name(); n != "images.json" && !strings.HasSuffix(n, ".yaml") && !strings.HasSuffix(n, ".yaml.injected") && !strings.HasSuffix(n, ".yaml.image-volume.injected") {
			t.Errorf("testdata/%s: neither a case, a golden output nor the image table", n)
		}
	}
}
