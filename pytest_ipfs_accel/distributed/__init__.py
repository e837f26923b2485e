"""Shard a pytest run across a Ray cluster, placed by hardware, merged into one run.

``plan`` collects and splits, ``worker`` runs one shard on its node, ``driver``
submits, retries and merges, ``node`` starts or joins Ray with this node's
backends, ``select`` is the pytest plugin both ends use to agree on node ids.
No module here imports Ray at its top (ray is an optional extra): the driver
is handed the connected ``ray`` module, the worker asks for it only to name its node.
"""
