# sightglass_set_warnings(TARGET): the warning flags for our own code (an INTERFACE target).
function(sightglass_set_warnings target)
  set(flags
      -Wall
      -Wextra
      -Wpedantic
      -Wshadow
      -Wnon-virtual-dtor
      -Wold-style-cast
      -Wcast-align
      -Wunused
      -Woverloaded-virtual
      -Wconversion
      -Wsign-conversion
      -Wdouble-promotion
      -Wformat=2
      -Wimplicit-fallthrough)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12's -Wmaybe-uninitialized misfires on std::variant and <regex> (GCC bugs 80635,
    # 105562), and its -Wrestrict on std::string concatenation at -O3 (GCC bug 105329);
    # -Wuninitialized stays on.
    list(APPEND flags -Wmisleading-indentation -Wduplicated-cond -Wlogical-op
         -Wno-maybe-uninitialized -Wno-restrict)
  endif()
  if(SIGHTGLASS_WARNINGS_AS_ERRORS)
    list(APPEND flags -Werror)
  endif()
  target_compile_options(${target} INTERFACE $<$<COMPILE_LANGUAGE:CXX>:${flags}>)
endfunction()
