"""The web layer: the only code that knows about ASGI, Starlette and uvicorn."""
