"""The HTTP API: create_app() and the routes, a thin layer over threadwatch.store."""
