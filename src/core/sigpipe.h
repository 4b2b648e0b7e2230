/* SIGPIPE and the library: a write to a socket whose peer has reset it
 * raises SIGPIPE, whose default action kills the whole process. libuv writes
 * with write(2)/writev(2), which cannot ask for MSG_NOSIGNAL, so the
 * library sets SIGPIPE to SIG_IGN when it starts a server or a mesh (and
 * then sees EPIPE as a write error on that one connection). */
#ifndef BN_CORE_SIGPIPE_H
#define BN_CORE_SIGPIPE_H

/* Once per process: ignores SIGPIPE if its disposition is still the
 * default. A handler or SIG_IGN set by the embedder is left alone. Safe to
 * call from any thread, any number of times. */
void bn_sigpipe_ignore(void);

#endif
