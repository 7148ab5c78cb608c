# Compiled stream implementation.
