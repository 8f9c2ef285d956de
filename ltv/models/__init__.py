"""ltv.models: the LTV model interface (``base``), the registry of models by name, and the models."""
from ltv.models import registry as _registry  # noqa: F401  (installs the by-name loader of LTVModel.load)
