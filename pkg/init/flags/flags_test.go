package flags

import (
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, tc := range []struct {
		args []string
		env  func(string) string
		want Config
	}{
		{[]string{"--", "app", "-x"}, nil, Config{GracePeriod: DefaultGracePeriod, StopSignal: syscall.SIGTERM, Verbosity: 1, Argv: []string{"app", "-x"}}},
		{[]string{"app", "--grace-period=1s"}, nil, Config{GracePeriod: DefaultGracePeriod, StopSignal: syscall.SIGTERM, Verbosity: 1, Argv: []string{"app", "--grace-period=1s"}}},
		{[]string{"--grace-period=20s", "--drain-delay", "5s", "--", "app"}, nil, Config{GracePeriod: 20 * time.Second, StopSignal: syscall.SIGTERM, DrainDelay: 5 * time.Second, Verbosity: 1, Argv: []string{"app"}}},
		{[]string{"--grace-period=45", "app"}, nil, Config{GracePeriod: 45 * time.Second, StopSignal: syscall.SIGTERM, Verbosity: 1, Argv: []string{"app"}}},
		{[]string{"-vvsg", "-e3", "-e", "4", "-p", "SIGUSR1", "-w", "app"}, nil, Config{GracePeriod: DefaultGracePeriod, StopSignal: syscall.SIGTERM, Verbosity: 3, Subreaper: true, KillGroup: true, RemapExit: map[int]bool{3: true, 4: true}, ParentDeath: syscall.SIGUSR1, WarnZombies: true, Argv: []string{"app"}}},
		{[]string{"--signal-map=TERM=QUIT", "nginx"}, nil, Config{GracePeriod: DefaultGracePeriod, StopSignal: syscall.SIGTERM, Verbosity: 1, SignalMap: map[syscall.Signal]syscall.Signal{syscall.SIGTERM: syscall.SIGQUIT}, Argv: []string{"nginx"}}},
		{[]string{"app"}, env("TINI_SUBREAPER", "1", "TINI_KILL_PROCESS_GROUP", "yes", "TINI_VERBOSITY", "0"), Config{GracePeriod: DefaultGracePeriod, StopSignal: syscall.SIGTERM, Subreaper: true, KillGroup: true, Argv: []string{"app"}}},
		{[]string{"install", "/x/graceful-init"}, nil, Config{Mode: ModeInstall, InstallDest: "/x/graceful-init", GracePeriod: DefaultGracePeriod, StopSignal: syscall.SIGTERM, Verbosity: 1}},
		{[]string{"version"}, nil, Config{Mode: ModeVersion, GracePeriod: DefaultGracePeriod, StopSignal: syscall.SIGTERM, Verbosity: 1}},
		{[]string{"--", "version", "x"}, nil, Config{GracePeriod: DefaultGracePeriod, StopSignal: syscall.SIGTERM, Verbosity: 1, Argv: []string{"version", "x"}}},
		{[]string{"-l"}, nil, Config{Mode: ModeLicense, GracePeriod: DefaultGracePeriod, StopSignal: syscall.SIGTERM, Verbosity: 1}},
		{[]string{"--version"}, nil, Config{Mode: ModeVersion, GracePeriod: DefaultGracePeriod, StopSignal: syscall.SIGTERM, Verbosity: 1}},
		{[]string{"--stop-signal=SIGQUIT", "--termination-log", "/dev/termination-log", "--kill=false", "app"}, nil, Config{GracePeriod: DefaultGracePeriod, StopSignal: syscall.SIGQUIT, TerminationLog: "/dev/termination-log", NoKill: true, Verbosity: 1, Argv: []string{"app"}}},
		{[]string{"--stop-signal", "RTMIN+3", "--kill", "--kill=true", "--", "false"}, nil, Config{GracePeriod: DefaultGracePeriod, StopSignal: 37, Verbosity: 1, Argv: []string{"false"}}},
		{[]string{"--kill=0", "--stop-signal=3", "app"}, nil, Config{GracePeriod: DefaultGracePeriod, StopSignal: syscall.SIGQUIT, NoKill: true, Verbosity: 1, Argv: []string{"app"}}},
	} {
		got, err := Parse(tc.args, tc.env)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.args, err)
			continue
		}
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.args, *got, tc.want)
		}
	}
}

