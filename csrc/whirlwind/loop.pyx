# Loop core implementation.
