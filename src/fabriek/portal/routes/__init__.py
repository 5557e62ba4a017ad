"""The portal's pages, one module per area; ROUTERS is what the application mounts."""

from fabriek.portal.routes import auth, home, jobs, organisations, proposals, wizard

ROUTERS = [home.router, auth.router, organisations.router, wizard.router, proposals.router,
           jobs.router]
