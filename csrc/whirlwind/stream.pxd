# Compiled buffered stream declarations.
