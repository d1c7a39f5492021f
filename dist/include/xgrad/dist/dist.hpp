#pragma once
// Everything of xgrad::dist (data-parallel training over MPI), in one include.
// Not part of xgrad/xgrad.hpp: it needs the xgrad::dist target and MPI.

#include "xgrad/dist/collectives.hpp"
#include "xgrad/dist/data_parallel.hpp"
#include "xgrad/dist/distributed_optimizer.hpp"
#include "xgrad/dist/environment.hpp"
