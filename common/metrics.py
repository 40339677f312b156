"""Prometheus metrics shared by all services (one registry per process)."""
from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("voxclone_requests_total", "HTTP requests", ["service", "route", "method", "status"])
LATENCY = Histogram("voxclone_request_seconds", "HTTP request latency", ["service", "route"],
                    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
STAGE_LATENCY = Histogram("voxclone_stage_seconds", "Time spent in a pipeline stage", ["service", "stage"],
                          buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
MODEL_LOAD = Gauge("voxclone_model_load_seconds", "Model load time at start-up", ["service", "model"])
IN_FLIGHT = Gauge("voxclone_in_flight_requests", "Requests being served", ["service"])
QUEUE_DEPTH = Gauge("voxclone_queue_depth", "Jobs waiting in a queue", ["service", "queue"])
WORK_STOPPED = Counter("voxclone_work_stopped_total", "Requests whose model work was abandoned mid-way",
                       ["service", "reason"])
BATCH_ITEMS = Histogram("voxclone_batch_items", "Requests served by one micro-batched model call", ["service"],
                        buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32))
ADMISSION = Gauge("voxclone_admission_requests", "Requests holding (running) or waiting for (waiting) a slot for "
                  "model work (MAX_CONCURRENT, MAX_QUEUED)", ["service", "state"])
