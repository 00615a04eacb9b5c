package contract

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// The stop path: what the webhook adds so that graceful-init works to the
// pod's real deadline, and the names both sides use for it.
const (
	// SubcommandPreStop is the wrapped preStop hook:
	//
	//	graceful-init prestop [--sleep=D | --http-get=URL [--header=NAME:VALUE]... | -- CMD [ARGS...]]
	//
	// It first tells the graceful-init of its own container that
	// termination has started, then does what the container's own hook did
	// (nothing, sleep D, GET URL from inside the container, or exec CMD),
	// and exits with that hook's status.
	SubcommandPreStop = "prestop"
	FlagPreStopSleep  = "--sleep"
	FlagPreStopGet    = "--http-get"
	FlagPreStopHeader = "--header"

	// FlagStopSignal is the signal the container runtime sends to stop the
	// container (lifecycle.stopSignal, else the image's StopSignal, else
	// SIGTERM), as a name ("QUIT") or number: the one that starts
	// graceful-init's shutdown. The webhook passes it when it is not TERM.
	FlagStopSignal = "--stop-signal"
	// FlagTerminationLog is the container's terminationMessagePath, where
	// graceful-init writes its shutdown report unless the app wrote there.
	FlagTerminationLog = "--termination-log"
	// FlagKill=false turns graceful-init's own SIGKILL at the deadline off:
	// it then only forwards, waits and reports (AnnotationKill).
	FlagKill = "--kill"

	// AnnotationKill "false" on a pod turns off graceful-init's own SIGKILL,
	// for pods whose deletes or evictions use longer grace periods than the
	// pod spec says (nothing inside the container can see those).
	AnnotationKill = Prefix + "kill"

	// DefaultTerminationLog is Kubernetes' default terminationMessagePath.
	DefaultTerminationLog = "/dev/termination-log"
	// TerminationLogLimit is what the kubelet keeps of the message: the end.
	TerminationLogLimit = 4096
)

// MarkSignal is the termination mark: `graceful-init prestop` sends it to
// the graceful-init of its own container to say that termination started.
// The init catches it, never forwards it, and refuses it as the stop signal.
// It is SIGRTMAX-1 (63), a realtime signal: a Go program that does not catch
// it (an init without the mark, or one still starting) drops it instead of
// dying, and no Linux tool sends it by convention.
const MarkSignal syscall.Signal = 63

// The realtime signals as the container runtimes number them (moby's signal
// table, which containerd and CRI-O use for STOPSIGNAL and
// lifecycle.stopSignal): SIGRTMIN is 34, SIGRTMAX 64. 32 and 33 sit below
// SIGRTMIN because the C library's threads use them, and the Go runtime
// uses 33 itself.
const (
	sigRTMIN syscall.Signal = 34
	sigRTMAX syscall.Signal = 64
	sigURG   syscall.Signal = 23
)

// ParseStopSignal reads the value of FlagStopSignal: what ParseSignal
// accepts, and the realtime signals as RTMIN, RTMIN+N, RTMAX-N, RTMAX (with
// or without SIG, in any case) or as numbers 34-64. Signals that can not
// start a shutdown are refused: KILL and STOP (they can not be caught), CHLD
// (the init's own), URG (the Go runtime's preemption signal) and MarkSignal.
func ParseStopSignal(s string) (syscall.Signal, error) {
	sig, err := parseAnySignal(s)
	if err != nil {
		return 0, err
	}
	switch sig {
	case sigKILL, sigSTOP:
		return 0, fmt.Errorf("%q: SIG%s can not be caught, so it can not start a shutdown", s, SignalName(sig))
	case sigCHLD:
		return 0, fmt.Errorf("%q: SIGCHLD is graceful-init's own (it reaps on it)", s)
	case sigURG:
		return 0, fmt.Errorf("%q: the Go runtime sends itself SIGURG, so one sent by the runtime can not be told apart", s)
	case MarkSignal:
		return 0, fmt.Errorf("%q: SIG%s is graceful-init's termination mark", s, StopSignalName(sig))
	}
	return sig, nil
}

func parseAnySignal(s string) (syscall.Signal, error) {
	name := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "SIG")
	if n, err := strconv.Atoi(name); err == nil && n >= int(sigRTMIN) && n <= int(sigRTMAX) {
		return syscall.Signal(n), nil
	}
	// RTMIN counts up (RTMIN+N), RTMAX down (RTMAX-N).
	for _, rt := range []struct {
		name string
		base syscall.Signal
		sign string
	}{{"RTMIN", sigRTMIN, "+"}, {"RTMAX", sigRTMAX, "-"}} {
		off, ok := strings.CutPrefix(name, rt.name)
		if !ok {
			continue
		}
		sig := rt.base
		if off != "" {
			digits, ok := strings.CutPrefix(off, rt.sign)
			n, err := strconv.ParseUint(digits, 10, 8)
			if !ok || err != nil {
				return 0, fmt.Errorf("unknown signal %q: want SIG%s%sN", s, rt.name, rt.sign)
			}
			if rt.sign == "+" {
				sig += syscall.Signal(n)
			} else {
				sig -= syscall.Signal(n)
			}
		}
		if sig < sigRTMIN || sig > sigRTMAX {
			return 0, fmt.Errorf("signal %q is outside the realtime signals, SIGRTMIN (34) to SIGRTMAX (64)", s)
		}
		return sig, nil
	}
	if sig, err := ParseSignal(s); err == nil {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q: want a name such as TERM, SIGQUIT or SIGRTMIN+3, or a number 1-31 or 34-64", s)
}

// StopSignalName is SignalName for every signal ParseStopSignal reads: the
// realtime ones as RTMIN+N up to RTMIN+15 and RTMAX-N above, as Kubernetes
// spells them in lifecycle.stopSignal.
func StopSignalName(s syscall.Signal) string {
	switch {
	case s == sigRTMIN:
		return "RTMIN"
	case s > sigRTMIN && s <= sigRTMIN+15:
		return "RTMIN+" + strconv.Itoa(int(s-sigRTMIN))
	case s > sigRTMIN+15 && s < sigRTMAX:
		return "RTMAX-" + strconv.Itoa(int(sigRTMAX-s))
	case s == sigRTMAX:
		return "RTMAX"
	}
	return SignalName(s)
}
