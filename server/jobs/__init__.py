"""The life of a grading job, in one package: the ledger and its rows (`ledger`, `models`), the runner that grades one
claimed job under a renewed lease (`runner`), the dispatchers (`dispatch`), the embedded executor (`executor`), and
the Celery publisher and worker of the multi-machine mode (`celery_publisher`, `celery_worker`)."""
