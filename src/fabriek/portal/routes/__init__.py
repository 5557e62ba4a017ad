"""The portal's pages, one module per area; ROUTERS is what the application mounts."""

from fabriek.portal.routes import auth, home

ROUTERS = [home.router, auth.router]
