package contract

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"5s": 5 * time.Second, " 1m30s ": 90 * time.Second, "7": 7 * time.Second, "0": 0, "0s": 0, "250ms": 250 * time.Millisecond} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{"": "not a duration", "soon": "not a duration", "-3s": "negative", "-1": "negative", "5 s": "not a duration", "99999999999999999999": "not a duration", "9999999999999": "not a duration"} {
		if _, err := ParseDuration(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseDuration(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}
