# CTest checks of the training programs, run with cmake -P:
#
#   cmake -DPROGRAM=<exe> -DWORK_DIR=<dir> -DMODE=reproducible -DCSV=<file name>
#       [-DEPOCHS=2] [-DSEED=7] [-DTHREADS=2] [-DARGS=<arguments>] -P check_training.cmake
#     Runs PROGRAM twice with the same --epochs/--seed/--threads into
#     WORK_DIR/run1 and WORK_DIR/run2 and requires the two loss CSVs to be
#     byte-identical.
#
#   cmake -DPROGRAM=<exe> -DWORK_DIR=<dir> -DMODE=target -DEXAMPLE=<name>
#       -DMETRIC=<key> -DBASELINE=<key> [-DFACTOR_EXPONENT=1] [-DARGS=<arguments>] -P check_training.cmake
#     Runs PROGRAM with its default settings (and ARGS) and requires its last stdout line
#     to be a JSON object for EXAMPLE whose METRIC is below BASELINE / 10^FACTOR_EXPONENT.
#     A key may name a nested member with dots (lstm.test_mse: the test_mse
#     of the object "lstm"), and METRIC may list several keys separated by
#     commas (lstm.test_mse,gru.test_mse), each of which must be below.
#
#   ARGS: more arguments for every run of PROGRAM, separated by spaces (a
#   smaller configuration, e.g. "--samples 512", for the slow sanitizer build).

cmake_minimum_required(VERSION 3.19)  # string(JSON)

foreach(required PROGRAM WORK_DIR MODE)
  if(NOT DEFINED ${required})
    message(FATAL_ERROR "check_training.cmake: -D${required}=... is required")
  endif()
endforeach()

# Runs PROGRAM with the given arguments; fails the test on a non-zero exit.
# The stdout goes to the variable named by `out_var`.
function(run_program out_var)
  separate_arguments(extra UNIX_COMMAND "${ARGS}")
  execute_process(COMMAND "${PROGRAM}" ${ARGN} ${extra}
                  RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE errors)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${PROGRAM} ${ARGN} ${extra} failed (${result}):\n${output}\n${errors}")
  endif()
  set(${out_var} "${output}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

if(MODE STREQUAL "reproducible")
  if(NOT DEFINED CSV)
    message(FATAL_ERROR "check_training.cmake: MODE=reproducible needs -DCSV=<file name>")
  endif()
  if(NOT DEFINED EPOCHS)
    set(EPOCHS 2)
  endif()
  if(NOT DEFINED SEED)
    set(SEED 7)
  endif()
  if(NOT DEFINED THREADS)
    set(THREADS 2)
  endif()
  foreach(run run1 run2)
    run_program(ignored --epochs ${EPOCHS} --seed ${SEED} --threads ${THREADS}
                --out "${WORK_DIR}/${run}")
  endforeach()
  execute_process(COMMAND "${CMAKE_COMMAND}" -E compare_files
                          "${WORK_DIR}/run1/${CSV}" "${WORK_DIR}/run2/${CSV}"
                  RESULT_VARIABLE different)
  if(NOT different EQUAL 0)
    file(READ "${WORK_DIR}/run1/${CSV}" first)
    file(READ "${WORK_DIR}/run2/${CSV}" second)
    message(FATAL_ERROR "two runs with seed ${SEED} and ${THREADS} threads gave different "
                        "loss curves:\n${first}\nvs\n${second}")
  endif()
  message(STATUS "${CSV}: identical over two runs")

elseif(MODE STREQUAL "target")
  foreach(required EXAMPLE METRIC BASELINE)
    if(NOT DEFINED ${required})
      message(FATAL_ERROR "check_training.cmake: MODE=target needs -D${required}=...")
    endif()
  endforeach()
  if(NOT DEFINED FACTOR_EXPONENT)
    set(FACTOR_EXPONENT 1)
  endif()
  run_program(output --out "${WORK_DIR}")
  string(STRIP "${output}" output)
  string(REGEX REPLACE ".*\n" "" last_line "${output}")
  string(JSON example ERROR_VARIABLE json_error GET "${last_line}" example)
  if(json_error OR NOT example STREQUAL EXAMPLE)
    message(FATAL_ERROR "the last line is not the JSON object of ${EXAMPLE}: ${last_line}")
  endif()
  # The member named by `key` (dots between nested names) of the JSON line.
  function(json_member out_var key)
    string(REPLACE "." ";" path "${key}")
    string(JSON value ERROR_VARIABLE json_error GET "${last_line}" ${path})
    if(json_error)
      message(FATAL_ERROR "${EXAMPLE}: no ${key} in the last line: ${last_line}")
    endif()
    set(${out_var} "${value}" PARENT_SCOPE)
  endfunction()
  json_member(baseline "${BASELINE}")
  # CMake has no floating-point arithmetic, but if(LESS) compares reals:
  # baseline / 10^k is written by lowering the decimal exponent by k.
  if(baseline MATCHES "^([-+0-9.]+)[eE]([-+]?[0-9]+)$")
    math(EXPR exponent "${CMAKE_MATCH_2} - ${FACTOR_EXPONENT}")
    set(threshold "${CMAKE_MATCH_1}e${exponent}")
  else()
    set(threshold "${baseline}e-${FACTOR_EXPONENT}")
  endif()
  string(REPLACE "," ";" metric_keys "${METRIC}")
  foreach(metric_key IN LISTS metric_keys)
    json_member(metric "${metric_key}")
    if(NOT metric LESS threshold)
      message(FATAL_ERROR "${EXAMPLE}: ${metric_key} = ${metric} is not below ${BASELINE} / "
                          "10^${FACTOR_EXPONENT} = ${threshold}\n${output}")
    endif()
    message(STATUS "${EXAMPLE}: ${metric_key} = ${metric} < ${BASELINE} / "
                   "10^${FACTOR_EXPONENT} = ${threshold}")
  endforeach()

else()
  message(FATAL_ERROR "check_training.cmake: unknown MODE '${MODE}' (reproducible or target)")
endif()
