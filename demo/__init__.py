"""A small whirlwind application: notes with a login, a JSON API, static
files and a classic ``@asynchronous`` handler. Run ``python -m demo``."""
