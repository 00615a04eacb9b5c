// Command initprobe is a test workload for graceful-init's tests: a process
// that reports what it sees (signals, its signal state) to a file, one line an
// event, so the tests can check what really happened to real processes.
//
//	initprobe trap -o FILE -name N [-setsid] [-exit-on TERM] [-cleanup 1s] [-ignore TERM] [-children K]
//	initprobe status -o FILE
//	initprobe launch [-ignore INT] [-block TERM] -- CMD [ARGS...]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/graceful-dev/graceful/pkg/init/flags"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: initprobe trap|status|launch ...")
	}
	switch os.Args[1] {
	case "trap":
		trap(os.Args[2:])
	case "status":
		status(os.Args[2:])
	case "launch":
		launch(os.Args[2:])
	default:
		fail("unknown mode " + os.Args[1])
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "initprobe:", msg)
	os.Exit(99)
}

func appendLine(path, line string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fail(err.Error())
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		fail(err.Error())
	}
}

func trap(args []string) {
	fs := flag.NewFlagSet("trap", flag.ExitOnError)
	out := fs.String("o", "", "output file")
	name := fs.String("name", "probe", "name in the output")
	setsid := fs.Bool("setsid", false, "leave the process group first, like a daemon")
	exitOn := fs.String("exit-on", "TERM", "signal that starts the cleanup")
	cleanup := fs.Duration("cleanup", 0, "time the cleanup takes")
	ignore := fs.String("ignore", "", "signal to ignore")
	children := fs.Int("children", 0, "start this many copies of the probe in the same process group")
	_ = fs.Parse(args)
	for i := 1; i <= *children; i++ {
		argv := []string{os.Args[0], "trap", "-o", *out, "-name", fmt.Sprintf("%s-%d", *name, i), "-exit-on", *exitOn, "-cleanup", cleanup.String()}
		if _, err := syscall.ForkExec(os.Args[0], argv, &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2}}); err != nil {
			fail("start child: " + err.Error())
		}
	}
	if *setsid {
		if _, err := unix.Setsid(); err != nil {
			fail("setsid: " + err.Error())
		}
	}
	stop, err := flags.ParseSignal(*exitOn)
	if err != nil {
		fail(err.Error())
	}
	if *ignore != "" {
		s, err := flags.ParseSignal(*ignore)
		if err != nil {
			fail(err.Error())
		}
		signal.Ignore(s)
	}
	c := make(chan os.Signal, 16)
	var sigs []os.Signal
	for s := syscall.Signal(1); s < 32; s++ {
		if s != syscall.SIGKILL && s != syscall.SIGSTOP && s != syscall.SIGCHLD && s != syscall.SIGURG && s.String() != "" && !signal.Ignored(s) {
			sigs = append(sigs, s)
		}
	}
	signal.Notify(c, sigs...)
	appendLine(*out, fmt.Sprintf("%s ready %d pgrp %d", *name, os.Getpid(), unix.Getpgrp()))
	for s := range c {
		sig := s.(syscall.Signal)
		appendLine(*out, fmt.Sprintf("%s got %s", *name, flags.SignalName(sig)))
		if sig == stop {
			appendLine(*out, *name+" cleanup")
			time.Sleep(*cleanup)
			appendLine(*out, *name+" done")
			os.Exit(0)
		}
	}
}

func status(args []string) {
	fs := flag.NewFlagSet("status", flag.ExitOnError)
	out := fs.String("o", "", "output file")
	_ = fs.Parse(args)
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fail(err.Error())
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "SigIgn:") || strings.HasPrefix(l, "SigBlk:") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
	}
	appendLine(*out, strings.Join(lines, "\n"))
}

// launch sets the signal state the tests want graceful-init to inherit and
// execs the command with it: ignored dispositions and the blocked mask both
// survive execve.
func launch(args []string) {
	fs := flag.NewFlagSet("launch", flag.ExitOnError)
	ignore := fs.String("ignore", "", "comma-separated signals to ignore")
	block := fs.String("block", "", "comma-separated signals to block")
	_ = fs.Parse(args)
	argv := fs.Args()
	if len(argv) == 0 {
		fail("launch: no command")
	}
	runtime.LockOSThread()
	for _, n := range splitComma(*ignore) {
		s, err := flags.ParseSignal(n)
		if err != nil {
			fail(err.Error())
		}
		signal.Ignore(s)
	}
	var set unix.Sigset_t
	for _, n := range splitComma(*block) {
		s, err := flags.ParseSignal(n)
		if err != nil {
			fail(err.Error())
		}
		set.Val[(int(s)-1)/64] |= 1 << ((uint(s) - 1) % 64)
	}
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &set, nil); err != nil {
		fail("sigmask: " + err.Error())
	}
	if err := unix.Exec(argv[0], argv, os.Environ()); err != nil {
		fail("exec " + argv[0] + ": " + err.Error())
	}
}

func splitComma(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
