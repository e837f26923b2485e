"""The API facade: a FastAPI service that runs pytest sessions and streams their events.

``ipfs-accel serve`` (:mod:`.command`) builds the app with
:func:`api_facade.web.app.create_app` and runs it on uvicorn; :mod:`.client`
talks to it.  The facade uses the plugin only through a subprocess command
line, the event stream and the DuckDB file; nothing in the plugin package
imports it (the CLI finds ``serve`` by its module path).

Where a run starts: ``POST /api/test/run`` (:mod:`.web.routers.test`,
``start_run``) -> :meth:`.runs.manager.RunManager.submit` (queued, waits for a
slot) -> :func:`.runs.plans.test_plan` -> :meth:`.runs.context.RunContext.pytest`
(argv from :mod:`.runs.pytest_cmd`; events from the pipe through
:mod:`.runs.eventlines` into :mod:`.runs.hub`) -> ``/api/test/ws/{run_id}``
(:mod:`.web.ws`).

Modules, one job each:

- :mod:`.command`: ``ipfs-accel serve``: flags, checks, the token banner, uvicorn.
- :mod:`.settings`: ``Settings``: limits, paths and tokens (from the environment).
- :mod:`.data`: the store as the service uses it: ``facade_runs``, short-held
  connections, the spool sweeper, and every query the routes ask.
- :mod:`.client`: a Python client (sync and asyncio) that resumes event streams.
- :mod:`.testing`: a real service in a subprocess and a sample suite (tests, benchmarks).

The web layer, :mod:`.web` (HTTP in, JSON out; no subprocesses):

- :mod:`.web.app`: ``create_app(settings)``: lifespan, routers, the dashboard page.
- :mod:`.web.deps`: dependencies the routes are given (settings, manager, db, hub).
- :mod:`.web.auth`: bearer tokens, scopes, WebSocket tokens and origins.
- :mod:`.web.errors`: one-line 4xx messages, body limits, the 503 of a busy store.
- :mod:`.web.requests`: request bodies and their checks (the OpenAPI contract).
- :mod:`.web.schemas`: response bodies and the status vocabulary.
- :mod:`.web.views`: jobs -> status and summary bodies.
- :mod:`.web.ws`: admitting a WebSocket and streaming a run's events with ``seq``.
- :mod:`.web.logredact`: masks tokens in the server's logs.
- :mod:`.web.routers`: one router per area: ``test``, ``benchmark``, ``generator``,
  ``workflow``, ``common`` (starting, cancelling, streaming for all of them) and
  ``run_routes`` (the ``run``/``status``/``results``/``cancel``/``ws`` routes the three run areas share).

The run machinery, :mod:`.runs` (no HTTP):

- :mod:`.runs.manager`: ``RunManager``: the job lifecycle (submit, run a plan, finish,
  cancel, recover after a restart).
- :mod:`.runs.slots`: how many jobs run at once; the FIFO queue of the rest.
- :mod:`.runs.context`: ``RunContext``: a job's named steps and its pytest subprocess steps.
- :mod:`.runs.plans`: what each kind of job does, step by step.
- :mod:`.runs.jobs`: ``Job`` records, ids, the status vocabulary, progress from events.
- :mod:`.runs.pytest_cmd`: the pytest command line and environment; target checks.
- :mod:`.runs.eventlines`: untrusted event-pipe bytes -> bounded JSON events.
- :mod:`.runs.hub`: numbers each run's events (``seq``), keeps them, fans them out.
- :mod:`.runs.procs`: ending and reaping process groups.
- :mod:`.runs.module_writer`: writes generated test modules (through ``generators``).
"""
