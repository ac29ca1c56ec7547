# The parser's object file may reference no allocator and no system call
# wrapper: "the parser never allocates and never makes a system call".
#   cmake -DNM=<nm> -DOBJECTS=<a.o;b.o> -P check_parser_symbols.cmake
cmake_minimum_required(VERSION 3.16)
if(NOT NM OR NOT OBJECTS)
  message(FATAL_ERROR "usage: -DNM=<nm> -DOBJECTS=<objects> -P ${CMAKE_CURRENT_LIST_FILE}")
endif()

set(forbidden
  malloc calloc realloc reallocarray free posix_memalign aligned_alloc
  memalign valloc pvalloc strdup strndup
  read recv recvfrom recvmsg send sendto sendmsg write writev readv open
  openat close socket accept connect poll select epoll_wait ioctl fcntl
  mmap munmap syscall fopen getenv abort exit)
# Anything else must be on this list or carry a sanitizer/coverage prefix:
# an unexpected libc call is a regression worth a look even if harmless.
set(allowed memcpy memset memmove memcmp __stack_chk_fail
  _GLOBAL_OFFSET_TABLE_)
set(allowed_prefix "^(__asan_|__ubsan_|__sanitizer_|__msan_|__tsan_|__llvm_|__gcov_)")

set(bad "")
set(seen_api OFF)
foreach(obj IN LISTS OBJECTS)
  if(NOT EXISTS "${obj}")
    message(FATAL_ERROR "object not found: ${obj}")
  endif()
  execute_process(COMMAND "${NM}" -u "${obj}" OUTPUT_VARIABLE undef
    RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} -u ${obj} failed: ${err}")
  endif()
  # The defined symbols prove this is the parser and that nm's output is
  # read the way this script expects.
  execute_process(COMMAND "${NM}" -g --defined-only "${obj}"
    OUTPUT_VARIABLE defs RESULT_VARIABLE rc)
  if(rc EQUAL 0 AND defs MATCHES "[ \t]T[ \t]+sni_parse\n")
    set(seen_api ON)
  endif()
  string(REPLACE "\n" ";" lines "${undef}")
  foreach(line IN LISTS lines)
    string(STRIP "${line}" line)
    if(line STREQUAL "")
      continue()
    endif()
    string(REGEX REPLACE "^.*[ \t]" "" sym "${line}")
    string(REGEX REPLACE "@.*$" "" sym "${sym}")
    message(STATUS "${obj}: references ${sym}")
    if(sym IN_LIST forbidden)
      list(APPEND bad "${sym} (forbidden)")
    elseif(NOT sym IN_LIST allowed AND NOT sym MATCHES "${allowed_prefix}")
      list(APPEND bad "${sym} (not on the allowed list)")
    endif()
  endforeach()
endforeach()
if(NOT seen_api)
  message(FATAL_ERROR "sni_parse is not defined in ${OBJECTS}: wrong object?")
endif()
if(bad)
  message(FATAL_ERROR "the parser references: ${bad}")
endif()
message(STATUS "parser object references no allocator or system call")
