"""The API's routes, one module per resource: ``submissions``, ``verdicts`` (dashboards),
``reviews`` (reviewer decisions), ``rules`` (rule editors) and ``operations`` (health,
readiness, metrics). The HTML pages for reviewers are ``worker.api.review_pages``."""
