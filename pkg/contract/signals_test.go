//go:build linux

package contract

import (
	"strings"
	"syscall"
	"testing"
)

// The table spells out Linux's numbers; check them against package syscall
// on the platform they are for.
func TestSignalNumbersMatchLinux(t *testing.T) {
	want := map[string]syscall.Signal{
		"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "ILL": syscall.SIGILL,
		"TRAP": syscall.SIGTRAP, "ABRT": syscall.SIGABRT, "BUS": syscall.SIGBUS, "FPE": syscall.SIGFPE,
		"KILL": syscall.SIGKILL, "USR1": syscall.SIGUSR1, "SEGV": syscall.SIGSEGV, "USR2": syscall.SIGUSR2,
		"PIPE": syscall.SIGPIPE, "ALRM": syscall.SIGALRM, "TERM": syscall.SIGTERM, "STKFLT": syscall.SIGSTKFLT,
		"CHLD": syscall.SIGCHLD, "CONT": syscall.SIGCONT, "STOP": syscall.SIGSTOP, "TSTP": syscall.SIGTSTP,
		"TTIN": syscall.SIGTTIN, "TTOU": syscall.SIGTTOU, "URG": syscall.SIGURG, "XCPU": syscall.SIGXCPU,
		"XFSZ": syscall.SIGXFSZ, "VTALRM": syscall.SIGVTALRM, "PROF": syscall.SIGPROF, "WINCH": syscall.SIGWINCH,
		"IO": syscall.SIGIO, "PWR": syscall.SIGPWR, "SYS": syscall.SIGSYS,
	}
	if len(want) != len(signalNumbers) {
		t.Fatalf("table has %d names, want %d", len(signalNumbers), len(want))
	}
	for name, sig := range want {
		if got := signalNumbers[name]; got != sig {
			t.Errorf("%s = %d, want %d", name, got, sig)
		}
	}
	if sigKILL != syscall.SIGKILL || sigSTOP != syscall.SIGSTOP || sigCHLD != syscall.SIGCHLD {
		t.Error("sigKILL/sigSTOP/sigCHLD do not match package syscall")
	}
}

func TestParseSignal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want syscall.Signal
	}{
		{"TERM", 15}, {"SIGTERM", 15}, {"sigquit", 3}, {" usr1 ", 10}, {"1", 1}, {"31", 31}, {"SIG9", 9},
	} {
		got, err := ParseSignal(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSignal(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "0", "32", "-1", "FOO", "SIG", "RTMIN", "15x"} {
		if _, err := ParseSignal(in); err == nil || !strings.Contains(err.Error(), "unknown signal") {
			t.Errorf("ParseSignal(%q) = %v, want an unknown-signal error", in, err)
		}
	}
}

func TestParseSignalMap(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"TERM=QUIT", "TERM=QUIT"},
		{"sigterm=3, INT = TERM", "INT=TERM,TERM=QUIT"},
		{"USR1=KILL", "USR1=KILL"},
		{"TERM=TERM", "TERM=TERM"},
	} {
		m, err := ParseSignalMap(tc.in)
		if err != nil {
			t.Errorf("ParseSignalMap(%q): %v", tc.in, err)
			continue
		}
		if got := FormatSignalMap(m); got != tc.want {
			t.Errorf("ParseSignalMap(%q) formats as %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"", "want FROM=TO"},
		{"TERM", "want FROM=TO"},
		{"TERM=QUIT,", "want FROM=TO"},
		{"TERM=FOO", `unknown signal "FOO"`},
		{"KILL=TERM", "SIGKILL is never forwarded"},
		{"STOP=TERM", "SIGSTOP is never forwarded"},
		{"CHLD=TERM", "SIGCHLD is never forwarded"},
		{"TERM=QUIT,15=INT", "SIGTERM mapped twice"},
	} {
		_, err := ParseSignalMap(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSignalMap(%q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

// The forms moby/sys/signal's ParseSignal (what containerd and CRI-O stop a
// container with) accepts, and what it refuses.
func TestParseStopSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{
		"SIGTERM": 15, "TERM": 15, "sigquit": 3, "Quit": 3, "3": 3, "15": 15, "64": 64, "37": 37,
		"SIGRTMIN": 34, "RTMIN": 34, "SIGRTMIN+3": 37, "RTMIN+3": 37, "rtmin+15": 49,
		"SIGRTMAX-2": 62, "RTMAX-14": 50, "SIGRTMAX": 64,
		"SIGCLD": syscall.SIGCHLD, "IOT": syscall.SIGABRT, "SIGPOLL": syscall.SIGIO,
		"SIGKILL": syscall.SIGKILL, "SIGWINCH": syscall.SIGWINCH, "SIGPWR": syscall.SIGPWR,
	} {
		got, err := ParseStopSignal(in)
		if err != nil || got != want {
			t.Errorf("ParseStopSignal(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "65", "-1", "FOO", "SIG", " TERM", "SIGRTMIN+16", "RTMAX-15", "RTMIN+0", "RTMIN+03", "SIGTERM+1", "RT"} {
		if _, err := ParseStopSignal(in); err == nil {
			t.Errorf("ParseStopSignal(%q) accepted, want an error", in)
		}
	}
}

func TestCheckStopSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGSTOP, syscall.SIGCHLD, syscall.SIGURG, MarkSignal, 32, 33} {
		if err := CheckStopSignal(sig); err == nil {
			t.Errorf("CheckStopSignal(%d) = nil, want a reason", sig)
		}
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGWINCH, 37, 64} {
		if err := CheckStopSignal(sig); err != nil {
			t.Errorf("CheckStopSignal(%d) = %v, want nil", sig, err)
		}
	}
	if sigURG != syscall.SIGURG {
		t.Error("sigURG does not match package syscall")
	}
}
