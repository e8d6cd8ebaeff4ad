"""The application layer: what the services do, with no transport (no grpc import here).

Servicers translate messages and call this package; this package calls the evaluation core and storage. It
owns what used to be decided inside servicers: resolving a selection (:mod:`.selection`), the datasets
(:mod:`.datasets`), validating a submission and scoring one (task, set) part with the hand-off between them
(:mod:`.dataplane`), and the gateway's jobs and publishing (:mod:`.jobs`). Keeping it transport-free lets the
embedded stack, the servers and unit tests run the same code, and lets a new transport (or none) reuse it.
"""
