"""The whirlwind demo application: a small notes app.

It shows the parts of `whirlwind.web` most applications use: templates with
inheritance, a login kept in a signed cookie and guarded by XSRF tokens, a
JSON API, versioned static files and a classic ``@web.asynchronous``
handler. Run it from the repository root with ``python -m demo`` (see
``python -m demo --help``); `demo.app.make_app` builds the `Application`.
"""

from __future__ import annotations
