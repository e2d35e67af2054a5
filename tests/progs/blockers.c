/*
 * blockers.c - a process the checkpoint pre-flight must refuse, for several reasons at
 * once: a second thread, a socket, an eventfd. Prints a tick every 100 ms for ~6 s so a
 * test can see it keeps running after the refused checkpoint. Exits 0.
 */
#include <pthread.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

static void *idle(void *a)
{
	(void)a;
	for (;;)
		pause();
	return NULL;
}

int main(void)
{
	pthread_t t;
	int s = socket(AF_INET, SOCK_DGRAM, 0), e = eventfd(0, 0);
	if (s < 0 || e < 0 || pthread_create(&t, NULL, idle, NULL) != 0)
		return 1;
	for (int i = 0; i < 60; i++) {
		printf("tick %d\n", i);
		fflush(stdout);
		usleep(100000);
	}
	return 0;
}
