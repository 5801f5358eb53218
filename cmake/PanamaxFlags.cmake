# Compiler flags for the C core: warnings everywhere, ISA flags only for the per-ISA source directories.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(PANAMAX_ARCH x86_64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  set(PANAMAX_ARCH aarch64)
else()
  set(PANAMAX_ARCH generic)
endif()
message(STATUS "Panamax: target architecture ${PANAMAX_ARCH}")

set(PANAMAX_WARNING_FLAGS -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter)
if(PANAMAX_WERROR)
  list(APPEND PANAMAX_WARNING_FLAGS -Werror)
endif()

# Never -march=native: the library must run on every CPU of its architecture.
set(PANAMAX_AVX2_FLAGS -mavx2 -mfma -mf16c)
set(PANAMAX_AVX512_FLAGS -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16)
set(PANAMAX_DOTPROD_FLAGS -march=armv8.2-a+dotprod)
