"""Type stub for the compiled extension whirlwind._core (hand-written)."""

READ: int
WRITE: int
ERROR: int
