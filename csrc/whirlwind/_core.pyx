# cython: language_level=3, embedsignature=True, embedsignature.format=python
"""whirlwind._core: the compiled pollers, loop core and buffered stream.

One extension module so that the parts can call each other's cdef methods.
"""

READ = WW_READ
WRITE = WW_WRITE
ERROR = WW_ERROR

include "poller.pyx"
include "loop.pyx"
include "stream.pyx"
include "httphead.pyx"
include "escape.pyx"
