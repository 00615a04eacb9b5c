package rewrite

import (
	"fmt"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Entrypoints that are inits of their own. Some must be PID 1 and refuse to
// run, or run as something else, under graceful-init; those containers are
// left alone. tini runs anywhere but warns unless it is a subreaper.

// ownInits are the argv[0]s of inits that must themselves be PID 1:
// s6-overlay's /init, systemd, and whatever /sbin/init is.
var ownInits = []string{"/init", "/sbin/init", "/usr/sbin/init", "init", "/lib/systemd/systemd", "/usr/lib/systemd/systemd", "systemd"}

// OwnInit is a container left unwrapped because its entrypoint is an init
// that must itself be PID 1.
type OwnInit struct {
	Container, Image string
	// Entrypoint is the argv[0] it runs.
	Entrypoint string
}

// ownInitError is the reason an OwnInit is left unwrapped.
type ownInitError struct{ argv0 string }

func (e *ownInitError) Error() string {
	return fmt.Sprintf("it runs %s, an init that must itself be PID 1 (s6-overlay, systemd): it does not work under graceful-init", e.argv0)
}

// argv0 is argv[0] of the process the wrapped command and args run, n the
// length of graceful-init's part of the command. Strings taken from the image
// are escaped for $(VAR) expansion; no name compared against here has a "$".
func argv0(command, args []string, n int) string {
	if len(command) > n {
		return command[n]
	}
	if len(args) > 0 {
		return args[0]
	}
	return ""
}

// isTini: tini under its usual names (tini, tini-static, tini-amd64, ...).
func isTini(argv0 string) bool {
	b := path.Base(argv0)
	return b == "tini" || strings.HasPrefix(b, "tini-")
}

// tiniSubreaper is the variable that makes tini register as a child
// subreaper, which it wants to be when it is not PID 1.
const tiniSubreaper = "TINI_SUBREAPER"

// tiniEnv returns c's env with TINI_SUBREAPER set, unless c sets it already.
// Under graceful-init tini is not PID 1 and otherwise warns at every start
// ("Tini is not running as PID 1 and isn't registered as a child
// subreaper"); as a subreaper it reaps its own orphans as it would as PID 1.
func tiniEnv(c *corev1.Container) ([]corev1.EnvVar, bool) {
	if slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == tiniSubreaper }) {
		return nil, false
	}
	return append(slices.Clone(c.Env), corev1.EnvVar{Name: tiniSubreaper, Value: "1"}), true
}
