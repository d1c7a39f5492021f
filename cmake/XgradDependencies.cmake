# Finds each dependency with find_package and, when one is missing, stops with
# the Debian package that provides it. Shared by the build and by the installed
# package config, so a user's project gets the same clear message.

macro(xgrad_require package debian_package)
  find_package(${package} ${ARGN} QUIET)
  if(NOT ${package}_FOUND)
    message(FATAL_ERROR
      "xgrad needs ${package}, which was not found. "
      "On Debian: apt-get install ${debian_package}")
  endif()
endmacro()

macro(xgrad_require_pkg_config prefix module debian_package)
  if(PkgConfig_FOUND)
    pkg_check_modules(${prefix} QUIET IMPORTED_TARGET GLOBAL ${module})
  endif()
  if(NOT ${prefix}_FOUND)
    message(FATAL_ERROR "xgrad needs ${module} (found through pkg-config), which was not found. "
      "On Debian: apt-get install ${debian_package} pkg-config")
  endif()
endmacro()

macro(xgrad_find_library_dependencies)
  # OpenBLAS is the BLAS behind xtensor-blas and behind xgrad's own cblas calls.
  set(BLA_VENDOR OpenBLAS)
  xgrad_require(BLAS libopenblas-dev)
  xgrad_require(LAPACK libopenblas-dev)
  xgrad_require(xtl xtl-dev)
  xgrad_require(xsimd libxsimd-dev)
  xgrad_require(xtensor xtensor-dev)
  xgrad_require(xtensor-blas libxtensor-blas-dev)
  # libzip and HDF5 through pkg-config: Debian 12's libzip CMake config needs
  # the zipcmp, zipmerge and ziptool programs, which libzip-dev does not
  # install, and FindHDF5 needs the C language enabled in every project that
  # finds xgrad.
  find_package(PkgConfig QUIET)
  xgrad_require_pkg_config(LIBZIP libzip libzip-dev)
  xgrad_require_pkg_config(HDF5_C hdf5 libhdf5-dev)
  # LIBXSMM (optional, x86-64): the engine of the small matrix products, when
  # xgrad is built with it (XGRAD_USE_LIBXSMM; see xgrad_default_libxsmm).
  if(XGRAD_USE_LIBXSMM)
    xgrad_require_pkg_config(LIBXSMM libxsmm libxsmm-dev)
  endif()
endmacro()

# MPI is optional: xgrad::dist (data-parallel training) is built when it is
# found; without it the core library builds alone, with a message saying what
# to install. Only MPI's C API is used (MPI_CXX_SKIP_MPICXX: not the
# deprecated C++ bindings), through the CXX component, so that no project
# needs the C language enabled. Sets XGRAD_HAVE_MPI.
macro(xgrad_find_mpi)
  set(MPI_CXX_SKIP_MPICXX ON)
  find_package(MPI COMPONENTS CXX QUIET)
  if(MPI_CXX_FOUND)
    set(XGRAD_HAVE_MPI ON)
  else()
    set(XGRAD_HAVE_MPI OFF)
  endif()
endmacro()

# XGRAD_USE_LIBXSMM's default: ON where the compiler targets x86-64 (LIBXSMM
# generates x86 code) and pkg-config finds libxsmm, else OFF with a note of
# what is missing. Asked for explicitly (-DXGRAD_USE_LIBXSMM=ON) and not
# found, the build stops naming the Debian package.
function(xgrad_default_libxsmm result)
  set(use OFF)
  if(NOT CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
    message(STATUS "xgrad: not x86-64 (${CMAKE_SYSTEM_PROCESSOR}): every product runs on OpenBLAS")
  else()
    find_package(PkgConfig QUIET)
    if(PkgConfig_FOUND)
      pkg_check_modules(XGRAD_LIBXSMM_PROBE QUIET libxsmm)
    endif()
    if(XGRAD_LIBXSMM_PROBE_FOUND)
      set(use ON)
    else()
      message(STATUS "xgrad: LIBXSMM not found, small products run on OpenBLAS "
        "(On Debian: apt-get install libxsmm-dev)")
    endif()
  endif()
  set(${result} ${use} PARENT_SCOPE)
endfunction()
