"""The HTTP API (FastAPI): ``create_app(settings)``; served by ``adreview serve``."""

from worker.api.app import ROUTE_ROLES, app_from_env, create_app
from worker.api.webhooks import deliver_webhook, sign, verify_signature

__all__ = ["ROUTE_ROLES", "app_from_env", "create_app", "deliver_webhook", "sign",
           "verify_signature"]
