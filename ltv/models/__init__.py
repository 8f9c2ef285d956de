"""ltv.models: the LTV model interface (``base``), the registry of models by name, and the models.

Importing the package registers every built-in model: the registry imports the model modules,
and the diagnostic ``shuffled`` model (which looks its inner model up by name) registers itself.
"""
from ltv.models import diagnostics as _diagnostics  # noqa: F401  (registers ``shuffled``)
from ltv.models import registry as _registry  # noqa: F401  (installs the by-name loader of LTVModel.load)
