package rewrite

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/graceful-dev/graceful/pkg/contract"
)

// initFlagsOf returns graceful-init's flags in c's wrapped command (nil
// when c is not wrapped).
func initFlagsOf(c *corev1.Container) []string {
	if !isWrapped(c) {
		return nil
	}
	end := slices.Index(c.Command, contract.EndOfFlags)
	return c.Command[1:end]
}

func TestStopSignalSources(t *testing.T) {
	images := map[string]ImageConfig{
		"quit":    {Entrypoint: []string{"/q"}, StopSignal: "SIGQUIT"},
		"number":  {Entrypoint: []string{"/n"}, StopSignal: "10"},
		"rt":      {Entrypoint: []string{"/r"}, StopSignal: "RTMIN+3"},
		"bad":     {Entrypoint: []string{"/b"}, StopSignal: "SIGNOPE"},
		"plain":   {Entrypoint: []string{"/p"}},
		"killing": {Entrypoint: []string{"/k"}, StopSignal: "9"},
	}
	lifecycle := func(s corev1.Signal) *corev1.Lifecycle { return &corev1.Lifecycle{StopSignal: &s} }
	for _, tc := range []struct {
		name    string
		c       corev1.Container
		flag    string // --stop-signal value, "" for none
		warning string // part of the container's warning, "" for none
		skipped bool
	}{
		{name: "lifecycle.stopSignal", c: corev1.Container{Image: "unknown", Command: []string{"/a"}, Lifecycle: lifecycle(corev1.SIGINT)}, flag: "INT"},
		{name: "lifecycle.stopSignal beats the image's", c: corev1.Container{Image: "quit", Lifecycle: lifecycle(corev1.SIGTERM)}},
		{name: "lifecycle.stopSignal realtime", c: corev1.Container{Image: "plain", Lifecycle: lifecycle(corev1.SIGRTMAXMINUS2)}, flag: "62"},
		{name: "image by name", c: corev1.Container{Image: "quit"}, flag: "QUIT"},
		{name: "image by number", c: corev1.Container{Image: "number"}, flag: "USR1"},
		{name: "image realtime", c: corev1.Container{Image: "rt"}, flag: "37"},
		{name: "image with a command", c: corev1.Container{Image: "quit", Command: []string{"/a"}}, flag: "QUIT"},
		{name: "neither", c: corev1.Container{Image: "plain"}},
		{name: "unparsable", c: corev1.Container{Image: "bad"}, warning: `STOPSIGNAL of image "bad": unknown stop signal "SIGNOPE"`},
		{name: "lookup failed, command set", c: corev1.Container{Image: "unknown", Command: []string{"/a"}}, warning: `the config of image "unknown" is not known, so neither is its STOPSIGNAL`},
		{name: "lookup failed, no command", c: corev1.Container{Image: "unknown"}, warning: "its ENTRYPOINT", skipped: true},
		{name: "SIGKILL", c: corev1.Container{Image: "killing"}, warning: "its stop signal is SIGKILL", skipped: true},
		{name: "SIGSTOP", c: corev1.Container{Image: "plain", Lifecycle: lifecycle(corev1.SIGSTOP)}, warning: "its stop signal is SIGSTOP", skipped: true},
		{name: "SIGCHLD", c: corev1.Container{Image: "plain", Lifecycle: lifecycle(corev1.SIGCHLD)}, warning: "SIGCHLD is graceful-init's own", skipped: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Name = "c"
			out, warnings, err := Pod(simplePod(tc.c), testConfig(), Defaults{}, images)
			if err != nil {
				t.Fatal(err)
			}
			c := &out.Spec.Containers[0]
			if isWrapped(c) == tc.skipped {
				t.Fatalf("wrapped: %v, want %v (warnings %q)", isWrapped(c), !tc.skipped, warnings)
			}
			var got []string
			for _, f := range initFlagsOf(c) {
				if v, ok := strings.CutPrefix(f, contract.FlagStopSignal+"="); ok {
					got = append(got, v)
				}
			}
			if want := []string{tc.flag}; tc.flag == "" && len(got) != 0 || tc.flag != "" && !slices.Equal(got, want) {
				t.Errorf("--stop-signal %q, want %q", got, tc.flag)
			}
			var mine []string
			for _, w := range warnings {
				if strings.HasPrefix(w, `container "c"`) {
					mine = append(mine, w)
				}
			}
			if tc.warning == "" && len(mine) != 0 || tc.warning != "" && (len(mine) != 1 || !strings.Contains(mine[0], tc.warning)) {
				t.Errorf("warnings %q, want one containing %q", mine, tc.warning)
			}
		})
	}
}

