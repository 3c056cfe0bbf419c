"""Imports every capability's tables so that ``Base.metadata`` is complete (Alembic, tests, demo)."""

from barq import audit
from barq.auth import models as auth_models
from barq.billing import models as billing_models
from barq.connections import models as connections_models
from barq.contractors import models as contractors_models
from barq.customers import models as customers_models
from barq.db import Base
from barq.ledger import models as ledger_models
from barq.metering import models as metering_models
from barq.network import models as network_models
from barq.payments import models as payments_models
from barq.workorders import models as workorders_models

metadata = Base.metadata

__all__ = [
    "audit",
    "auth_models",
    "billing_models",
    "connections_models",
    "contractors_models",
    "customers_models",
    "ledger_models",
    "metadata",
    "metering_models",
    "network_models",
    "payments_models",
    "workorders_models",
]
