# Finds BLAS with CBLAS for PRECSWEEP_BLAS and defines the INTERFACE target precsweep_blas
# (link line and, at build time only, the folder of cblas.h), plus PRECSWEEP_BLAS_IS_OPENBLAS.
# The target holds absolute library paths so it can be exported for static consumers of
# precsweep::core without them finding BLAS again.
# Deliberately leaves out: 64-bit-integer BLAS interfaces and Fortran-only BLAS (no cblas.h).
find_package(PkgConfig REQUIRED)
set(PRECSWEEP_BLAS_IS_OPENBLAS OFF)
set(_blas_libs "")
set(_blas_hint_dirs "")
if(PRECSWEEP_BLAS STREQUAL "OpenBLAS")
  set(PRECSWEEP_BLAS_IS_OPENBLAS ON)
  # Debian installs one .pc per threading variant; the plain openblas.pc follows the system's
  # alternative, which may be the pthread build.
  set(_omp_pc /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp/pkgconfig)
  if(EXISTS ${_omp_pc}/openblas.pc)
    set(_saved_pc_path "$ENV{PKG_CONFIG_PATH}")
    set(ENV{PKG_CONFIG_PATH} "${_omp_pc}:$ENV{PKG_CONFIG_PATH}")
  endif()
  pkg_check_modules(PRECSWEEP_PC_OPENBLAS QUIET openblas)
  if(EXISTS ${_omp_pc}/openblas.pc)
    set(ENV{PKG_CONFIG_PATH} "${_saved_pc_path}")
  endif()
  if(PRECSWEEP_PC_OPENBLAS_FOUND)
    find_library(PRECSWEEP_BLAS_LIB NAMES openblas PATHS ${PRECSWEEP_PC_OPENBLAS_LIBRARY_DIRS}
                 NO_DEFAULT_PATH)
    set(_blas_libs ${PRECSWEEP_BLAS_LIB})
    set(_blas_hint_dirs ${PRECSWEEP_PC_OPENBLAS_INCLUDE_DIRS})
  endif()
endif()
if(NOT _blas_libs)
  set(BLA_VENDOR ${PRECSWEEP_BLAS})
  find_package(BLAS)
  if(NOT BLAS_FOUND)
    message(FATAL_ERROR "BLAS '${PRECSWEEP_BLAS}' not found (PRECSWEEP_BLAS: OpenBLAS, BLIS, "
                        "Intel10_64lp, Apple, Generic, ...; Debian: libopenblas-openmp-dev)")
  endif()
  set(_blas_libs ${BLAS_LIBRARIES})
  foreach(_lib ${BLAS_LIBRARIES})
    get_filename_component(_dir ${_lib} DIRECTORY)
    list(APPEND _blas_hint_dirs ${_dir}/../include)
  endforeach()
endif()
find_path(PRECSWEEP_CBLAS_INCLUDE NAMES cblas.h HINTS ${_blas_hint_dirs}
          PATH_SUFFIXES openblas blis mkl)
if(NOT PRECSWEEP_CBLAS_INCLUDE)
  message(FATAL_ERROR "cblas.h for BLAS '${PRECSWEEP_BLAS}' not found; set "
                      "PRECSWEEP_CBLAS_INCLUDE to its folder")
endif()
add_library(precsweep_blas INTERFACE)
target_link_libraries(precsweep_blas INTERFACE ${_blas_libs})
target_include_directories(precsweep_blas SYSTEM INTERFACE
                           $<BUILD_INTERFACE:${PRECSWEEP_CBLAS_INCLUDE}>)
target_compile_definitions(precsweep_blas INTERFACE
  $<BUILD_INTERFACE:PRECSWEEP_BLAS_VENDOR="${PRECSWEEP_BLAS}">
  $<$<BOOL:${PRECSWEEP_BLAS_IS_OPENBLAS}>:$<BUILD_INTERFACE:PRECSWEEP_OPENBLAS>>)
message(STATUS "precsweep: BLAS ${PRECSWEEP_BLAS}: ${_blas_libs} (cblas.h in ${PRECSWEEP_CBLAS_INCLUDE})")
