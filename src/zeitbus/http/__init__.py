"""The HTTP adapter: JSON API, changes feed and tokens over starlette (docs/http-api.md)."""
