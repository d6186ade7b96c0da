"""HTTP endpoints, one module per resource."""

from service.routers import analyze, classify, health, metrics, models, oip, preview, segment, volume, web

__all__ = ["analyze", "classify", "health", "metrics", "models", "oip", "preview", "segment", "volume", "web"]
