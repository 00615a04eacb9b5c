package podrun

import (
	"testing"
	"time"
)

func TestParseLog(t *testing.T) {
	in := "2026-11-27T03:00:00.123456789Z main: started\n2026-11-27T03:00:01Z worker: got SIGTERM\n"
	ls, err := ParseLog(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].Text != "main: started" || ls[1].Text != "worker: got SIGTERM" {
		t.Fatalf("ParseLog = %+v", ls)
	}
	if d := ls[1].T.Sub(ls[0].T); d != 876543211*time.Nanosecond {
		t.Errorf("time between lines %v", d)
	}
	if !Has(ls, "main: started") || Has(ls, "main: start") {
		t.Error("Has matches whole lines only")
	}
	if l, ok := Find(ls, "SIGTERM"); !ok || l.Text != "worker: got SIGTERM" {
		t.Errorf("Find = %+v, %v", l, ok)
	}
	if _, ok := Find(ls, "daemon"); ok {
		t.Error("Find found a line that is not there")
	}
	if ls, err := ParseLog(""); err != nil || ls != nil {
		t.Errorf("empty log: %v, %v", ls, err)
	}
	if _, err := ParseLog("no timestamp here"); err == nil {
		t.Error("a line without a timestamp was accepted")
	}
}

func TestPID1(t *testing.T) {
	ls := []Line{{Text: "main: started"}, {Text: "pid1: /graceful/bin/graceful-init"}, {Text: "pid1: later"}}
	if got, ok := PID1(ls); !ok || got != "/graceful/bin/graceful-init" {
		t.Errorf("PID1 = %q, %v; want the first pid1 line's program", got, ok)
	}
	if got, ok := PID1(ls[:1]); ok {
		t.Errorf("PID1 without a pid1 line = %q, true", got)
	}
}
