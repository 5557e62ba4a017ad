"""The portal's pages, one module per area; ROUTERS is what the application mounts."""

from fabriek.portal.routes import auth, home, officer, operator, reviews

ROUTERS = [home.router, auth.router, reviews.router, officer.router, operator.router]
