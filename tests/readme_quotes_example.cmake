# The README quotes examples/minimal_training.cpp whole: fail when they drift apart.
file(READ ${README} readme)
file(READ ${EXAMPLE} example)
string(STRIP "${example}" example)
string(FIND "${readme}" "${example}" position)
if(position EQUAL -1)
  message(FATAL_ERROR "${README} does not quote ${EXAMPLE} as it is now; copy the file into the README")
endif()
