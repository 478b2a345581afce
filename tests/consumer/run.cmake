# ctest driver (tests/CMakeLists.txt, test install_consumer): installs the build tree BUILD into
# a fresh prefix under WORK, configures and builds tests/consumer against it with the same
# compiler, and runs its three programs. Usage:
#   cmake -DBUILD=<build dir> -DSOURCE=<tests/consumer> -DWORK=<scratch dir> -DCXX=<compiler>
#         [-DLAUNCHER=ccache] -P run.cmake
# Deliberately leaves out: a relocation check of the prefix (the .pc file and the data lookup
# are relative by construction).
file(REMOVE_RECURSE ${WORK})
set(prefix ${WORK}/prefix)
function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_consumer: failed (${rc}): ${ARGN}")
  endif()
endfunction()
step(${CMAKE_COMMAND} --install ${BUILD} --prefix ${prefix})
set(launcher "")
if(LAUNCHER)
  set(launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()
set(ENV{PKG_CONFIG_PATH} "${prefix}/lib/pkgconfig")
step(${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/build -DCMAKE_PREFIX_PATH=${prefix}
     -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release ${launcher})
step(${CMAKE_COMMAND} --build ${WORK}/build)
foreach(prog use_formats use_core use_formats_pc)
  step(${WORK}/build/${prog})
endforeach()
step(${prefix}/bin/precsweep --version)
