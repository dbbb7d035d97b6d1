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
    # UBSan's vptr check probes memory through a pipe it opens on every check: out of file
    # descriptors (a proxy under load can be, and a test makes it so) the probe fails and every
    # virtual call through a shared_ptr is reported as an invalid object. The check is off so
    # that the sanitizer build can run that test; the other UBSan checks stay.
    target_compile_options(${target} INTERFACE -fsanitize=${list} -fno-sanitize=vptr
                                               -fno-omit-frame-pointer
                                               -fno-sanitize-recover=undefined)
    target_link_options(${target} INTERFACE -fsanitize=${list})
    target_compile_definitions(${target} INTERFACE SIGHTGLASS_SANITIZED=1)
  endif()
  if(SIGHTGLASS_BUILD_FUZZERS)
    # Coverage for libFuzzer in every library of ours; the fuzz_* binaries link the fuzzer.
    target_compile_options(${target} INTERFACE -fsanitize=fuzzer-no-link)
    target_compile_definitions(${target} INTERFACE SIGHTGLASS_FUZZING=1)
  endif()
endfunction()
