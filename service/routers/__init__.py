"""HTTP endpoints, one module per resource."""

from service.routers import analyze, classify, health, metrics, models, preview, segment, web

__all__ = ["analyze", "classify", "health", "metrics", "models", "preview", "segment", "web"]
