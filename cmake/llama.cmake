# llama.cpp as a static subproject, C API only (target `llama`). The source comes from
# scripts/setup.sh; nothing of llama.cpp lives in this repository.
if(NOT HYPERALIGN_LLAMA_SOURCE_DIR OR NOT EXISTS "${HYPERALIGN_LLAMA_SOURCE_DIR}/include/llama.h")
    message(FATAL_ERROR "HYPERALIGN_LLAMA_SOURCE_DIR must point at llama.cpp's source "
                        "(run scripts/setup.sh, which fetches it)")
endif()

set(LLAMA_BUILD_COMMON OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_TOOLS OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_EXAMPLES OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_SERVER OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_APP OFF CACHE BOOL "" FORCE)
set(LLAMA_OPENSSL OFF CACHE BOOL "" FORCE)
set(LLAMA_USE_PREBUILT_UI OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_UI OFF CACHE BOOL "" FORCE)
set(BUILD_SHARED_LIBS OFF CACHE BOOL "" FORCE)

add_subdirectory(${HYPERALIGN_LLAMA_SOURCE_DIR} ${CMAKE_BINARY_DIR}/llama.cpp EXCLUDE_FROM_ALL SYSTEM)
