package contract

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// The signal names graceful-init accepts in --signal-map (and -p), and that
// the webhook validates graceful.dev/signal-map and ShutdownPolicy signalMap
// against. This table is the one both sides use, so that the webhook never
// writes a map the init refuses.
//
// Numbers are Linux's (the generic table used by amd64, arm64, ppc64le,
// s390x and riscv64): the containers graceful-init runs in are Linux, while
// the webhook may be built for anything, so the numbers are spelled out
// instead of taken from package syscall.
var signalNumbers = map[string]syscall.Signal{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8,
	"KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
	"STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22,
	"URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29,
	"PWR": 30, "SYS": 31,
}

// Signals that can not be the FROM of a signal map: SIGKILL and SIGSTOP can
// not be caught, and SIGCHLD is the init's own and never forwarded.
const (
	sigKILL syscall.Signal = 9
	sigCHLD syscall.Signal = 17
	sigSTOP syscall.Signal = 19
)

// ParseSignal accepts a signal name with or without the SIG prefix, in any
// case ("TERM", "SIGTERM", "sigterm"), or a number 1-31. Surrounding spaces
// are ignored.
func ParseSignal(s string) (syscall.Signal, error) {
	name := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "SIG")
	if sig, ok := signalNumbers[name]; ok {
		return sig, nil
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 1 && n <= 31 {
		return syscall.Signal(n), nil
	}
	return 0, fmt.Errorf("unknown signal %q: want a name such as TERM or SIGQUIT, or a number 1-31", s)
}

// SignalName returns the short name of s ("TERM"), or its number when it has
// no name in the table.
func SignalName(s syscall.Signal) string {
	for n, v := range signalNumbers {
		if v == s {
			return n
		}
	}
	return strconv.Itoa(int(s))
}

// ParseSignalMap parses FROM=TO[,FROM=TO...] (the value of --signal-map and
// of graceful.dev/signal-map). KILL, STOP and CHLD are refused as FROM, and
// a FROM given twice is an error. An empty string is an error too: callers
// that give "" a meaning (no map) check for it first.
func ParseSignalMap(s string) (map[syscall.Signal]syscall.Signal, error) {
	m := map[syscall.Signal]syscall.Signal{}
	for _, pair := range strings.Split(s, ",") {
		from, to, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want FROM=TO", pair)
		}
		f, err := ParseSignal(from)
		if err != nil {
			return nil, err
		}
		t, err := ParseSignal(to)
		if err != nil {
			return nil, err
		}
		if f == sigKILL || f == sigSTOP || f == sigCHLD {
			return nil, fmt.Errorf("%q: SIG%s is never forwarded, so it can not be mapped", pair, SignalName(f))
		}
		if _, dup := m[f]; dup {
			return nil, fmt.Errorf("%q: SIG%s mapped twice", pair, SignalName(f))
		}
		m[f] = t
	}
	return m, nil
}

// FormatSignalMap is the inverse of ParseSignalMap: short names, sorted, so
// equal maps give equal strings.
func FormatSignalMap(m map[syscall.Signal]syscall.Signal) string {
	parts := make([]string, 0, len(m))
	for f, t := range m {
		parts = append(parts, SignalName(f)+"="+SignalName(t))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// The stop signal. The container runtime reads lifecycle.stopSignal and the
// image's StopSignal with moby/sys/signal's ParseSignal (containerd, and
// CRI-O alike): a number, or a name with or without "SIG" in any case, from
// the names above, the aliases CLD, IOT and POLL, and the realtime names
// RTMIN, RTMIN+1 to RTMIN+15, RTMAX-14 to RTMAX-1 and RTMAX, numbered as
// glibc numbers them (RTMIN 34, RTMAX 64). ParseStopSignal reads the same
// forms, so that the webhook hands graceful-init the signal the runtime will
// really send, and graceful-init reads --stop-signal with it too.
const (
	sigRTMIN syscall.Signal = 34
	sigRTMAX syscall.Signal = 64
	sigURG   syscall.Signal = 23
)

// stopSignalNames are the names the runtime knows beyond signalNumbers.
var stopSignalNames = func() map[string]syscall.Signal {
	m := map[string]syscall.Signal{"CLD": sigCHLD, "IOT": 6, "POLL": 29, "RTMIN": sigRTMIN, "RTMAX": sigRTMAX}
	for n := syscall.Signal(1); n <= 15; n++ {
		m["RTMIN+"+strconv.Itoa(int(n))] = sigRTMIN + n
	}
	for n := syscall.Signal(1); n <= 14; n++ {
		m["RTMAX-"+strconv.Itoa(int(n))] = sigRTMAX - n
	}
	return m
}()

// ParseStopSignal reads a stop signal as the container runtime does: "3",
// "QUIT", "SIGQUIT", "sigquit", "SIGRTMIN+3", "RTMAX-2". Unlike ParseSignal
// it takes realtime signals and numbers up to 64, and no blanks.
func ParseStopSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > int(sigRTMAX) {
			return 0, fmt.Errorf("stop signal %q: want a number 1-64", s)
		}
		return syscall.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if sig, ok := signalNumbers[name]; ok {
		return sig, nil
	}
	if sig, ok := stopSignalNames[name]; ok {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown stop signal %q: want a name such as SIGTERM, QUIT or SIGRTMIN+3, or a number 1-64", s)
}

// CheckStopSignal says why graceful-init can not take sig as the signal that
// starts its shutdown, or nil when it can: SIGKILL and SIGSTOP can not be
// caught, SIGCHLD drives its reaping, and SIGURG is the Go runtime's own
// preemption signal; a sent one can not be told apart from either; and
// MarkSignal is the termination mark.
func CheckStopSignal(sig syscall.Signal) error {
	switch sig {
	case sigKILL, sigSTOP:
		return fmt.Errorf("SIG%s can not be caught", SignalName(sig))
	case sigCHLD:
		return errors.New("SIGCHLD is graceful-init's own: it reaps on it")
	case sigURG:
		return errors.New("SIGURG is the Go runtime's own: graceful-init can not tell a sent one from its own")
	case MarkSignal:
		return fmt.Errorf("SIG%s is graceful-init's termination mark", StopSignalName(sig))
	case 32, 33:
		return fmt.Errorf("signal %d is the C library's and the Go runtime's own, below SIGRTMIN", sig)
	}
	return nil
}
