"""Build the one compiled extension, ``whirlwind._core``, from ``csrc/``.

Environment switches:
  WHIRLWIND_DEBUG=1         debug build (line tracing, assertions, -O0 -g)
  WHIRLWIND_OPT_CFLAGS=...  replace the default optimisation flags
"""

import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

debug = os.environ.get("WHIRLWIND_DEBUG") == "1"
macros: list[tuple[str, str | None]] = []
directives = {
    "language_level": "3",
    "embedsignature": True,
    "embedsignature.format": "python",
    # Not freethreading_compatible yet: call_soon_threadsafe and the stream
    # rely on the GIL, so a free-threaded build re-enables it on import.
}
if sys.platform == "win32":
    cflags = ["/O2"]
    libraries = ["ws2_32"]
else:
    cflags = ["-O2", "-g0", "-Wno-unused-function"]
    libraries = []
if "WHIRLWIND_OPT_CFLAGS" in os.environ:
    cflags = os.environ["WHIRLWIND_OPT_CFLAGS"].split()
if debug:
    directives.update({"linetrace": True, "boundscheck": True})
    macros += [("CYTHON_TRACE", "1"), ("WHIRLWIND_DEBUG", "1")]
    if sys.platform != "win32":
        cflags = ["-O0", "-g"]

ext = Extension(
    "whirlwind._core",
    ["csrc/whirlwind/_core.pyx"],
    include_dirs=["csrc/include"],
    define_macros=macros,
    extra_compile_args=cflags,
    libraries=libraries,
)

setup(
    ext_modules=cythonize(
        [ext],
        include_path=["csrc"],
        compiler_directives=directives,
        gdb_debug=False,
    )
)
