# Fails unless README.md contains, in a ```c block, exactly the lines of
# SOURCE between README-BEGIN and README-END.
file(READ "${SOURCE}" src)
string(REGEX MATCH "/\\* README-BEGIN \\*/\n(.*)/\\* README-END \\*/" _ "${src}")
set(snippet "${CMAKE_MATCH_1}")
if(snippet STREQUAL "")
  message(FATAL_ERROR "no README-BEGIN/README-END block in ${SOURCE}")
endif()
file(READ "${README}" readme)
string(FIND "${readme}" "```c\n${snippet}```" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README.md does not contain the snippet of ${SOURCE} verbatim")
endif()
message(STATUS "README snippet matches ${SOURCE}")
