# The header of whirlwind._core: fields and cdef signatures of every part.
from libc.stdint cimport uint32_t, uint64_t

from whirlwind._sys cimport *

include "poller.pxd"
include "loop.pxd"
include "stream.pxd"
include "httphead.pxd"
