"""Process: the running service and its console script.

Owns the composition root (`app`: the FastStream application), the per-process context
(`context`: clients connected, parts wired, the ordered shutdown), the console script (`cli`) and
its commands (`serving`, `settings`, `dev`), the stop signals (`signals`), HTTP probes, metrics
and the AsyncAPI page (`http`, `metrics`, `asyncapi`), and the log format (`logs`). It may import
every other part of the service, and nothing imports it but `__main__`; `dev` is the one module
of the service that imports `devstack`.
"""
