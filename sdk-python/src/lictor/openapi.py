"""The generated client of `openapi/lictor.json`, under a public name.

    from lictor.openapi import api, models
    api.tenants.tenant_create.sync(client=gateway.api, body=models.TenantCreate(id="acme", name="Acme"))

`api.<tag>.<operation_id>` has `sync`, `sync_detailed`, `asyncio` and
`asyncio_detailed` for every operation; `models` every schema. The code
lives in `lictor._generated` and is regenerated, never edited, by
`cargo xtask sdk`. Through `gateway.api` its calls share the gateway's
retries and raise the typed errors of `lictor.errors`.
"""

import importlib
import pkgutil

from ._generated import api, errors, models, types
from ._generated.client import AuthenticatedClient, Client

# Import every operation module, so `api.tenants.tenant_create` resolves
# without importing each one by hand.
for _info in pkgutil.walk_packages(api.__path__, api.__name__ + "."):
    importlib.import_module(_info.name)

__all__ = ["AuthenticatedClient", "Client", "api", "errors", "models", "types"]
