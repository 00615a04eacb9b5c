// Package flags parses graceful-init's command line and environment.
//
// The grammar (what the webhook writes into pods; the flag names are shared
// through pkg/contract):
//
//	graceful-init [flags] [--] CMD [ARGS...]
//	graceful-init install DEST
//	graceful-init version
//	graceful-init prestop [--sleep=D | --http-get=URL [--header=NAME:VALUE]... | -- CMD [ARGS...]]
//
// Flags end at "--" or at the first argument that is not a flag, so "--" may
// be left out when CMD itself does not start with "-". Short flags may be
// combined ("-vvs") and take their value attached or as the next argument
// ("-e3", "-e 3"); long flags take "--name=value" or "--name value".
//
// tini-compatible flags: -s (subreaper), -g (kill process group), -e CODE
// (remap exit code to 0, repeatable), -p SIG (parent-death signal), -w (warn
// on reaped zombies), -v (verbosity, repeatable), -l (license), --version;
// and the variables TINI_SUBREAPER, TINI_KILL_PROCESS_GROUP, TINI_VERBOSITY.
package flags

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/graceful-dev/graceful/pkg/contract"
)

// Mode is what the invocation asks for.
type Mode int

const (
	// ModeRun supervises Config.Argv.
	ModeRun Mode = iota
	// ModeInstall copies the executable to Config.InstallDest.
	ModeInstall
	// ModeVersion prints the version.
	ModeVersion
	// ModeLicense prints the license.
	ModeLicense
	// ModeHelp prints the usage.
	ModeHelp
	// ModePreStop marks the termination and runs Config.PreStop (package
	// prestop).
	ModePreStop
)

// DefaultGracePeriod is Kubernetes' default terminationGracePeriodSeconds,
// used when --grace-period is not given.
const DefaultGracePeriod = 30 * time.Second

// Config is a parsed command line.
type Config struct {
	Mode        Mode
	InstallDest string

	GracePeriod time.Duration
	DrainDelay  time.Duration
	// StopSignal is the signal that starts the shutdown, as received (before
	// the signal map): the container runtime's stop signal.
	StopSignal syscall.Signal
	// TerminationLog is where the shutdown report goes; "" writes none.
	TerminationLog string
	// NoKill (--kill=false) turns the SIGKILL at the deadline off.
	NoKill bool
	// SignalMap rewrites a received signal before it is forwarded.
	SignalMap map[syscall.Signal]syscall.Signal
	// Subreaper and KillGroup are accepted for tini compatibility: graceful-init
	// always forwards to the whole process group and becomes a subreaper
	// whenever it is not PID 1.
	Subreaper   bool
	KillGroup   bool
	RemapExit   map[int]bool
	ParentDeath syscall.Signal // 0: none
	WarnZombies bool
	Verbosity   int
	Argv        []string

	PreStop PreStop
}

// PreStopAction is what the container's own preStop hook did.
type PreStopAction int

const (
	// PreStopNone: the container had no preStop hook.
	PreStopNone PreStopAction = iota
	// PreStopSleep sleeps PreStop.Sleep.
	PreStopSleep
	// PreStopGet sends GET PreStop.URL with PreStop.Headers.
	PreStopGet
	// PreStopExec execs PreStop.Argv.
	PreStopExec
)

// PreStop is the hook that `graceful-init prestop` runs after the mark.
type PreStop struct {
	Action  PreStopAction
	Sleep   time.Duration
	URL     string
	Headers []string // "Name: value", as given
	Argv    []string
}

// Map applies the signal map to s.
func (c *Config) Map(s syscall.Signal) syscall.Signal {
	if to, ok := c.SignalMap[s]; ok {
		return to
	}
	return s
}

// Usage is printed on bad flags and -h.
const Usage = `usage: graceful-init [flags] [--] CMD [ARGS...]
       graceful-init install DEST
       graceful-init version
       graceful-init prestop [--sleep=D | --http-get=URL [--header='NAME: VALUE']... | -- CMD [ARGS...]]

Runs CMD as a child in its own process group, forwards signals to the group,
signals processes that left it on the stop signal, reaps zombies, and kills
what is left before --grace-period ends.

flags:
  --grace-period D     time the shutdown may take (the pod's terminationGracePeriodSeconds; default 30s)
  --drain-delay D      on the stop signal, wait D before forwarding it
  --signal-map F=T,..  rewrite signals before forwarding (e.g. TERM=QUIT)
  --stop-signal SIG    the signal that starts the shutdown (default TERM; QUIT, 3, RTMIN+3 ...)
  --termination-log P  write the shutdown report to P unless something is there already
  --kill=false         never SIGKILL at the deadline: forward, wait and report only
  -s                   subreaper (always on when not PID 1; for tini compatibility)
  -g                   forward to the process group (always on; for tini compatibility)
  -e CODE              exit 0 when the child exits with CODE (repeatable)
  -p SIG               signal graceful-init receives when its parent dies
  -w                   log every reaped zombie
  -v                   more log detail (repeatable)
  -l                   print the license
  --version            print the version
environment: TINI_SUBREAPER, TINI_KILL_PROCESS_GROUP (set: like -s, -g), TINI_VERBOSITY (a number)
`

