"""adreview: ad-image compliance review.

This package holds the application shell (settings, errors, CLI, and later the
pipeline, persistence and Celery tasks). It stays import-light: importing
``worker`` pulls in neither Celery nor an OCR backend.
"""

__version__ = "0.1.0"
