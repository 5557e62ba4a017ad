"""Import every capability's tables so that metadata (and Alembic) sees them all."""

from fabriek.access import models as access_models  # noqa: F401
from fabriek.audit import models as audit_models  # noqa: F401
from fabriek.audit import service as audit_service  # noqa: F401  (registers the chain hook)
from fabriek.compliance import models as compliance_models  # noqa: F401
from fabriek.compute import models as compute_models  # noqa: F401
from fabriek.datalab import models as datalab_models  # noqa: F401
from fabriek.db import idempotency, installation  # noqa: F401
from fabriek.db.base import Base
from fabriek.federation import ledger as federation_ledger  # noqa: F401
from fabriek.federation import models as federation_models  # noqa: F401
from fabriek.identity import models as identity_models  # noqa: F401

metadata = Base.metadata
