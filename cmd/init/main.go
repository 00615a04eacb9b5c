// Command graceful-init is PID 1 of a wrapped container: it runs the
// container's command, forwards stop signals to every process, reaps zombies,
// and fits the shutdown into the pod's grace period. See pkg/init/supervisor for
// the contract and pkg/init/flags for the command line.
package main

import (
	"fmt"
	"os"

	"github.com/graceful-dev/graceful/pkg/init/flags"
	"github.com/graceful-dev/graceful/pkg/init/prestop"
	"github.com/graceful-dev/graceful/pkg/init/selfinstall"
	// sigcatch catches signals from its package initialiser; its place in
	// this list changes nothing. Go initialises every package before main,
	// each after the packages it imports and, among those ready, in import
	// path order (Go 1.21 and later). So the catch starts once os/signal and
	// sigcatch's other imports are initialised, after at most a few unrelated
	// initialisers that only fill package variables (unicode, reflect,
	// pkg/contract's signal table, x/sys/unix: microseconds, as
	// GODEBUG=inittrace=1 shows), and before main: an early SIGTERM is
	// neither lost nor fatal. Every package the init links adds to that list;
	// TestInitDependencies (test/init) keeps them few.
	"github.com/graceful-dev/graceful/pkg/init/sigcatch"
	"github.com/graceful-dev/graceful/pkg/init/supervisor"
	"github.com/graceful-dev/graceful/pkg/version"
)

const license = `graceful-init, part of graceful (https://github.com/graceful-dev/graceful).
Licensed under the Apache License, Version 2.0 (the "License"); you may not use
this file except in compliance with the License. You may obtain a copy of the
License at http://www.apache.org/licenses/LICENSE-2.0. Unless required by
applicable law or agreed to in writing, software distributed under the License
is distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY
KIND, either express or implied.
`

func main() {
	cfg, err := flags.Parse(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "graceful-init: %v\n%s", err, flags.Usage)
		os.Exit(2)
	}
	switch cfg.Mode {
	case flags.ModeVersion:
		fmt.Printf("graceful-init %s\n", version.Version)
	case flags.ModeLicense:
		fmt.Print(license)
	case flags.ModeHelp:
		fmt.Print(flags.Usage)
	case flags.ModeInstall:
		if err := selfinstall.Install("/proc/self/exe", cfg.InstallDest); err != nil {
			fmt.Fprintf(os.Stderr, "graceful-init: %v\n", err)
			os.Exit(1)
		}
	case flags.ModePreStop:
		os.Exit(prestop.Run(cfg.PreStop, os.Stderr))
	default:
		if !sigcatch.Early(cfg.StopSignal) {
			// Before the child starts, or a stop signal that comes while it
			// starts would be lost.
			sigcatch.Catch(cfg.StopSignal)
		}
		s := supervisor.New(cfg, sigcatch.C, os.Stderr)
		mask := sigcatch.InitialMask()
		s.Signals = supervisor.ChildSignals{Mask: &mask, Ignore: sigcatch.RestoreInChild(), Handoff: sigcatch.HandoffArgv, Partial: sigcatch.Partial}
		s.AfterStart = func() { go sigcatch.CatchRest() }
		os.Exit(s.Run())
	}
}
