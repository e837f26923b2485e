"""The facade's web layer: the FastAPI app, auth, errors, schemas, routers and WebSockets (map: ``api_facade``)."""