// Parse reads args (without the program name) and the environment through
// getenv. Every error names the offending flag or value.
func Parse(args []string, getenv func(string) string) (*Config, error) {
	c := &Config{GracePeriod: DefaultGracePeriod, StopSignal: syscall.SIGTERM, Verbosity: 1}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if getenv("TINI_SUBREAPER") != "" {
		c.Subreaper = true
	}
	if getenv("TINI_KILL_PROCESS_GROUP") != "" {
		c.KillGroup = true
	}
	if v := getenv("TINI_VERBOSITY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("TINI_VERBOSITY=%q: want a number >= 0", v)
		}
		c.Verbosity = n
	}

	if len(args) > 0 {
		switch args[0] {
		case "install":
			if len(args) != 2 || args[1] == "" {
				return nil, errors.New("install: want exactly one argument, the destination path")
			}
			c.Mode, c.InstallDest = ModeInstall, args[1]
			return c, nil
		case "version":
			if len(args) == 1 {
				c.Mode = ModeVersion
				return c, nil
			}
		case contract.SubcommandPreStop:
			p, err := parsePreStop(args[1:])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", contract.SubcommandPreStop, err)
			}
			c.Mode, c.PreStop = ModePreStop, p
			return c, nil
		}
	}

	i := 0
	for i < len(args) {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		i++
		// next returns the value of a flag that takes one: attached or the next argument.
		next := func(flag, attached string) (string, error) {
			if attached != "" {
				return attached, nil
			}
			if i >= len(args) {
				return "", fmt.Errorf("flag %s needs a value", flag)
			}
			i++
			return args[i-1], nil
		}
		if strings.HasPrefix(a, "--") {
			name, val, hasVal := strings.Cut(a[2:], "=")
			if hasVal && val == "" {
				return nil, fmt.Errorf("flag --%s: empty value", name)
			}
			var err error
			switch name {
			case "grace-period", "drain-delay", "signal-map", "stop-signal", "termination-log":
				if val, err = next("--"+name, val); err != nil {
					return nil, err
				}
			case "kill":
				// Only --kill=VALUE: in "--kill false" the false could be
				// the command.
				if !hasVal {
					val = "true"
				}
			case "version", "help", "license":
				if hasVal {
					return nil, fmt.Errorf("flag --%s takes no value", name)
				}
			default:
				return nil, fmt.Errorf("unknown flag --%s", name)
			}
			switch name {
			case "grace-period":
				c.GracePeriod, err = parseDuration("--grace-period", val)
			case "drain-delay":
				c.DrainDelay, err = parseDuration("--drain-delay", val)
			case "signal-map":
				c.SignalMap, err = ParseSignalMap(val)
				if err != nil {
					err = fmt.Errorf("--signal-map: %w", err)
				}
			case "stop-signal":
				c.StopSignal, err = contract.ParseStopSignal(val)
				if err == nil {
					if cerr := contract.CheckStopSignal(c.StopSignal); cerr != nil {
						err = fmt.Errorf("%q: %w", val, cerr)
					}
				}
				if err != nil {
					err = fmt.Errorf("--stop-signal: %w", err)
				}
			case "termination-log":
				c.TerminationLog = val
			case "kill":
				var kill bool
				kill, err = strconv.ParseBool(val)
				if err != nil {
					err = fmt.Errorf("flag --kill=%s: want true or false", val)
				}
				c.NoKill = !kill
			case "version":
				c.Mode = ModeVersion
			case "help":
				c.Mode = ModeHelp
			case "license":
				c.Mode = ModeLicense
			}
			if err != nil {
				return nil, err
			}
			continue
		}
		// A group of short flags, e.g. -vvs or -e3.
		for j := 1; j < len(a); j++ {
			switch f := a[j]; f {
			case 's':
				c.Subreaper = true
			case 'g':
				c.KillGroup = true
			case 'w':
				c.WarnZombies = true
			case 'v':
				c.Verbosity++
			case 'l':
				c.Mode = ModeLicense
			case 'h':
				c.Mode = ModeHelp
			case 'e', 'p':
				val, err := next("-"+string(f), a[j+1:])
				if err != nil {
					return nil, err
				}
				if f == 'e' {
					code, err := strconv.Atoi(val)
					if err != nil || code < 0 || code > 255 {
						return nil, fmt.Errorf("flag -e %q: want an exit code 0-255", val)
					}
					if c.RemapExit == nil {
						c.RemapExit = map[int]bool{}
					}
					c.RemapExit[code] = true
				} else {
					s, err := ParseSignal(val)
					if err != nil {
						return nil, fmt.Errorf("flag -p: %w", err)
					}
					c.ParentDeath = s
				}
				j = len(a) // the value used the rest of the group
			default:
				return nil, fmt.Errorf("unknown flag -%c", f)
			}
		}
	}
	if i < len(args) {
		c.Argv = args[i:]
	}
	if c.Mode == ModeRun && len(c.Argv) == 0 {
		return nil, errors.New("no command given")
	}
	return c, nil
}