func TestParsePreStop(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want PreStop
	}{
		{nil, PreStop{}},
		{[]string{"--sleep=5s"}, PreStop{Action: PreStopSleep, Sleep: 5 * time.Second}},
		{[]string{"--sleep", "7"}, PreStop{Action: PreStopSleep, Sleep: 7 * time.Second}},
		{[]string{"--sleep=0"}, PreStop{Action: PreStopSleep}},
		{[]string{"--http-get=http://:8080/quit?now=1", "--header=X-A: 1", "--header", "Host:example.com"}, PreStop{Action: PreStopGet, URL: "http://:8080/quit?now=1", Headers: []string{"X-A: 1", "Host:example.com"}}},
		{[]string{"--header=X-A: 1", "--http-get", "http://10.0.0.1/"}, PreStop{Action: PreStopGet, URL: "http://10.0.0.1/", Headers: []string{"X-A: 1"}}},
		{[]string{"--", "/bin/sh", "-c", "nginx -s quit", "--sleep=1", "--"}, PreStop{Action: PreStopExec, Argv: []string{"/bin/sh", "-c", "nginx -s quit", "--sleep=1", "--"}}},
	} {
		got, err := Parse(append([]string{"prestop"}, tc.args...), nil)
		if err != nil {
			t.Errorf("Parse(prestop %q): %v", tc.args, err)
			continue
		}
		if got.Mode != ModePreStop || !reflect.DeepEqual(got.PreStop, tc.want) {
			t.Errorf("Parse(prestop %q) = mode %v %+v, want %+v", tc.args, got.Mode, got.PreStop, tc.want)
		}
	}
	// prestop is a subcommand only as the first argument.
	if got, err := Parse([]string{"--", "prestop"}, nil); err != nil || got.Mode != ModeRun {
		t.Errorf("Parse(-- prestop) = %+v, %v; want prestop run as the command", got, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"-v", "--"}, "no command"},
		{[]string{"--nope", "x"}, "unknown flag --nope"},
		{[]string{"-z", "x"}, "unknown flag -z"},
		{[]string{"--grace-period"}, "--grace-period needs a value"},
		{[]string{"--grace-period=", "x"}, "empty value"},
		{[]string{"--grace-period=-1s", "x"}, "negative"},
		{[]string{"--drain-delay=later", "x"}, `--drain-delay "later"`},
		{[]string{"--signal-map=TERM", "x"}, "want FROM=TO"},
		{[]string{"--signal-map=KILL=TERM", "x"}, "KILL"},
		{[]string{"-e", "x", "y"}, `-e "x"`},
		{[]string{"-e"}, "-e needs a value"},
		{[]string{"-p", "NOPE", "x"}, `unknown signal "NOPE"`},
		{[]string{"--version=1"}, "takes no value"},
		{[]string{"install"}, "destination"},
		{[]string{"install", "a", "b"}, "destination"},
		{[]string{"--stop-signal=KILL", "x"}, "--stop-signal: \"KILL\": SIGKILL can not be caught"},
		{[]string{"--stop-signal=RTMAX-1", "x"}, "termination mark"},
		{[]string{"--stop-signal=33", "x"}, "below SIGRTMIN"},
		{[]string{"--stop-signal"}, "needs a value"},
		{[]string{"--kill=maybe", "x"}, "--kill=maybe: want true or false"},
		{[]string{"--termination-log=", "x"}, "empty value"},
		{[]string{"prestop", "--sleep=5s", "--http-get=http://:8080/"}, "one hook only"},
		{[]string{"prestop", "--sleep=soon"}, `--sleep "soon"`},
		{[]string{"prestop", "--sleep"}, "--sleep needs a value"},
		{[]string{"prestop", "--http-get="}, "empty URL"},
		{[]string{"prestop", "--header=X-A: 1"}, "--header is for --http-get only"},
		{[]string{"prestop", "--http-get=http://x/", "--header=no colon"}, "want NAME: VALUE"},
		{[]string{"prestop", "--http-get=http://x/", "--header=: v"}, "want NAME: VALUE"},
		{[]string{"prestop", "--"}, "no command given"},
		{[]string{"prestop", "--sleep=1", "--", "true"}, "one hook only"},
		{[]string{"prestop", "sleep", "5"}, `unknown argument "sleep"`},
		{[]string{"prestop", "-v"}, `unknown argument "-v"`},
	} {
		_, err := Parse(tc.args, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	if _, err := Parse([]string{"x"}, func(k string) string {
		if k == "TINI_VERBOSITY" {
			return "high"
		}
		return ""
	}); err == nil || !strings.Contains(err.Error(), "TINI_VERBOSITY") {
		t.Errorf("bad TINI_VERBOSITY: %v", err)
	}
}

// FuzzParse: the parser never panics, a successful run always has a command
// to run or another mode, and everything after "--" is the command verbatim.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"--\x00app", "-vvs\x00-e3\x00app", "--grace-period=3s\x00--\x00sh\x00-c\x00exit 7", "--signal-map\x00TERM=QUIT,USR1=2\x00x", "install\x00/x", "-p\x00SIGKILL\x00-e\x00255\x00--\x00--", "version"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		c, err := Parse(args, nil)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("empty error for %q", args)
			}
			return
		}
		if c.Mode == ModeRun && len(c.Argv) == 0 {
			t.Fatalf("run mode without a command for %q", args)
		}
		for i, a := range args {
			if a == "--" && c.Mode == ModeRun {
				if rest := args[i+1:]; len(rest) == len(c.Argv) && !reflect.DeepEqual(rest, c.Argv) {
					t.Fatalf("argv %q, want %q", c.Argv, rest)
				}
				break
			}
		}
		for code := range c.RemapExit {
			if code < 0 || code > 255 {
				t.Fatalf("exit code %d accepted", code)
			}
		}
		if c.GracePeriod < 0 || c.DrainDelay < 0 {
			t.Fatalf("negative duration accepted for %q", args)
		}
	})
}
