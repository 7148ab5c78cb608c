# Poller implementation.
