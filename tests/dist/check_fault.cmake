# Runs MPIEXEC ... PROGRAM and passes when it fails (non-zero exit) within
# LIMIT seconds with EXPECTED in its output: a fault on one rank ends the
# whole job with its message, it does not hang.
#   cmake -DMPIEXEC=... -DRANKS=2 -DPROGRAM=... [-DARGS=...] -DEXPECTED=... -DLIMIT=60 -P check_fault.cmake
string(TIMESTAMP start "%s")
execute_process(
  COMMAND ${MPIEXEC} -np ${RANKS} --oversubscribe ${PROGRAM} ${ARGS}
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT ${LIMIT})
string(TIMESTAMP stop "%s")
math(EXPR seconds "${stop} - ${start}")
message(STATUS "exit: ${result} after ${seconds} s\n--- stdout\n${out}\n--- stderr\n${err}")
if(result MATCHES "^[0-9]+$" AND result EQUAL 0)
  message(FATAL_ERROR "the job exited 0; a failing rank must make it exit non-zero")
endif()
if(NOT result MATCHES "^[0-9]+$")
  message(FATAL_ERROR "the job did not end by itself within ${LIMIT} s (${result}): a hang")
endif()
string(FIND "${out}${err}" "${EXPECTED}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "the output does not hold the failing rank's message '${EXPECTED}'")
endif()
