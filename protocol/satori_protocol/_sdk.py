"""Which bittensor generation is installed, probed once by the names it exports.

bittensor 10.x has the Axon/Dendrite/Synapse stack and no `http_auth`; 11.x removed that stack (its
module `__getattr__` raises AttributeError with a migration hint for `Synapse`, `Dendrite`, ...) and
signs plain HTTP requests with `bittensor.http_auth` ("btauth/1"). Probing names rather than parsing
`__version__` keeps a release candidate or a source checkout on the right path.
"""

from __future__ import annotations

import bittensor as bt

__all__ = ["HAS_HTTP_AUTH", "HAS_SYNAPSE", "SDK_VERSION"]

HAS_SYNAPSE: bool = hasattr(bt, "Synapse")
"""bittensor 10.x: `bt.Synapse`, `bt.Dendrite` and `bt.AxonInfo` exist."""

HAS_HTTP_AUTH: bool = hasattr(bt, "http_auth")
"""bittensor 11.x: `bt.http_auth.sign` makes btauth/1 headers."""

SDK_VERSION: str = str(getattr(bt, "__version__", "unknown"))
