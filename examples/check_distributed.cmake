# CTest check of train_distributed (cmake -P):
#   cmake -DMPIEXEC=<mpirun> -DPROGRAM=<exe> -DWORK_DIR=<dir> -P check_distributed.cmake
# Runs it on 2 ranks for 2 epochs and requires exit 0, exactly one JSON line
# (rank 0's), with "ranks":2 and "weights_identical":true.
cmake_minimum_required(VERSION 3.19)  # string(JSON)
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
execute_process(
  COMMAND ${MPIEXEC} -np 2 --oversubscribe ${PROGRAM} --epochs 2 --out ${WORK_DIR}
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "train_distributed failed (${result}):\n${out}\n${err}")
endif()
string(REGEX MATCHALL "{\"example\"[^\n]*" lines "${out}")
list(LENGTH lines count)
if(NOT count EQUAL 1)
  message(FATAL_ERROR "expected one JSON line (rank 0's), got ${count}:\n${out}")
endif()
string(JSON ranks GET "${lines}" ranks)
string(JSON identical GET "${lines}" weights_identical)
if(NOT ranks EQUAL 2 OR NOT identical STREQUAL "ON")
  message(FATAL_ERROR "expected ranks 2 and identical weights: ${lines}")
endif()
if(NOT EXISTS "${WORK_DIR}/train_distributed_loss.csv")
  message(FATAL_ERROR "rank 0 wrote no loss curve into ${WORK_DIR}")
endif()
message(STATUS "${lines}")
