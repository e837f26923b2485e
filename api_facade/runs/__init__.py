"""The run machinery: jobs, slots, plans, pytest subprocesses and their event streams (map: ``api_facade``)."""
