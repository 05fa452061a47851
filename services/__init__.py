"""tidal's services: one folder per deployable App (``services/<name>/app.py``), run together by `tidal dev`."""
