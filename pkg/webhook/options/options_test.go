package options

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graceful-dev/graceful/pkg/contract"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

var podNS = env(map[string]string{"POD_NAMESPACE": "graceful-system"})

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAndFlags(t *testing.T) {
	c, err := Parse([]string{"--image", "graceful:v1"}, podNS, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.OwnNamespace != "graceful-system" || c.LookupFailure != LookupSkipContainer || c.LookupTimeout.Duration != 3*time.Second ||
		c.CertMode != CertRotate || c.Port != 9443 || c.Delivery != "initContainer" || c.ImageVolumeNodeLabel != "graceful.dev/image-volume" {
		t.Errorf("defaults: %+v", c)
	}
	if got := c.ExcludedNamespaces(); strings.Join(got, ",") != "kube-system,kube-public,kube-node-lease,graceful-system" {
		t.Errorf("excluded %v", got)
	}
}

func TestFileThenFlags(t *testing.T) {
	p := writeFile(t, `
image: graceful@sha256:abc
lookupFailure: reject
lookupTimeout: 2s
insecureRegistries: [127.0.0.1:5000]
systemNamespaces: [kube-system]
installResources:
  requests: {cpu: 5m}
  limits: {cpu: 50m}
certMode: dir
port: 8443
`)
	c, err := Parse([]string{"--config", p, "--port", "9000"}, podNS, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Image != "graceful@sha256:abc" || c.LookupFailure != LookupReject || c.LookupTimeout.Duration != 2*time.Second ||
		c.CertMode != CertDir || c.Port != 9000 || len(c.InsecureRegistries) != 1 || c.InstallResources.Limits.Cpu().String() != "50m" {
		t.Errorf("got %+v", c)
	}
}

// Every bad value stops the start with the field's name in the message.
func TestErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		args       []string
		env        func(string) string
		want       string
	}{
		{name: "unknown field", file: "image: x\nlookupTimout: 2s\n", want: `unknown field "lookupTimout"`},
		{name: "no image", want: "image: required"},
		{name: "no namespace", args: []string{"--image", "x"}, env: env(nil), want: "ownNamespace: required"},
		{name: "bad mode", args: []string{"--image", "x", "--lookup-failure", "guess"}, want: `lookupFailure: "guess"`},
		{name: "timeout too long", args: []string{"--image", "x", "--lookup-timeout", "5s"}, want: "lookupTimeout: 5s"},
		{name: "timeout zero", file: "image: x\nlookupTimeout: 0s\n", want: "lookupTimeout: 0s"},
		{name: "bad cert mode", args: []string{"--image", "x", "--cert-mode", "manual"}, want: `certMode: "manual"`},
		{name: "bad port", args: []string{"--image", "x", "--port", "0"}, want: "port: 0"},
		{name: "bad secret name", args: []string{"--image", "x", "--cert-secret", "Bad_Name"}, want: `certSecretName: "Bad_Name"`},
		{name: "bad system namespace", args: []string{"--image", "x", "--system-namespaces", "kube-system,NOPE"}, want: `systemNamespaces: "NOPE"`},
		{name: "missing CA bundle", args: []string{"--image", "x", "--registry-ca-bundle", "/nonexistent/ca.pem"}, want: "registryCABundle:"},
		{name: "request above limit", file: "image: x\ninstallResources: {requests: {cpu: 1}, limits: {cpu: 10m}}\n", want: "installResources:"},
		{name: "bad insecure registry", args: []string{"--image", "x", "--insecure-registries", "http://r/x"}, want: "insecureRegistries:"},
		{name: "bad delivery", args: []string{"--image", "x", "--delivery", "hostPath"}, want: `delivery: "hostPath": want initContainer or imageVolume`},
		{name: "bad node label", args: []string{"--image", "x", "--image-volume-node-label", "no spaces"}, want: `imageVolumeNodeLabel: "no spaces" is not a label key`},
		{name: "stray argument", args: []string{"--image", "x", "extra"}, want: `unexpected arguments ["extra"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"--config", writeFile(t, tc.file)}, args...)
			}
			e := tc.env
			if e == nil {
				e = podNS
			}
			_, err := Parse(args, e, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var b strings.Builder
	_, err := Parse([]string{"-h"}, podNS, &b)
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(b.String(), "-lookup-failure") {
		t.Errorf("err %v, usage %q", err, b.String())
	}
}

func TestNewOptionsDefaults(t *testing.T) {
	c, err := Parse([]string{"--image", "x"}, podNS, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.MetricsSecure || c.EnableHTTP2 || c.LeaderElection || c.LeaderElectionID != "graceful-webhook" {
		t.Errorf("metricsSecure %v enableHTTP2 %v leaderElection %v leaderElectionID %q: want true, false, false, graceful-webhook",
			c.MetricsSecure, c.EnableHTTP2, c.LeaderElection, c.LeaderElectionID)
	}
	c, err = Parse([]string{"--image", "x", "--metrics-secure=false", "--enable-http2", "--leader-elect", "--leader-election-id", "g-1"}, podNS, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsSecure || !c.EnableHTTP2 || !c.LeaderElection || c.LeaderElectionID != "g-1" {
		t.Errorf("flags not applied: %+v", c)
	}
	if _, err := Parse([]string{"--image", "x", "--leader-elect", "--leader-election-id", "Not_A_Name"}, podNS, io.Discard); err == nil ||
		!strings.Contains(err.Error(), `leaderElectionID: "Not_A_Name"`) {
		t.Errorf("bad lease name: %v", err)
	}
}

// Every flag sets the field whose YAML name its tag declares, the file
// sets it when the flag is not given, and a flag given wins over the file.
func TestEveryFlagOverTheFile(t *testing.T) {
	var probe Config
	n := 0
	for _, f := range fields(&probe) {
		if f.flag == "" {
			continue
		}
		n++
		t.Run(f.flag, func(t *testing.T) {
			fromFile, fromFlag, yamlValue := samples(t, f)
			path := writeFile(t, f.name+": "+yamlValue+"\n")
			get := func(args ...string) string {
				t.Helper()
				c, err := load(args, podNS, io.Discard)
				if err != nil {
					t.Fatal(err)
				}
				fs, _ := flagSet(&c, io.Discard)
				return fs.Lookup(f.flag).Value.String()
			}
			if got := get("--config", path); got != fromFile {
				t.Errorf("file alone: %q, want %q", got, fromFile)
			}
			if got := get("--config", path, "--"+f.flag+"="+fromFlag); got != fromFlag {
				t.Errorf("file and flag: %q, want the flag's %q", got, fromFlag)
			}
			if got := get("--" + f.flag + "=" + fromFlag); got != fromFlag {
				t.Errorf("flag alone: %q, want %q", got, fromFlag)
			}
		})
	}
	if n < 20 {
		t.Errorf("%d flags, want at least 20", n)
	}
}

// samples are two values of f's kind, each unlike the default, and the
// first in YAML.
func samples(t *testing.T, f field) (fromFile, fromFlag, yamlValue string) {
	switch f.ptr.(type) {
	case *string:
		return "from-file", "from-flag", `"from-file"`
	case *[]string:
		return "a,b", "c", "[a, b]"
	case *int:
		return "7", "8", "7"
	case *metav1.Duration:
		return "1.5s", "2.5s", "1.5s"
	case *bool:
		// The file flips the default; the flag sets it back.
		d, _ := strconv.ParseBool(f.def)
		return strconv.FormatBool(!d), strconv.FormatBool(d), strconv.FormatBool(!d)
	}
	t.Fatalf("no samples for %T", f.ptr)
	return
}

func TestHelpShowsEveryFlag(t *testing.T) {
	var b strings.Builder
	if _, err := Parse([]string{"-h"}, podNS, &b); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	var probe Config
	for _, f := range fields(&probe) {
		if f.flag != "" && !regexp.MustCompile(`(?m)^  -`+regexp.QuoteMeta(f.flag)+`\b`).MatchString(b.String()) {
			t.Errorf("usage lacks -%s:\n%s", f.flag, b.String())
		}
	}
	if !strings.Contains(b.String(), `(default 3s)`) || !strings.Contains(b.String(), `(default "skip-container")`) {
		t.Errorf("usage shows no defaults:\n%s", b.String())
	}
}

// The default system namespaces are contract.SystemNamespaces, which
// offline inject uses too: the struct tag may not drift from it.
func TestSystemNamespacesDefault(t *testing.T) {
	if got, want := Defaults(func(string) string { return "" }).SystemNamespaces, contract.SystemNamespaces(); !slices.Equal(got, want) {
		t.Errorf("default system namespaces %q, want contract.SystemNamespaces() %q", got, want)
	}
}
