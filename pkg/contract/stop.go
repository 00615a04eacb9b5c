package contract

import (
	"strconv"
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
