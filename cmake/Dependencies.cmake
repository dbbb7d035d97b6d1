# Imported targets for every dependency, all from Debian packages (scripts/install-deps).
# Nothing is downloaded at build time.
find_package(PkgConfig REQUIRED)

# sightglass_require_file(VAR FILE PACKAGE): a configure error that names the Debian package.
function(sightglass_require_path var path package)
  if(NOT EXISTS "${path}")
    message(FATAL_ERROR "${path} not found: install the Debian package '${package}' "
                        "(scripts/install-deps installs everything).")
  endif()
  set(${var} "${path}" PARENT_SCOPE)
endfunction()

# BoringSSL, from android-libboringssl-dev. Its headers must come before the system OpenSSL's,
# and only BoringSSL's libraries are ever linked.
set(SIGHTGLASS_BORINGSSL_INCLUDE_DIR "/usr/include/android"
    CACHE PATH "BoringSSL headers (android-libboringssl-dev)")
set(SIGHTGLASS_BORINGSSL_LIB_DIR "/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/android"
    CACHE PATH "BoringSSL libraries (android-libboringssl-dev)")
sightglass_require_path(_bssl_header "${SIGHTGLASS_BORINGSSL_INCLUDE_DIR}/openssl/is_boringssl.h"
                        android-libboringssl-dev)
sightglass_require_path(_bssl_crypto "${SIGHTGLASS_BORINGSSL_LIB_DIR}/libcrypto.so"
                        android-libboringssl-dev)
sightglass_require_path(_bssl_ssl "${SIGHTGLASS_BORINGSSL_LIB_DIR}/libssl.so"
                        android-libboringssl-dev)
add_library(boringssl::crypto SHARED IMPORTED GLOBAL)
set_target_properties(
  boringssl::crypto PROPERTIES IMPORTED_LOCATION "${_bssl_crypto}" IMPORTED_SONAME "libcrypto.so.0"
                               INTERFACE_INCLUDE_DIRECTORIES "${SIGHTGLASS_BORINGSSL_INCLUDE_DIR}")
add_library(boringssl::ssl SHARED IMPORTED GLOBAL)
set_target_properties(boringssl::ssl PROPERTIES IMPORTED_LOCATION "${_bssl_ssl}" IMPORTED_SONAME
                                                                                 "libssl.so.0")
target_link_libraries(boringssl::ssl INTERFACE boringssl::crypto)
# Executables find the libraries outside the default search path through their RPATH.
set(CMAKE_BUILD_RPATH "${SIGHTGLASS_BORINGSSL_LIB_DIR}")
set(CMAKE_INSTALL_RPATH "${SIGHTGLASS_BORINGSSL_LIB_DIR}")

# llhttp, from node-llhttp: Debian ships its C sources, compiled here as a static C library.
set(SIGHTGLASS_LLHTTP_SOURCE_DIR "/usr/share/llhttp" CACHE PATH "llhttp C sources (node-llhttp)")
set(SIGHTGLASS_LLHTTP_INCLUDE_DIR "/usr/share/include/llhttp"
    CACHE PATH "llhttp header (node-llhttp)")
sightglass_require_path(_llhttp_c "${SIGHTGLASS_LLHTTP_SOURCE_DIR}/llhttp.c" node-llhttp)
sightglass_require_path(_llhttp_h "${SIGHTGLASS_LLHTTP_INCLUDE_DIR}/llhttp.h" node-llhttp)
add_library(
  sightglass_llhttp STATIC
  "${SIGHTGLASS_LLHTTP_SOURCE_DIR}/api.c" "${SIGHTGLASS_LLHTTP_SOURCE_DIR}/http.c"
  "${SIGHTGLASS_LLHTTP_SOURCE_DIR}/llhttp.c")
target_include_directories(sightglass_llhttp SYSTEM PUBLIC "${SIGHTGLASS_LLHTTP_INCLUDE_DIR}")
set_target_properties(sightglass_llhttp PROPERTIES C_STANDARD 99 POSITION_INDEPENDENT_CODE ON)
target_compile_options(sightglass_llhttp PRIVATE -w)
sightglass_enable_sanitizers(sightglass_llhttp)
add_library(llhttp::llhttp ALIAS sightglass_llhttp)

# Libraries with pkg-config files.
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2)
pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
pkg_check_modules(BROTLI REQUIRED IMPORTED_TARGET libbrotlidec libbrotlienc)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
find_package(nlohmann_json 3 REQUIRED)

if(SIGHTGLASS_BUILD_GUI)
  pkg_check_modules(GLFW REQUIRED IMPORTED_TARGET glfw3)
  find_package(OpenGL REQUIRED)
  sightglass_require_path(_imgui_h "/usr/include/imgui/imgui.h" libimgui-dev)
  sightglass_require_path(_imgui_a "/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/libimgui.a"
                          libimgui-dev)
  add_library(imgui::imgui STATIC IMPORTED GLOBAL)
  set_target_properties(imgui::imgui PROPERTIES IMPORTED_LOCATION "${_imgui_a}"
                                                INTERFACE_INCLUDE_DIRECTORIES "/usr/include/imgui")
  target_link_libraries(imgui::imgui INTERFACE PkgConfig::GLFW OpenGL::GL ${CMAKE_DL_LIBS})
endif()

if(SIGHTGLASS_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(SIGHTGLASS_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()
