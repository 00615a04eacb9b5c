// Command graceful-init is PID 1 of a wrapped container: it runs the
// container's command, forwards stop signals to every process, reaps zombies,
// and fits the shutdown into the pod's grace period. See pkg/init/supervisor for
// the contract and pkg/init/flags for the command line.
package main

import (
	// sigcatch catches signals from its package initialiser, which runs as
	// soon as os/signal is ready, before main: an early SIGTERM is neither
	// lost nor fatal.
	"github.com/graceful-dev/graceful/pkg/init/sigcatch"

	"fmt"
	"os"

	"github.com/graceful-dev/graceful/pkg/init/flags"
	"github.com/graceful-dev/graceful/pkg/init/selfinstall"
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
	default:
		s := supervisor.New(cfg, sigcatch.C, os.Stderr)
		mask := sigcatch.InitialMask()
		s.Signals = supervisor.ChildSignals{Mask: &mask, Ignore: sigcatch.RestoreInChild(), Handoff: sigcatch.HandoffArgv, Partial: sigcatch.Partial}
		s.AfterStart = func() { go sigcatch.CatchRest() }
		os.Exit(s.Run())
	}
}
