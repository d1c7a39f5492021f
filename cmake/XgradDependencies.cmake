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

macro(xgrad_find_library_dependencies)
  # OpenBLAS is the BLAS behind xtensor-blas and behind xgrad's own cblas calls.
  set(BLA_VENDOR OpenBLAS)
  xgrad_require(BLAS libopenblas-dev)
  xgrad_require(LAPACK libopenblas-dev)
  xgrad_require(xtl xtl-dev)
  xgrad_require(xsimd libxsimd-dev)
  xgrad_require(xtensor xtensor-dev)
  xgrad_require(xtensor-blas libxtensor-blas-dev)
  # Through pkg-config: Debian 12's libzip CMake config needs the zipcmp,
  # zipmerge and ziptool programs, which libzip-dev does not install.
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(LIBZIP QUIET IMPORTED_TARGET GLOBAL libzip)
  endif()
  if(NOT LIBZIP_FOUND)
    message(FATAL_ERROR "xgrad needs libzip (found through pkg-config), which was not found. "
      "On Debian: apt-get install libzip-dev pkg-config")
  endif()
endmacro()
