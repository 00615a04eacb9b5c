package contract

import (
	"syscall"
	"testing"
	"time"
)

// Every name StopSignalName gives reads back as the same signal.
func TestStopSignalNameRoundTrip(t *testing.T) {
	for s := syscall.Signal(1); s <= 64; s++ {
		if s == 32 || s == 33 {
			continue
		}
		name := StopSignalName(s)
		got, err := ParseStopSignal(name)
		if err != nil || got != s {
			t.Errorf("signal %d is named %q, which reads back as %v, %v", s, name, got, err)
		}
	}
	for s, want := range map[syscall.Signal]string{15: "TERM", 34: "RTMIN", 37: "RTMIN+3", 49: "RTMIN+15", 50: "RTMAX-14", 63: "RTMAX-1", 64: "RTMAX"} {
		if got := StopSignalName(s); got != want {
			t.Errorf("StopSignalName(%d) = %q, want %q", s, got, want)
		}
	}
}

func TestKillAt(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for _, tc := range []struct {
		name        string
		mark, stop  time.Time
		grace, want time.Duration // want counts from t0
	}{
		{"no mark: the stop signal starts the clock", time.Time{}, at(0), 30 * time.Second, 28 * time.Second},
		{"no mark, short grace: no floor", time.Time{}, at(0), time.Second, 500 * time.Millisecond},
		{"mark, signal soon after: mark + budget", at(0), at(5 * time.Second), 30 * time.Second, 28 * time.Second},
		{"the signal just where the floor starts", at(0), at(26500 * time.Millisecond), 30 * time.Second, 28 * time.Second},
		{"the hook used the grace: the 2s floor less its margin", at(0), at(30 * time.Second), 30 * time.Second, 31500 * time.Millisecond},
		{"the signal long after the grace", at(0), at(time.Minute), 30 * time.Second, time.Minute + 1500*time.Millisecond},
		{"a mark after the signal is not a termination start", at(10 * time.Second), at(0), 30 * time.Second, 28 * time.Second},
		{"mark and signal at once", at(0), at(0), 10 * time.Second, 9 * time.Second},
	} {
		if got := KillAt(tc.mark, tc.stop, tc.grace); !got.Equal(t0.Add(tc.want)) {
			t.Errorf("%s: KillAt = t0%+v, want t0+%v", tc.name, got.Sub(t0), tc.want)
		}
	}
	if ShutdownBudget(StopFloor) != 1500*time.Millisecond {
		t.Errorf("ShutdownBudget(StopFloor) = %v: the floor's figures above assume 1.5s", ShutdownBudget(StopFloor))
	}
}
