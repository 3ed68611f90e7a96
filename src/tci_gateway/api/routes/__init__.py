"""The API's routers, one module per resource; :func:`tci_gateway.api.app.create_app`
includes every router listed in ``ROUTERS``."""
