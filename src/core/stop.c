/* Stop requests from signals (see include/ovq/stop.h). */
#include "ovq/stop.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t g_signal = 0;
static int g_installed = 0;

static void on_signal(int sig) { g_signal = sig; }

void ovq_stop_catch(void) {
  if (g_installed) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  g_installed = 1;
}

int ovq_stop_requested(void) { return g_signal; }

void ovq_stop_clear(void) { g_signal = 0; }
