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
		{[]string{"--", "app", "-x"}, nil, Config{GracePeriod: DefaultGracePeriod, Verbosity: 1, Argv: []string{"app", "-x"}}},
		{[]string{"app", "--grace-period=1s"}, nil, Config{GracePeriod: DefaultGracePeriod, Verbosity: 1, Argv: []string{"app", "--grace-period=1s"}}},
		{[]string{"--grace-period=20s", "--drain-delay", "5s", "--", "app"}, nil, Config{GracePeriod: 20 * time.Second, DrainDelay: 5 * time.Second, Verbosity: 1, Argv: []string{"app"}}},
		{[]string{"--grace-period=45", "app"}, nil, Config{GracePeriod: 45 * time.Second, Verbosity: 1, Argv: []string{"app"}}},
		{[]string{"-vvsg", "-e3", "-e", "4", "-p", "SIGUSR1", "-w", "app"}, nil, Config{GracePeriod: DefaultGracePeriod, Verbosity: 3, Subreaper: true, KillGroup: true, RemapExit: map[int]bool{3: true, 4: true}, ParentDeath: syscall.SIGUSR1, WarnZombies: true, Argv: []string{"app"}}},
		{[]string{"--signal-map=TERM=QUIT", "nginx"}, nil, Config{GracePeriod: DefaultGracePeriod, Verbosity: 1, SignalMap: map[syscall.Signal]syscall.Signal{syscall.SIGTERM: syscall.SIGQUIT}, Argv: []string{"nginx"}}},
		{[]string{"app"}, env("TINI_SUBREAPER", "1", "TINI_KILL_PROCESS_GROUP", "yes", "TINI_VERBOSITY", "0"), Config{GracePeriod: DefaultGracePeriod, Subreaper: true, KillGroup: true, Argv: []string{"app"}}},
		{[]string{"install", "/x/graceful-init"}, nil, Config{Mode: ModeInstall, InstallDest: "/x/graceful-init", GracePeriod: DefaultGracePeriod, Verbosity: 1}},
		{[]string{"version"}, nil, Config{Mode: ModeVersion, GracePeriod: DefaultGracePeriod, Verbosity: 1}},
		{[]string{"--", "version", "x"}, nil, Config{GracePeriod: DefaultGracePeriod, Verbosity: 1, Argv: []string{"version", "x"}}},
		{[]string{"-l"}, nil, Config{Mode: ModeLicense, GracePeriod: DefaultGracePeriod, Verbosity: 1}},
		{[]string{"--version"}, nil, Config{Mode: ModeVersion, GracePeriod: DefaultGracePeriod, Verbosity: 1}},
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