func TestPreStopURL(t *testing.T) {
	c := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "admin", ContainerPort: 9000}}}
	for _, tc := range []struct {
		g    corev1.HTTPGetAction
		want string
	}{
		{corev1.HTTPGetAction{Port: intstr.FromInt32(80)}, "http://:80/"},
		{corev1.HTTPGetAction{Port: intstr.FromString("admin"), Path: "/quit"}, "http://:9000/quit"},
		{corev1.HTTPGetAction{Port: intstr.FromString("http"), Path: "drain?now=1", Scheme: "http"}, "http://:8080/drain?now=1"},
		{corev1.HTTPGetAction{Port: intstr.FromInt32(443), Host: "::1", Path: "/a b"}, "http://[::1]:443/a%20b"},
		{corev1.HTTPGetAction{Port: intstr.FromInt32(8080), Host: "10.0.0.1", Path: "%zz"}, "http://10.0.0.1:8080/%25zz"},
	} {
		got, err := preStopURL(&tc.g, c)
		if err != nil || got != tc.want {
			t.Errorf("%+v: %q, %v; want %q", tc.g, got, err, tc.want)
		}
	}
	if got, err := preStopURL(&corev1.HTTPGetAction{Port: intstr.FromInt32(8443), Scheme: corev1.URISchemeHTTPS}, c); err == nil || !strings.Contains(err.Error(), "plain HTTP only") {
		t.Errorf("https: %q, %v; want an error saying graceful-init sends plain HTTP only", got, err)
	}
	for _, p := range []intstr.IntOrString{intstr.FromString("web"), intstr.FromString("8080"), intstr.FromInt32(0), intstr.FromInt32(70000)} {
		if got, err := preStopURL(&corev1.HTTPGetAction{Port: p}, c); err == nil {
			t.Errorf("port %s: %q, want an error", p.String(), got)
		}
	}
}

// An empty exec and an empty handler both become the bare hook; a hook
// already running graceful-init stays.
func TestPreStopEdges(t *testing.T) {
	for name, h := range map[string]*corev1.LifecycleHandler{
		"empty handler": {},
		"empty exec":    {Exec: &corev1.ExecAction{}},
	} {
		lc, ok, w := preStop(&corev1.Container{Lifecycle: &corev1.Lifecycle{PreStop: h}})
		if !ok || len(w) != 0 || !slices.Equal(lc.PreStop.Exec.Command, preStopPrefix()) {
			t.Errorf("%s: %+v %v %q", name, lc, ok, w)
		}
	}
	c := &corev1.Container{Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{contract.InitPath, "prestop", "--", "/x"}}}}}
	if lc, ok, _ := preStop(c); ok || lc != nil {
		t.Errorf("a wrapped hook was wrapped again: %+v", lc)
	}
}

// The rewrite names the containers left alone for an init of their own, for
// the webhook's Events; tini is not one of them.
func TestOwnInitReported(t *testing.T) {
	pod := simplePod(
		corev1.Container{Name: "s6", Image: "s6"},
		corev1.Container{Name: "systemd", Image: "x", Command: []string{"/usr/lib/systemd/systemd", "--system"}},
		corev1.Container{Name: "cmd-only", Image: "cmdinit"},
		corev1.Container{Name: "tini", Image: "x", Command: []string{"/tini", "--", "/app"}},
	)
	images := map[string]ImageConfig{"s6": {Entrypoint: []string{"/init"}}, "x": {}, "cmdinit": {Cmd: []string{"init"}}}
	res, err := Rewrite(pod, testConfig(), Defaults{}, images)
	if err != nil {
		t.Fatal(err)
	}
	want := []OwnInit{{"s6", "s6", "/init"}, {"systemd", "x", "/usr/lib/systemd/systemd"}, {"cmd-only", "cmdinit", "init"}}
	if !slices.Equal(res.OwnInit, want) {
		t.Errorf("OwnInit %+v, want %+v", res.OwnInit, want)
	}
	if st, _ := ParseStatus(res.Pod.Annotations[contract.AnnotationStatus]); !slices.Equal(st.Containers, []string{"tini"}) {
		t.Errorf("wrapped %q, want only tini", st.Containers)
	}
	if env := res.Pod.Spec.Containers[3].Env; len(env) != 1 || env[0].Name != "TINI_SUBREAPER" {
		t.Errorf("tini's env %+v, want TINI_SUBREAPER", env)
	}
}

func TestKillAnnotation(t *testing.T) {
	for value, want := range map[string]bool{"false": true, "true": false, "": false, "False": false, "0": false} {
		pod := simplePod(corev1.Container{Name: "a", Image: "i", Command: []string{"/a"}})
		pod.Annotations = map[string]string{contract.AnnotationKill: value}
		out, warnings, err := Pod(pod, testConfig(), Defaults{}, map[string]ImageConfig{"i": {}})
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(initFlagsOf(&out.Spec.Containers[0]), contract.FlagKill+"=false"); got != want {
			t.Errorf("%s=%q: --kill=false written: %v, want %v", contract.AnnotationKill, value, got, want)
		}
		if warned := len(warnings) > 0; warned != (value != "true" && value != "false") {
			t.Errorf("%s=%q: warnings %q", contract.AnnotationKill, value, warnings)
		}
	}
}
