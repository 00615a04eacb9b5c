/* probe: the workload of hack/benchinit, in C so that it adds no runtime noise.
 *
 *   probe latency        print "ready", then one CLOCK_MONOTONIC timestamp (ns)
 *                        a line for every SIGUSR1, written from the handler
 *   probe orphans N      hand N exited children to the init as orphans, then
 *                        print the ns it took until every one was reaped
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	(void)sig;
	int n = snprintf(buf, sizeof buf, "%lld\n", now_ns());
	if (write(1, buf, n) < 0) _exit(1);
}

static int count_procs(void) {
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;
	if (!d) return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] >= '0' && e->d_name[0] <= '9') n++;
	closedir(d);
	return n;
}

int main(int argc, char **argv) {
	if (argc >= 2 && !strcmp(argv[1], "latency")) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_usr1;
		sa.sa_flags = SA_RESTART;
		sigaction(SIGUSR1, &sa, NULL);
		if (write(1, "ready\n", 6) < 0) return 1;
		for (;;) pause();
	}
	if (argc >= 3 && !strcmp(argv[1], "orphans")) {
		int n = atoi(argv[2]);
		int base = count_procs();
		pid_t mid = fork();
		if (mid == 0) {
			/* The intermediate forks n children that exit at once, and leaves
			 * without waiting for them: they become the init's orphans. */
			for (int i = 0; i < n; i++) {
				pid_t c = fork();
				if (c == 0) _exit(0);
				if (c < 0) _exit(2);
			}
			_exit(0);
		}
		waitpid(mid, NULL, 0);
		long long t0 = now_ns();
		/* Every orphan is gone when /proc is back to what it held before. */
		while (count_procs() > base) usleep(200);
		printf("%lld\n", now_ns() - t0);
		return 0;
	}
	fprintf(stderr, "usage: probe latency | probe orphans N\n");
	return 2;
}
