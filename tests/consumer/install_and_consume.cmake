# Installs the xgrad build in XGRAD_BUILD_DIR into a scratch prefix, then
# configures, builds and runs the consumer project against that prefix.
file(REMOVE_RECURSE ${SCRATCH_DIR})
if(NOT BUILD_TYPE)
  set(BUILD_TYPE Release)
endif()

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${what} failed (${status}):\n${out}\n${err}")
  endif()
  message(STATUS "${what}: ok\n${out}")
endfunction()

run_step("install" ${CMAKE_COMMAND} --install ${XGRAD_BUILD_DIR} --prefix ${SCRATCH_DIR}/prefix)
run_step("configure consumer" ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${SCRATCH_DIR}/build
  -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DCMAKE_PREFIX_PATH=${SCRATCH_DIR}/prefix)
run_step("build consumer" ${CMAKE_COMMAND} --build ${SCRATCH_DIR}/build)
run_step("run consumer" ${SCRATCH_DIR}/build/consumer)
# Installed with xgrad::dist: the consumer must have found it and built with it.
file(GLOB_RECURSE dist_exports ${SCRATCH_DIR}/prefix/*/xgradDistTargets.cmake)
if(dist_exports AND NOT EXISTS ${SCRATCH_DIR}/build/consumer_dist)
  message(FATAL_ERROR "xgrad::dist is installed but the consumer did not build consumer_dist with it")
endif()
