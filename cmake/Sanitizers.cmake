# sightglass_enable_sanitizers(TARGET): sanitizer flags on an INTERFACE target, per target
# rather than through global CMAKE_CXX_FLAGS.
function(sightglass_enable_sanitizers target)
  set(sanitizers "")
  if(SIGHTGLASS_ENABLE_ASAN_UBSAN)
    list(APPEND sanitizers address undefined)
  endif()
  if(SIGHTGLASS_ENABLE_TSAN)
    if(SIGHTGLASS_ENABLE_ASAN_UBSAN)
      message(FATAL_ERROR "ThreadSanitizer cannot be combined with AddressSanitizer")
    endif()
    list(APPEND sanitizers thread)
  endif()
  if(sanitizers)
    list(JOIN sanitizers "," list)
    target_compile_options(${target} INTERFACE -fsanitize=${list} -fno-omit-frame-pointer
                                               -fno-sanitize-recover=undefined)
    target_link_options(${target} INTERFACE -fsanitize=${list})
    target_compile_definitions(${target} INTERFACE SIGHTGLASS_SANITIZED=1)
    # GCC's -Wmaybe-uninitialized reports false positives in instrumented code (libstdc++'s
    # <regex> among them); the uninstrumented build keeps the warning.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      target_compile_options(${target} INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Wno-maybe-uninitialized>)
    endif()
  endif()
endfunction()
