# Runs at every build (not only at configure time) so `precsweep --version` and the results
# files always name the commit the binary was built from. configure_file rewrites the output
# only when its content changes, so an unchanged commit triggers no recompilation.
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE PRECSWEEP_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE _dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT PRECSWEEP_GIT_COMMIT)
  set(PRECSWEEP_GIT_COMMIT unknown)
elseif(_dirty)
  string(APPEND PRECSWEEP_GIT_COMMIT "-dirty")
endif()
configure_file(${SOURCE_DIR}/src/build_info.cpp.in ${OUTPUT} @ONLY)
