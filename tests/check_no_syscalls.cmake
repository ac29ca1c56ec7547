# Library objects that must stay free of allocation and system calls (the
# parser, the QUIC reader, the crypto, the fingerprints) may reference no
# allocator and no system call wrapper; references between the objects
# given are fine.  REQUIRE names symbols that must be defined there: they
# prove these are the right objects and that nm's output parses.
#   cmake -DNM=<nm> -DOBJECTS=<a.o;b.o> -DREQUIRE=<sym;sym> -P check_no_syscalls.cmake
cmake_minimum_required(VERSION 3.16)
if(NOT NM OR NOT OBJECTS OR NOT REQUIRE)
  message(FATAL_ERROR "usage: -DNM=<nm> -DOBJECTS=<objects> -DREQUIRE=<symbols> -P ${CMAKE_CURRENT_LIST_FILE}")
endif()

set(forbidden
  malloc calloc realloc reallocarray free posix_memalign aligned_alloc
  memalign valloc pvalloc strdup strndup
  read recv recvfrom recvmsg send sendto sendmsg write writev readv open
  openat close socket accept connect poll select epoll_wait ioctl fcntl
  mmap munmap syscall fopen getenv abort exit getrandom)
# bcmp: clang lowers a memcmp() whose result is only compared with 0 to it.
set(allowed memcpy memset memmove memcmp bcmp __stack_chk_fail _GLOBAL_OFFSET_TABLE_)
set(allowed_prefix "^(__asan_|__ubsan_|__sanitizer_|__msan_|__tsan_|__llvm_|__gcov_)")

function(nm_symbols obj flags out)
  execute_process(COMMAND "${NM}" ${flags} "${obj}" OUTPUT_VARIABLE text
    RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} ${flags} ${obj} failed: ${err}")
  endif()
  string(REPLACE "\n" ";" lines "${text}")
  set(syms "")
  foreach(line IN LISTS lines)
    string(STRIP "${line}" line)
    if(NOT line STREQUAL "")
      string(REGEX REPLACE "^.*[ \t]" "" sym "${line}")
      string(REGEX REPLACE "@.*$" "" sym "${sym}")
      list(APPEND syms "${sym}")
    endif()
  endforeach()
  set(${out} "${syms}" PARENT_SCOPE)
endfunction()

set(defined "")
set(undefined "")
foreach(obj IN LISTS OBJECTS)
  if(NOT EXISTS "${obj}")
    message(FATAL_ERROR "object not found: ${obj}")
  endif()
  nm_symbols("${obj}" "-g;--defined-only" d)
  nm_symbols("${obj}" "-u" u)
  list(APPEND defined ${d})
  list(APPEND undefined ${u})
endforeach()
foreach(sym IN LISTS REQUIRE)
  if(NOT sym IN_LIST defined)
    message(FATAL_ERROR "${sym} is not defined in ${OBJECTS}: wrong objects?")
  endif()
endforeach()

set(bad "")
list(REMOVE_DUPLICATES undefined)
foreach(sym IN LISTS undefined)
  message(STATUS "references ${sym}")
  if(sym IN_LIST forbidden)
    list(APPEND bad "${sym} (forbidden)")
  elseif(NOT sym IN_LIST defined AND NOT sym IN_LIST allowed
         AND NOT sym MATCHES "${allowed_prefix}")
    list(APPEND bad "${sym} (not on the allowed list)")
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "these objects reference: ${bad}")
endif()
message(STATUS "objects reference no allocator or system call")
