"""Asynchronous clone jobs: where they are stored, where their audio goes, who runs them.

- `stores`: the `JobStore` and `ResultStore` protocols every implementation follows (same method meaning)
- `sqlite_store`: the default durable queue in DATA_DIR (leases: a dead worker's job is claimed again)
- `redis_store`: the Redis record + rq queue (REDIS_URL / JOB_QUEUE=redis)
- `results`: finished audio on disk, in Redis or in S3
- `runner`: a job's work (embed, speak, store, webhook) and the SQLite worker loop
- `rq_tasks`: the functions rq workers run (they build their pipeline through `orchestrator_svc.wiring`)
- `webhooks`: signed outcome notifications
"""
