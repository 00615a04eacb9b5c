package init_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// 16. graceful-init depends on the standard library, golang.org/x/sys and its
// own packages only: nothing from k8s.io or sigs.k8s.io, nothing of the
// webhook's (pkg/webhook) or the pod rewrite's (pkg/inject). The init is
// copied into every wrapped pod and runs as its PID 1: it must stay small,
// static and quick to start, and every package it links adds initialisers
// that run before main, some of them ahead of the early signal catch. The
// check reads `go list -deps` rather than import lines (as a linter rule such
// as depguard would), so a dependency that comes in through another package
// fails it too; it covers both builds. It is run on cmd/webhook as well,
// which must fail it, so that a check gone blind can not pass.
func TestInitDependencies(t *testing.T) {
	for _, tags := range []string{"", linknameTag} {
		if bad := initDepProblems(t, "../../cmd/init", tags); len(bad) > 0 {
			t.Errorf("graceful-init (tags %q) depends on what it must not:\n%s", tags, strings.Join(bad, "\n"))
		}
	}
	if bad := initDepProblems(t, "../../cmd/webhook", ""); len(bad) == 0 {
		t.Errorf("the dependency check finds nothing wrong with cmd/webhook, which uses client-go: it checks nothing")
	}
}

const module = "github.com/graceful-dev/graceful"

// notForTheInit are the import path prefixes the init must not depend on.
var notForTheInit = []string{"k8s.io/", "sigs.k8s.io/", module + "/pkg/webhook/", module + "/pkg/inject/"}

// initModules are the modules besides the standard library that the init may
// use. Adding one is a decision about the init's size and start-up, to be
// made here and not by an import line.
var initModules = map[string]bool{module: true, "golang.org/x/sys": true}

// initDepProblems lists the packages that dir (a main package) depends on and
// must not, each with the chain of imports that brings it in.
func initDepProblems(t *testing.T, dir, tags string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json", "-tags", tags, dir)
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", dir, err, stderr.String())
	}
	type pkg struct {
		ImportPath string
		Standard   bool
		Imports    []string
		Module     *struct{ Path string }
	}
	var pkgs []pkg
	parent := map[string]string{} // the first importer of each package
	for dec := json.NewDecoder(bytes.NewReader(out)); dec.More(); {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("go list -deps %s: %v", dir, err)
		}
		pkgs = append(pkgs, p)
		for _, imp := range p.Imports {
			if _, ok := parent[imp]; !ok {
				parent[imp] = p.ImportPath
			}
		}
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list -deps %s listed nothing", dir)
	}
	chain := func(path string) string {
		c := []string{path}
		for p, ok := parent[path]; ok && len(c) < 50; p, ok = parent[p] {
			c = append([]string{p}, c...)
		}
		return strings.Join(c, " → ")
	}
	var bad []string
	for _, p := range pkgs {
		why := ""
		for _, prefix := range notForTheInit {
			if strings.HasPrefix(p.ImportPath+"/", prefix) {
				why = "under " + strings.TrimSuffix(prefix, "/")
			}
		}
		if why == "" && !p.Standard && (p.Module == nil || !initModules[p.Module.Path]) {
			why = "a module the init does not use"
		}
		if why != "" {
			bad = append(bad, "  "+chain(p.ImportPath)+" ("+why+")")
		}
	}
	return bad
}
