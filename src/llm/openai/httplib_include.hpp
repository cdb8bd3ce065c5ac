#pragma once

// Debian's cpp-httplib is a compiled library whose header changes shape with these switches:
// every includer must set them as the library was built (pkg-config's Cflags), or the classes
// it sees differ from the ones in the library. Targets that do not get those Cflags (the tests)
// include this header instead of <httplib.h>.
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#ifndef CPPHTTPLIB_ZLIB_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT
#endif
#ifndef CPPHTTPLIB_BROTLI_SUPPORT
#define CPPHTTPLIB_BROTLI_SUPPORT
#endif

#include <httplib.h>