func parseDuration(flag, s string) (time.Duration, error) {
	d, err := contract.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %w", flag, s, err)
	}
	return d, nil
}

// parsePreStop reads the arguments of `graceful-init prestop`: at most one
// of --sleep D, --http-get URL (with any number of --header "Name: value")
// and -- CMD [ARGS...], each flag as --name=value or --name value.
func parsePreStop(args []string) (PreStop, error) {
	var p PreStop
	set := func(a PreStopAction, flag string) error {
		if p.Action != PreStopNone {
			return fmt.Errorf("%s: one hook only (--sleep, --http-get or -- CMD)", flag)
		}
		p.Action = a
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == contract.EndOfFlags {
			if err := set(PreStopExec, a); err != nil {
				return p, err
			}
			if p.Argv = args[i+1:]; len(p.Argv) == 0 || p.Argv[0] == "" {
				return p, errors.New("--: no command given")
			}
			break
		}
		name, val, hasVal := strings.Cut(a, "=")
		switch name {
		case contract.FlagPreStopSleep, contract.FlagPreStopGet, contract.FlagPreStopHeader:
		default:
			return p, fmt.Errorf("unknown argument %q: want %s=D, %s=URL, %s=NAME:VALUE or -- CMD", a, contract.FlagPreStopSleep, contract.FlagPreStopGet, contract.FlagPreStopHeader)
		}
		if !hasVal {
			if i+1 >= len(args) {
				return p, fmt.Errorf("flag %s needs a value", name)
			}
			i++
			val = args[i]
		}
		var err error
		switch name {
		case contract.FlagPreStopSleep:
			if err = set(PreStopSleep, name); err == nil {
				p.Sleep, err = parseDuration(name, val)
			}
		case contract.FlagPreStopGet:
			if err = set(PreStopGet, name); err == nil && val == "" {
				err = fmt.Errorf("flag %s: empty URL", name)
			}
			p.URL = val
		case contract.FlagPreStopHeader:
			if h, _, ok := strings.Cut(val, ":"); !ok || strings.TrimSpace(h) == "" || strings.ContainsAny(strings.TrimSpace(h), " \t\r\n") {
				err = fmt.Errorf("flag %s %q: want NAME: VALUE", name, val)
			}
			p.Headers = append(p.Headers, val)
		}
		if err != nil {
			return p, err
		}
	}
	if len(p.Headers) > 0 && p.Action != PreStopGet {
		return p, fmt.Errorf("%s is for %s only", contract.FlagPreStopHeader, contract.FlagPreStopGet)
	}
	return p, nil
}

// ParseSignal accepts TERM, SIGTERM, sigterm or a number 1-31 (the table in
// pkg/contract, shared with the webhook).
func ParseSignal(s string) (syscall.Signal, error) { return contract.ParseSignal(s) }

// SignalName returns the short name of s ("TERM", "RTMIN+3"), or its number.
func SignalName(s syscall.Signal) string { return contract.StopSignalName(s) }

// ParseSignalMap parses FROM=TO[,FROM=TO...] as pkg/contract defines it.
func ParseSignalMap(s string) (map[syscall.Signal]syscall.Signal, error) {
	return contract.ParseSignalMap(s)
}
