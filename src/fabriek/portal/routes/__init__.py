"""The portal's pages, one module per area; ROUTERS is what the application mounts."""

from fabriek.portal.routes import (
    auth,
    dashboard,
    datalab,
    home,
    jobs,
    officer,
    operator,
    organisations,
    proposals,
    reviews,
    wizard,
)

ROUTERS = [home.router, auth.router, dashboard.router, organisations.router, wizard.router,
           proposals.router, jobs.router, reviews.router, officer.router, operator.router,
           datalab.router]
