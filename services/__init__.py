"""tidal's services: one folder per deployable App (``services/<name>/app.py``).

`tidal dev` runs them all together.
"""
