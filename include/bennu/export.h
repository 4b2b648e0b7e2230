/* BN_EXTERN marks the public API. libbennu is compiled with
 * -fvisibility=hidden, so only declarations carrying BN_EXTERN are exported
 * from the shared library; every internal cross-module function stays
 * hidden. (The static archive is unaffected: hidden symbols still link
 * between the archive's own objects.) */
#ifndef BENNU_EXPORT_H
#define BENNU_EXPORT_H

#if defined(__GNUC__) && __GNUC__ >= 4
#define BN_EXTERN __attribute__((visibility("default")))
#else
#define BN_EXTERN
#endif

#endif
