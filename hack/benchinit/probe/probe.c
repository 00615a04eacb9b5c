/* probe: the workload that hack/benchinit runs under each init, in C so that
 * it adds little noise of its own. Every mode ends by itself (alarm).
 *
 *   probe latency    print "ready", then one CLOCK_MONOTONIC timestamp (ns) a
 *                    line for every SIGUSR1, written from the signal handler
 *   probe orphans N  hand N exited children to the init at once (they are
 *                    zombies of an intermediate process that then exits),
 *                    print the ns until the init has reaped every one, then
 *                    wait for stdin to close so that the harness can read the
 *                    init's peak RSS while it still runs
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void on_usr1(int sig) {
	char buf[32];
	long long t = now_ns(); /* first thing the handler does */
	(void)sig;
	int n = snprintf(buf, sizeof buf, "%lld\n", t);
	if (write(1, buf, n) < 0) _exit(1);
}

static int latency(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	alarm(300); /* the harness kills the namespace long before */
	if (write(1, "ready\n", 6) < 0) return 1;
	for (;;) pause();
}

static int orphans(int n) {
	if (n <= 0 || n > 1000000) {
		fprintf(stderr, "probe: orphans: count %d out of range 1..1000000\n", n);
		return 2;
	}
	alarm(120);
	pid_t *pids = mmap(NULL, sizeof(pid_t) * n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pids == MAP_FAILED) {
		perror("probe: mmap");
		return 1;
	}
	pid_t mid = fork();
	if (mid < 0) {
		perror("probe: fork");
		return 1;
	}
	if (mid == 0) {
		/* Children of the intermediate exit at once and stay zombies (it
		 * does not wait); when it exits they all pass to the init. */
		for (int i = 0; i < n; i++) {
			pid_t c = fork();
			if (c == 0) _exit(0);
			if (c < 0) _exit(2);
			pids[i] = c;
		}
		_exit(0);
	}
	int st;
	if (waitpid(mid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "probe: the intermediate failed to fork %d children\n", n);
		return 1;
	}
	long long t0 = now_ns();
	/* A zombie answers kill(pid, 0) until it is reaped. The init reaps in
	 * any order, so walk the list once: each pid is checked until it is gone. */
	int i = 0;
	while (i < n) {
		if (kill(pids[i], 0) < 0 && errno == ESRCH) {
			i++;
			continue;
		}
		if (now_ns() - t0 > 60000000000LL) {
			fprintf(stderr, "probe: %d of %d orphans still unreaped after 60 s\n", n - i, n);
			return 1;
		}
		usleep(50);
	}
	printf("%lld\n", now_ns() - t0);
	fflush(stdout);
	char c;
	while (read(0, &c, 1) > 0) {
	}
	return 0;
}

int main(int argc, char **argv) {
	if (argc == 2 && !strcmp(argv[1], "latency")) return latency();
	if (argc == 3 && !strcmp(argv[1], "orphans")) return orphans(atoi(argv[2]));
	fprintf(stderr, "usage: probe latency | probe orphans N\n");
	return 2;
}
