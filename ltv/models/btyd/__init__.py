"""BTYD models: ``math`` (closed forms), ``optimum`` + ``fit`` (maximum likelihood, converged to a
stated tolerance), ``model`` (the registered ``bgnbd_gg`` and ``pareto_gg``)."""
from ltv.models.btyd.fit import BTYDFitError, FitResult
from ltv.models.btyd.model import BGNBDGammaGamma, ParetoNBDGammaGamma, customer_history

__all__ = ["BGNBDGammaGamma", "BTYDFitError", "FitResult", "ParetoNBDGammaGamma", "customer_history"]
