package rewrite

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/graceful-dev/graceful/pkg/contract"
)

// The stop path: what a wrapped container gets so that graceful-init stops
// on the signal the runtime really sends and learns of the stop when the
// kubelet starts it (the preStop hook), not only when the signal comes.

// needsImage reports whether wrapping c needs its image's config: for the
// ENTRYPOINT when c sets no command, for the STOPSIGNAL when it sets no
// lifecycle.stopSignal.
func needsImage(c *corev1.Container) bool {
	return len(c.Command) == 0 || c.Lifecycle == nil || c.Lifecycle.StopSignal == nil
}

// stopSignal is the signal the container runtime will stop c with:
// lifecycle.stopSignal, else the image's STOPSIGNAL (img nil: not known),
// else SIGTERM. from says where it came from, for messages. A value the
// runtime's parser would not read, and an unknown image config, give a
// warning and SIGTERM.
func stopSignal(c *corev1.Container, img *ImageConfig) (sig syscall.Signal, from string, warnings []string) {
	var raw string
	switch {
	case c.Lifecycle != nil && c.Lifecycle.StopSignal != nil:
		raw, from = string(*c.Lifecycle.StopSignal), "lifecycle.stopSignal"
	case img == nil:
		return syscall.SIGTERM, "", []string{fmt.Sprintf("container %q: the config of image %q is not known, so neither is its STOPSIGNAL; graceful-init is told the stop signal is SIGTERM, the runtime's default",
			c.Name, c.Image)}
	case img.StopSignal != "":
		raw, from = img.StopSignal, fmt.Sprintf("the STOPSIGNAL of image %q", c.Image)
	default:
		return syscall.SIGTERM, "", nil
	}
	sig, err := contract.ParseStopSignal(raw)
	if err != nil {
		return syscall.SIGTERM, "", []string{fmt.Sprintf("container %q: %s: %v; graceful-init is told the stop signal is SIGTERM", c.Name, from, err)}
	}
	return sig, from, nil
}

// errStopSignal: the container's stop signal is one graceful-init can not act on.
var errStopSignal = errors.New("graceful-init can do nothing for a container stopped with it")

// containerFlags are the flags of c's own after podFlags, up to and
// including "--": --stop-signal when the signal is not SIGTERM, and
// --termination-log.
func containerFlags(c *corev1.Container, sig syscall.Signal) []string {
	var flags []string
	if sig != syscall.SIGTERM {
		flags = append(flags, contract.FlagStopSignal+"="+contract.SignalName(sig))
	}
	return append(flags, contract.FlagTerminationLog+"="+terminationLog(c), contract.EndOfFlags)
}

// terminationLog is c's terminationMessagePath, Kubernetes' default when
// unset (the API server fills it in; offline manifests often leave it out).
func terminationLog(c *corev1.Container) string {
	if c.TerminationMessagePath != "" {
		return c.TerminationMessagePath
	}
	return contract.DefaultTerminationLog
}

// terminationLogWarning: with FallbackToLogsOnError the kubelet shows the
// end of the log only when the message file is empty, and graceful-init's
// report fills it.
func terminationLogWarning(c *corev1.Container) []string {
	if c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
		return nil
	}
	return []string{fmt.Sprintf("container %q: terminationMessagePolicy FallbackToLogsOnError: graceful-init writes its shutdown report to %s when the app wrote nothing there, and then the kubelet shows that report instead of the end of the log",
		c.Name, terminationLog(c))}
}

// preStopPrefix is the wrapped hook's command before what the original did.
func preStopPrefix() []string { return []string{contract.InitPath, contract.SubcommandPreStop} }

// preStop returns c's lifecycle with the preStop hook wrapped: graceful-init
// prestop first tells the init that the stop has begun, then does what the
// hook did. ok is false when the hook stays as it is (already wrapped, or a
// hook that can not be moved into the container; a warning says which).
//
//	none                    → [init, prestop]
//	exec [X...]             → [init, prestop, --, X...]
//	sleep N                 → [init, prestop, --sleep=Ns]
//	httpGet (HTTP)          → [init, prestop, --http-get=URL, --header=NAME: VALUE...]
//	httpGet (HTTPS)         → left alone (graceful-init speaks plain HTTP only)
//	tcpSocket               → left alone (the kubelet fails it at run time)
func preStop(c *corev1.Container) (lc *corev1.Lifecycle, ok bool, warnings []string) {
	lc = &corev1.Lifecycle{}
	if c.Lifecycle != nil {
		lc = c.Lifecycle.DeepCopy()
	}
	h := lc.PreStop
	cmd := preStopPrefix()
	switch {
	case h == nil:
	case h.Exec != nil:
		if len(h.Exec.Command) > 0 && h.Exec.Command[0] == contract.InitPath {
			return nil, false, nil // wrapped already
		}
		if len(h.Exec.Command) > 0 {
			cmd = append(append(cmd, contract.EndOfFlags), h.Exec.Command...)
		}
	case h.HTTPGet != nil:
		u, err := preStopURL(h.HTTPGet, c)
		if err != nil {
			return nil, false, []string{fmt.Sprintf("container %q: lifecycle.preStop.httpGet: %v; the hook is left as it is, and graceful-init learns of the stop from the stop signal only", c.Name, err)}
		}
		cmd = append(cmd, contract.FlagPreStopGet+"="+u)
		for _, hd := range h.HTTPGet.HTTPHeaders {
			cmd = append(cmd, contract.FlagPreStopHeader+"="+hd.Name+": "+hd.Value)
		}
	case h.Sleep != nil:
		cmd = append(cmd, fmt.Sprintf("%s=%ds", contract.FlagPreStopSleep, h.Sleep.Seconds))
	case h.TCPSocket != nil:
		return nil, false, []string{fmt.Sprintf("container %q: lifecycle.preStop.tcpSocket is not a hook the kubelet runs (it fails at run time); the hook is left as it is, and graceful-init learns of the stop from the stop signal only", c.Name)}
	}
	lc.PreStop = &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: cmd}}
	return lc, true, nil
}

// preStopURL is the URL the kubelet would GET for the hook, built as the
// kubelet builds it (lower-case scheme, http by default; the path, "/" by
// default, parsed as a URL so that a query stays one), with a named port
// resolved against c's ports. The host stays empty when the hook's is: graceful-init then uses
// the pod's IP, as the kubelet does.
func preStopURL(g *corev1.HTTPGetAction, c *corev1.Container) (string, error) {
	port, err := containerPort(g.Port, c)
	if err != nil {
		return "", err
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	if scheme != "http" {
		// graceful-init stays small: it speaks plain HTTP only (TLS would
		// add a megabyte to every injected container). The kubelet keeps
		// such a hook.
		return "", fmt.Errorf("scheme %s: graceful-init's hook sends plain HTTP only", strings.ToUpper(scheme))
	}
	path := g.Path
	if path == "" {
		path = "/" // the API server's default, so pods and manifests agree
	}
	u, err := url.Parse(path)
	if err != nil {
		u = &url.URL{Path: path} // the kubelet passes such a path on as it is
	}
	u.Scheme, u.Host = scheme, net.JoinHostPort(g.Host, strconv.Itoa(port))
	return u.String(), nil
}

// containerPort resolves a hook's port as the kubelet does: a number as it
// is, a name by c's ports. (The kubelet also reads a name as a number when
// no port has it, but validation lets no all-digit name through.)
func containerPort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal < 1 || p.IntVal > 65535 {
			return 0, fmt.Errorf("port %d is not a port number", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("port %q names no port of the container", p.StrVal)
}
