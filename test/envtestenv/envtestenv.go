// Package envtestenv starts a real etcd and kube-apiserver for tests
// (controller-runtime's envtest) from the binaries that hack/k8s-binaries.sh
// builds into bin/k8s (`make envtest-bin`). It never downloads anything and
// never skips: when the binaries are missing, starting fails with an error
// that says to run `make envtest-bin`.
package envtestenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ModulePath is the Go module whose root holds bin/k8s.
const ModulePath = "github.com/graceful-dev/graceful"

// Binaries are the executables that AssetsDir requires.
var Binaries = []string{"etcd", "kube-apiserver"}

// AssetsDir returns the absolute folder holding etcd and kube-apiserver:
// $KUBEBUILDER_ASSETS when set (a relative value is taken from the module
// root), otherwise bin/k8s in the root of module ModulePath, found by
// walking up from the working directory. It fails, naming `make
// envtest-bin`, when a binary is missing or not executable.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" || !filepath.IsAbs(dir) {
		root, err := ModuleRoot()
		if err != nil {
			return "", fmt.Errorf("find bin/k8s: %w", err)
		}
		if dir == "" {
			dir = filepath.Join("bin", "k8s")
		}
		dir = filepath.Join(root, dir)
	}
	for _, b := range Binaries {
		st, err := os.Stat(filepath.Join(dir, b))
		if err != nil {
			return "", fmt.Errorf("%s is missing in %s: run `make envtest-bin` (it builds etcd and kube-apiserver into bin/k8s): %w", b, dir, err)
		}
		if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
			return "", fmt.Errorf("%s in %s is not an executable file: run `make envtest-bin`", b, dir)
		}
	}
	return dir, nil
}

// ModuleRoot returns the folder of the go.mod that declares ModulePath,
// searching the working directory and its parents.
func ModuleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && declares(string(b), ModulePath) {
			return dir, nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("read %s: %w", filepath.Join(dir, "go.mod"), err)
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod of module %s in %s or its parents: set KUBEBUILDER_ASSETS to the folder with etcd and kube-apiserver", ModulePath, wd)
		}
	}
}

func declares(gomod, module string) bool {
	for line := range strings.Lines(gomod) {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "module" && strings.Trim(f[1], `"`) == module {
			return true
		}
	}
	return false
}

// Start points env at the binaries in AssetsDir (overriding any
// KUBEBUILDER_ASSETS lookup of envtest's own) and starts it. The caller owns
// env and stops it.
func Start(env *envtest.Environment) (*rest.Config, error) {
	dir, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	env.BinaryAssetsDirectory = dir
	env.ControlPlane.GetAPIServer().Path = filepath.Join(dir, "kube-apiserver")
	if env.ControlPlane.Etcd == nil {
		env.ControlPlane.Etcd = &envtest.Etcd{}
	}
	env.ControlPlane.Etcd.Path = filepath.Join(dir, "etcd")
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start etcd and kube-apiserver from %s: %w", dir, err)
	}
	return cfg, nil
}

// Shared is one control plane for all tests of a test binary, started by the
// first test that asks for it, so tests that do not need it pay nothing.
// Call Stop from TestMain after m.Run. The zero value is ready to use;
// set Environment first to add CRDs, webhooks or API server flags.
type Shared struct {
	Environment envtest.Environment

	once    sync.Once
	cfg     *rest.Config
	client  client.Client
	err     error
	startup time.Duration
}

// Client starts the control plane on first use and returns a client for it
// with client-go's default scheme (it skips t under go test -short, which
// only make test-fast uses). A start failure fails t (never skips),
// here and in every later call.
func (s *Shared) Client(t testing.TB) client.Client {
	t.Helper()
	skipShort(t)
	s.start()
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.client
}

// Config is Client's REST config (for clients of other kinds).
func (s *Shared) Config(t testing.TB) *rest.Config {
	t.Helper()
	skipShort(t)
	s.start()
	if s.err != nil {
		t.Fatal(s.err)
	}
	return rest.CopyConfig(s.cfg)
}

// skipShort skips t under go test -short: `make test-fast` runs the pure
// unit tests only, and `make test` (never -short) runs these.
func skipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs etcd and kube-apiserver: skipped under -short (make test runs it)")
	}
}

// StartupTime is how long the start took (zero before it).
func (s *Shared) StartupTime() time.Duration { return s.startup }

func (s *Shared) start() {
	s.once.Do(func() {
		t0 := time.Now()
		cfg, err := Start(&s.Environment)
		if err != nil {
			s.err = err
			return
		}
		s.startup = time.Since(t0)
		s.cfg = cfg
		c, err := client.New(cfg, client.Options{})
		if err != nil {
			s.err = fmt.Errorf("client for envtest: %w", err)
			return
		}
		s.client = c
	})
}

// Stop stops the control plane if it was started.
func (s *Shared) Stop() error {
	if s.cfg == nil {
		return nil
	}
	if err := s.Environment.Stop(); err != nil {
		return fmt.Errorf("stop envtest: %w", err)
	}
	return nil
}
