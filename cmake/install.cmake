# `cmake --install build --prefix P`: the executable, the public headers, both libraries, a CMake
# package (find_package(precsweep CONFIG) -> precsweep::formats, precsweep::core), a pkg-config
# file for precsweep-formats, and the Python analysis package and data folder the executable
# looks for beside itself (src/paths.cpp). docs/library.md shows how to use them.
# Deliberately leaves out: the Python extension (pip install ., pyproject.toml) and MNIST itself
# (scripts/setup fetches it; copy data/mnist to P/share/precsweep/data/ or set PRECSWEEP_DATA_DIR).
include(CMakePackageConfigHelpers)
set(PRECSWEEP_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/precsweep)

# Shared builds: the installed executable and core find their libraries relative to themselves.
file(RELATIVE_PATH _bin_to_lib ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_FULL_LIBDIR})
set_target_properties(precsweep PROPERTIES INSTALL_RPATH "$ORIGIN/${_bin_to_lib}")
set_target_properties(precsweep_core PROPERTIES INSTALL_RPATH "$ORIGIN")
install(TARGETS precsweep RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# Two export sets, so that find_package(precsweep CONFIG COMPONENTS formats) needs nothing but
# OpenMP; core's set refers to formats'.
install(TARGETS precsweep_formats EXPORT precsweep-formats-targets
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS precsweep_core precsweep_blas EXPORT precsweep-core-targets
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/precsweep DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT precsweep-formats-targets NAMESPACE precsweep:: DESTINATION ${PRECSWEEP_CMAKE_DIR})
install(EXPORT precsweep-core-targets NAMESPACE precsweep:: DESTINATION ${PRECSWEEP_CMAKE_DIR})
set_target_properties(precsweep_blas PROPERTIES EXPORT_NAME blas_private)

# A static precsweep_core carries its private dependencies in its link interface, so the package
# finds them again; a shared one needs them only at run time.
get_target_property(_core_type precsweep_core TYPE)
set(PRECSWEEP_CORE_STATIC OFF)
if(_core_type STREQUAL "STATIC_LIBRARY")
  set(PRECSWEEP_CORE_STATIC ON)
endif()
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/precsweep-config.cmake.in
  ${CMAKE_BINARY_DIR}/generated/precsweep-config.cmake INSTALL_DESTINATION ${PRECSWEEP_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/generated/precsweep-config-version.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/generated/precsweep-config.cmake
              ${CMAKE_BINARY_DIR}/generated/precsweep-config-version.cmake
        DESTINATION ${PRECSWEEP_CMAKE_DIR})

# pkg-config: the formats layer only (C++20 and OpenMP; -fopenmp is what GCC and clang take).
# The prefix is relative to the .pc file, so `--install --prefix P` needs no re-configure.
file(RELATIVE_PATH PRECSWEEP_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig
     ${CMAKE_INSTALL_PREFIX})
configure_file(${CMAKE_SOURCE_DIR}/cmake/precsweep-formats.pc.in
               ${CMAKE_BINARY_DIR}/generated/precsweep-formats.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/generated/precsweep-formats.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# What the executable finds beside itself: share/precsweep/python (the analysis package, for
# `precsweep report`) and share/precsweep/data (empty; MNIST goes there).
install(DIRECTORY ${CMAKE_SOURCE_DIR}/python/precsweep DESTINATION ${CMAKE_INSTALL_DATADIR}/precsweep/python
        PATTERN "__pycache__" EXCLUDE PATTERN "tests" EXCLUDE PATTERN "*.cpp" EXCLUDE)
install(DIRECTORY DESTINATION ${CMAKE_INSTALL_DATADIR}/precsweep/data)
