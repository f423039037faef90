"""The page (``bulk-ident ui``): every step of the tool one browser tab away, on 127.0.0.1 only.

A thin face over the library, like the command line: ``workspace.py`` holds one launch's state
and calls the jobs, ``runner.py`` runs a sync in a worker thread, ``app.py`` is the Starlette app
and its templates, ``server.py`` serves it with uvicorn.
"""
