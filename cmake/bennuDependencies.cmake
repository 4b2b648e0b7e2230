# What libbennu links: libuv, libsodium, jansson, libcrypto, libprotobuf-c
# (through pkg-config), http-parser (no .pc file on Debian) and libm, behind
# one imported target, bennu::deps. Included by the top-level CMakeLists.txt
# and, installed, by bennuConfig.cmake, so a find_package(bennu) consumer
# resolves the same libraries the build used.
#
# Sets bennu_DEPS_FOUND; REQUIRED failures are the includer's to report.

set(bennu_DEPS_FOUND TRUE)
if(NOT TARGET bennu::deps)
  find_package(PkgConfig QUIET)
  if(NOT PKG_CONFIG_FOUND)
    set(bennu_DEPS_FOUND FALSE)
    set(bennu_DEPS_MISSING "pkg-config")
    return()
  endif()
  pkg_check_modules(bennu_deps QUIET IMPORTED_TARGET
    libuv libsodium jansson libcrypto libprotobuf-c)
  find_library(bennu_HTTP_PARSER_LIBRARY http_parser)
  if(NOT bennu_deps_FOUND OR NOT bennu_HTTP_PARSER_LIBRARY)
    set(bennu_DEPS_FOUND FALSE)
    set(bennu_DEPS_MISSING
      "libuv libsodium jansson libcrypto libprotobuf-c (pkg-config) and libhttp_parser")
    return()
  endif()
  add_library(bennu::http_parser UNKNOWN IMPORTED)
  set_target_properties(bennu::http_parser PROPERTIES
    IMPORTED_LOCATION "${bennu_HTTP_PARSER_LIBRARY}")
  add_library(bennu::deps INTERFACE IMPORTED)
  set_target_properties(bennu::deps PROPERTIES
    INTERFACE_LINK_LIBRARIES "PkgConfig::bennu_deps;bennu::http_parser;m")
endif()
