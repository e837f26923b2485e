"""The API facade: a FastAPI service that runs pytest sessions and streams their events.

``api_facade.app.create_app(settings)`` builds the app; ``ipfs-accel serve``
runs it; ``api_facade.client`` talks to it.  Nothing imports this package but
the CLI's ``serve`` (the plugin never does).
"""
