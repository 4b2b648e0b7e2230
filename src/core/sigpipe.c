#include "core/sigpipe.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>

static pthread_once_t sigpipe_once = PTHREAD_ONCE_INIT;

static void sigpipe_install(void)
{
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) != 0) {
        return;
    }
    if ((old.sa_flags & SA_SIGINFO) != 0 || old.sa_handler != SIG_DFL) {
        return; /* the embedder's choice */
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
}

void bn_sigpipe_ignore(void)
{
    pthread_once(&sigpipe_once, sigpipe_install);
}
